// Pinned-algorithm JWT verifier on OpenSSL 3 EVP (see jwt.h for the contract).
//
// Rules, in order of application by verify():
//  1. size cap (8 KiB), exactly three dot-separated parts, strict base64url
//     (no padding, no stray characters, unused trailing bits zero);
//  2. header is a JSON object without duplicate keys; "alg" must be one of the
//     configured algorithms; none and HS* are never accepted (and refused in
//     the configuration too); "crit" is refused (we implement no extension);
//     embedded keys (jwk, jku, x5u, x5c) are ignored: keys come from the JWKS only;
//  3. "kid" selects the key when present (unknown kid = refused); without a
//     kid every JWKS key usable with the algorithm is tried;
//  4. signature checked with EVP_DigestVerify (ES256: raw r||s -> DER);
//  5. claims: exp required, nbf optional, both with kLeeway of clock skew;
//     iss must equal the configured issuer; aud (string or array) must contain
//     the configured audience; sub must be a non-empty string; roles, when
//     present, must be an array of strings.
#include "security/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

namespace tresor::security {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxTokenBytes = 8192;
constexpr std::string_view kUnknownKeyId = "JWT refused: unknown key id";
constexpr std::uintmax_t kMaxJwksBytes = 1 << 20;
constexpr std::size_t kMaxJwksKeys = 64;
constexpr std::size_t kMaxJsonDepth = 8;
constexpr std::size_t kMaxSubjectBytes = 256;
constexpr std::size_t kMaxRoles = 64;
constexpr int kMinRsaBits = 2048;
constexpr auto kLeeway = std::chrono::seconds{30};
// Upper bound for exp/nbf: far future, but well inside system_clock's range.
constexpr double kMaxEpochSeconds = 8.0e9;

enum class Alg { rs256, es256, eddsa };

std::optional<Alg> parse_alg(std::string_view s) {
  if (s == "RS256") return Alg::rs256;
  if (s == "ES256") return Alg::es256;
  if (s == "EdDSA") return Alg::eddsa;
  return std::nullopt;
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};

// Strict base64url (RFC 7515 section 2): URL-safe alphabet, no padding, no
// whitespace, and the unused low bits of the last character must be zero so
// that every byte string has exactly one accepted encoding.
std::optional<std::string> b64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

// Parses a JSON object, refusing duplicate keys (nlohmann silently keeps the
// last one, which lets two parsers disagree on {"alg":"RS256","alg":"none"})
// and nesting deeper than kMaxJsonDepth. Never throws.
std::optional<json> parse_object(std::string_view text) {
  std::vector<std::set<std::string>> seen;
  bool bad = false;
  auto cb = [&](int depth, json::parse_event_t ev, json& parsed) -> bool {
    if (static_cast<std::size_t>(depth) > kMaxJsonDepth) bad = true;
    switch (ev) {
      case json::parse_event_t::object_start: seen.emplace_back(); break;
      case json::parse_event_t::object_end:
        if (!seen.empty()) seen.pop_back();
        break;
      case json::parse_event_t::key:
        if (!seen.empty() && parsed.is_string() && !seen.back().insert(parsed.get<std::string>()).second) bad = true;
        break;
      default: break;
    }
    return true;
  };
  json j = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  if (bad || j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

std::optional<std::string> get_string(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// A NumericDate (seconds since the epoch) within [0, kMaxEpochSeconds].
std::optional<std::chrono::system_clock::time_point> get_date(const json& v) {
  double secs = 0;
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(kMaxEpochSeconds)) return std::nullopt;
    secs = static_cast<double>(u);
  } else if (v.is_number_integer()) {
    auto i = v.get<std::int64_t>();
    if (i < 0 || i > static_cast<std::int64_t>(kMaxEpochSeconds)) return std::nullopt;
    secs = static_cast<double>(i);
  } else if (v.is_number_float()) {
    secs = v.get<double>();
    if (!(secs >= 0 && secs <= kMaxEpochSeconds)) return std::nullopt;  // also catches NaN
  } else {
    return std::nullopt;
  }
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(secs)));
}

struct Key {
  std::string kid;
  std::optional<Alg> alg;  // the JWKS "alg" member, if given: the key is then used for that alg only
  Alg kind = Alg::rs256;   // the algorithm family the key material supports
  PkeyPtr pkey;
};

bool public_check(EVP_PKEY* pkey) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  return ctx && EVP_PKEY_public_check(ctx.get()) == 1;
}

Result<PkeyPtr> pkey_from_params(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return fail(Errc::invalid_argument, std::string("invalid ") + type + " key");
  }
  PkeyPtr pkey(raw);
  if (!public_check(pkey.get())) return fail(Errc::invalid_argument, std::string("invalid ") + type + " key");
  return pkey;
}

Result<PkeyPtr> rsa_key(const json& jwk) {
  auto n = get_string(jwk, "n");
  auto e = get_string(jwk, "e");
  if (!n || !e) return fail(Errc::invalid_argument, "RSA key without n/e");
  auto nb = b64url_decode(*n), eb = b64url_decode(*e);
  if (!nb || !eb || nb->empty() || eb->empty() || nb->size() > 1024 || eb->size() > 8) {
    return fail(Errc::invalid_argument, "bad RSA n/e");
  }
  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(nb->data()), static_cast<int>(nb->size()), nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(eb->data()), static_cast<int>(eb->size()), nullptr));
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return fail(Errc::internal, "out of memory");
  }
  auto pkey = pkey_from_params("RSA", bld.get());
  if (!pkey) return pkey;
  if (EVP_PKEY_get_bits(pkey->get()) < kMinRsaBits) return fail(Errc::invalid_argument, "RSA key shorter than 2048 bits");
  return pkey;
}

Result<PkeyPtr> ec_key(const json& jwk) {
  if (get_string(jwk, "crv") != "P-256") return fail(Errc::unsupported, "only EC curve P-256 is supported");
  auto x = get_string(jwk, "x");
  auto y = get_string(jwk, "y");
  if (!x || !y) return fail(Errc::invalid_argument, "EC key without x/y");
  auto xb = b64url_decode(*x), yb = b64url_decode(*y);
  if (!xb || !yb || xb->size() != 32 || yb->size() != 32) return fail(Errc::invalid_argument, "bad EC x/y");
  std::string point = "\x04" + *xb + *yb;
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return fail(Errc::internal, "out of memory");
  }
  return pkey_from_params("EC", bld.get());
}

Result<PkeyPtr> okp_key(const json& jwk) {
  if (get_string(jwk, "crv") != "Ed25519") return fail(Errc::unsupported, "only OKP curve Ed25519 is supported");
  auto x = get_string(jwk, "x");
  auto xb = x ? b64url_decode(*x) : std::nullopt;
  if (!xb || xb->size() != 32) return fail(Errc::invalid_argument, "bad Ed25519 x");
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                           reinterpret_cast<const unsigned char*>(xb->data()), xb->size()));
  if (!pkey) return fail(Errc::invalid_argument, "bad Ed25519 key");
  return pkey;
}

// JWS ES256 signatures are raw r||s (32 bytes each); OpenSSL wants DER.
std::optional<std::vector<unsigned char>> es256_to_der(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(p, 32, nullptr);
  BIGNUM* s = BN_bin2bn(p + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return std::nullopt;
  std::vector<unsigned char> der(static_cast<std::size_t>(len));
  unsigned char* out = der.data();
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) return std::nullopt;
  return der;
}

bool verify_signature(const Key& key, Alg alg, std::string_view signing_input, std::string_view sig) {
  std::vector<unsigned char> der;
  const unsigned char* sig_ptr = reinterpret_cast<const unsigned char*>(sig.data());
  std::size_t sig_len = sig.size();
  const EVP_MD* md = nullptr;
  switch (alg) {
    case Alg::rs256: md = EVP_sha256(); break;
    case Alg::es256: {
      auto d = es256_to_der(sig);
      if (!d) return false;
      der = std::move(*d);
      sig_ptr = der.data();
      sig_len = der.size();
      md = EVP_sha256();
      break;
    }
    case Alg::eddsa: md = nullptr; break;  // Ed25519 is one-shot, no separate digest
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.pkey.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), sig_ptr, sig_len, reinterpret_cast<const unsigned char*>(signing_input.data()),
                          signing_input.size()) == 1;
}

class PinnedJwtVerifier final : public JwtVerifier {
public:
  PinnedJwtVerifier(std::vector<Key> keys, std::string issuer, std::string audience, std::vector<Alg> algs)
      : keys_(std::move(keys)), issuer_(std::move(issuer)), audience_(std::move(audience)), algs_(std::move(algs)) {}

  Result<JwtClaims> verify(std::string_view token, std::chrono::system_clock::time_point now) const override {
    auto refuse = [](std::string why) { return fail(Errc::unauthenticated, "JWT refused: " + std::move(why)); };
    if (token.empty()) return refuse("empty token");
    if (token.size() > kMaxTokenBytes) return refuse("token larger than 8 KiB");
    const auto dot1 = token.find('.');
    if (dot1 == std::string_view::npos) return refuse("not a compact JWS");
    const auto dot2 = token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
      return refuse("not a compact JWS");
    }
    const std::string_view h64 = token.substr(0, dot1), p64 = token.substr(dot1 + 1, dot2 - dot1 - 1),
                           s64 = token.substr(dot2 + 1);
    auto header_text = b64url_decode(h64);
    auto payload_text = b64url_decode(p64);
    auto sig = b64url_decode(s64);
    if (!header_text || !payload_text || !sig) return refuse("bad base64url");
    if (sig->empty()) return refuse("missing signature");

    auto header = parse_object(*header_text);
    if (!header) return refuse("bad header JSON");
    auto alg_name = get_string(*header, "alg");
    if (!alg_name) return refuse("header without alg");
    auto alg = parse_alg(*alg_name);
    if (!alg || std::find(algs_.begin(), algs_.end(), *alg) == algs_.end()) return refuse("algorithm not allowed");
    if (header->contains("crit")) return refuse("critical header extensions not supported");
    std::optional<std::string> kid;
    if (header->contains("kid")) {
      kid = get_string(*header, "kid");
      if (!kid) return refuse("bad kid");
    }

    const std::string_view signing_input = token.substr(0, dot2);
    bool any_key = false, verified = false;
    for (const Key& k : keys_) {
      if (kid && k.kid != *kid) continue;
      if (k.kind != *alg || (k.alg && *k.alg != *alg)) continue;
      any_key = true;
      if (verify_signature(k, *alg, signing_input, *sig)) {
        verified = true;
        break;
      }
    }
    if (!any_key) {
      if (kid) return fail(Errc::unauthenticated, std::string(kUnknownKeyId));
      return refuse("no key for algorithm");
    }
    if (!verified) return refuse("bad signature");

    // Only now, with an authentic payload, look at the claims.
    auto claims = parse_object(*payload_text);
    if (!claims) return refuse("bad payload JSON");
    auto exp_it = claims->find("exp");
    if (exp_it == claims->end()) return refuse("no exp");
    auto exp = get_date(*exp_it);
    if (!exp) return refuse("bad exp");
    if (now >= *exp + kLeeway) return refuse("expired");
    if (auto nbf_it = claims->find("nbf"); nbf_it != claims->end()) {
      auto nbf = get_date(*nbf_it);
      if (!nbf) return refuse("bad nbf");
      if (now + kLeeway < *nbf) return refuse("not yet valid");
    }
    auto iss = get_string(*claims, "iss");
    if (!iss || *iss != issuer_) return refuse("wrong issuer");
    auto aud_it = claims->find("aud");
    bool aud_ok = false;
    if (aud_it != claims->end()) {
      if (aud_it->is_string()) {
        aud_ok = aud_it->get<std::string>() == audience_;
      } else if (aud_it->is_array()) {
        for (const auto& a : *aud_it) {
          if (a.is_string() && a.get<std::string>() == audience_) aud_ok = true;
        }
      }
    }
    if (!aud_ok) return refuse("wrong audience");
    auto sub = get_string(*claims, "sub");
    if (!sub || sub->empty() || sub->size() > kMaxSubjectBytes) return refuse("missing or bad sub");

    JwtClaims out;
    out.subject = std::move(*sub);
    out.issuer = std::move(*iss);
    out.expires = *exp;
    if (auto roles_it = claims->find("roles"); roles_it != claims->end()) {
      if (!roles_it->is_array() || roles_it->size() > kMaxRoles) return refuse("bad roles claim");
      for (const auto& r : *roles_it) {
        if (!r.is_string()) return refuse("bad roles claim");
        out.roles.push_back(r.get<std::string>());
      }
    }
    return out;
  }

private:
  std::vector<Key> keys_;
  std::string issuer_, audience_;
  std::vector<Alg> algs_;
};

// The configuration half of a verifier: issuer, audience, algorithms.
Result<std::vector<Alg>> check_settings(const std::string& issuer, const std::string& audience,
                                        const std::vector<std::string>& algorithms) {
  if (issuer.empty()) return fail(Errc::invalid_argument, "JWT: issuer must be configured");
  if (audience.empty()) return fail(Errc::invalid_argument, "JWT: audience must be configured");
  if (algorithms.empty()) return fail(Errc::invalid_argument, "JWT: no algorithm configured");
  std::vector<Alg> algs;
  for (const auto& a : algorithms) {
    auto parsed = parse_alg(a);
    if (!parsed) {
      return fail(Errc::invalid_argument,
                  "JWT: algorithm '" + a + "' is not allowed (use RS256, ES256 or EdDSA; none and HS* are refused)");
    }
    algs.push_back(*parsed);
  }
  return algs;
}

// The keys of a JWKS document; messages carry no source prefix (callers add it).
Result<std::vector<Key>> parse_jwks(std::string_view text) {
  if (text.size() > kMaxJwksBytes) return fail(Errc::too_large, "larger than 1 MiB");
  auto doc = parse_object(text);
  if (!doc) return fail(Errc::invalid_argument, "not a JSON object (or duplicate keys)");
  auto keys_it = doc->find("keys");
  if (keys_it == doc->end() || !keys_it->is_array()) return fail(Errc::invalid_argument, "no \"keys\" array");
  if (keys_it->size() > kMaxJwksKeys) return fail(Errc::too_large, "too many keys");

  std::vector<Key> keys;
  std::size_t index = 0;
  for (const auto& jwk : *keys_it) {
    const std::string where = "key #" + std::to_string(index++) + ": ";
    if (!jwk.is_object()) return fail(Errc::invalid_argument, where + "not an object");
    // Keys meant for encryption, or without verification among their ops, are skipped.
    if (auto use = get_string(jwk, "use"); use && *use != "sig") continue;
    if (auto ops = jwk.find("key_ops"); ops != jwk.end()) {
      if (!ops->is_array() || std::find(ops->begin(), ops->end(), json("verify")) == ops->end()) continue;
    }
    auto kty = get_string(jwk, "kty");
    if (!kty) return fail(Errc::invalid_argument, where + "no kty");
    Key key;
    if (jwk.contains("kid")) {
      auto kid = get_string(jwk, "kid");
      if (!kid) return fail(Errc::invalid_argument, where + "kid is not a string");
      key.kid = *kid;
    }
    if (jwk.contains("alg")) {
      auto a = get_string(jwk, "alg");
      auto parsed = a ? parse_alg(*a) : std::nullopt;
      if (!parsed) continue;  // a key for an algorithm we never accept (HS256, PS256, ...): unusable
      key.alg = parsed;
    }
    Result<PkeyPtr> pkey = fail(Errc::unsupported, "unsupported kty");
    if (*kty == "RSA") {
      key.kind = Alg::rs256;
      pkey = rsa_key(jwk);
    } else if (*kty == "EC") {
      key.kind = Alg::es256;
      pkey = ec_key(jwk);
    } else if (*kty == "OKP") {
      key.kind = Alg::eddsa;
      pkey = okp_key(jwk);
    } else if (*kty == "oct") {
      continue;  // symmetric keys are never used (no HS*)
    }
    if (!pkey) return fail(pkey.error().code, where + pkey.error().message);
    if (key.alg && *key.alg != key.kind) return fail(Errc::invalid_argument, where + "alg does not match kty");
    key.pkey = std::move(*pkey);
    keys.push_back(std::move(key));
  }
  if (keys.empty()) return fail(Errc::invalid_argument, "no usable signature key");
  return keys;
}

} // namespace

bool JwtVerifier::is_unknown_key_id(const Error& e) noexcept {
  return e.code == Errc::unauthenticated && e.message == kUnknownKeyId;
}

Result<std::unique_ptr<JwtVerifier>> JwtVerifier::from_jwks_json(std::string_view jwks, std::string issuer,
                                                                 std::string audience,
                                                                 std::vector<std::string> algorithms) {
  auto algs = check_settings(issuer, audience, algorithms);
  if (!algs) return std::unexpected(algs.error());
  auto keys = parse_jwks(jwks);
  if (!keys) return fail(keys.error().code, "JWKS: " + keys.error().message);
  return std::unique_ptr<JwtVerifier>(
      std::make_unique<PinnedJwtVerifier>(std::move(*keys), std::move(issuer), std::move(audience), std::move(*algs)));
}

Result<std::unique_ptr<JwtVerifier>> JwtVerifier::from_jwks_file(const std::filesystem::path& jwks, std::string issuer,
                                                                 std::string audience,
                                                                 std::vector<std::string> algorithms) {
  auto algs = check_settings(issuer, audience, algorithms);
  if (!algs) return std::unexpected(algs.error());
  std::error_code ec;
  const auto size = std::filesystem::file_size(jwks, ec);
  if (ec) return fail(Errc::io_error, "JWKS file " + jwks.string() + ": " + ec.message());
  if (size > kMaxJwksBytes) return fail(Errc::too_large, "JWKS file " + jwks.string() + " larger than 1 MiB");
  std::ifstream in(jwks, std::ios::binary);
  if (!in) return fail(Errc::io_error, "JWKS file " + jwks.string() + ": cannot open");
  // Read at most one byte past the cap: the file may have grown since file_size().
  std::string text(kMaxJwksBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxJwksBytes) return fail(Errc::too_large, "JWKS file " + jwks.string() + " larger than 1 MiB");

  auto keys = parse_jwks(text);
  if (!keys) return fail(keys.error().code, "JWKS file " + jwks.string() + ": " + keys.error().message);
  return std::unique_ptr<JwtVerifier>(
      std::make_unique<PinnedJwtVerifier>(std::move(*keys), std::move(issuer), std::move(audience), std::move(*algs)));
}

} // namespace tresor::security
