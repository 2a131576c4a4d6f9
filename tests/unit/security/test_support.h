// Test helpers for the security tests: temp directories, key generation,
// JWKS writing and JWT signing with real OpenSSL keys (the verifier under test
// never sees these helpers).
#pragma once
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/accounts.h"
#include "core/clock.h"

namespace tresor::security::testing {

class TempDir {
public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tresor-sec-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
  std::filesystem::path path_;
};

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

inline std::string b64url(std::string_view data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(data[k]); };
  for (; i + 2 < data.size(); i += 3) {
    unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (data.size() - i == 1) {
    unsigned v = byte(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (data.size() - i == 2) {
    unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

inline Pkey make_rsa_key() { return Pkey(EVP_RSA_gen(2048)); }
inline Pkey make_ec_key() { return Pkey(EVP_EC_gen("P-256")); }
inline Pkey make_ed25519_key() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")); }

inline std::string bn_param(EVP_PKEY* key, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) throw std::runtime_error("no bn param");
  std::string out(pad ? static_cast<std::size_t>(pad) : static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  if (pad) BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), pad);
  else BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

// Public JWK for an RSA, EC P-256 or Ed25519 key.
inline nlohmann::json jwk_of(EVP_PKEY* key, const std::string& kid = "") {
  nlohmann::json j;
  if (EVP_PKEY_is_a(key, "RSA")) {
    j = {{"kty", "RSA"}, {"n", b64url(bn_param(key, OSSL_PKEY_PARAM_RSA_N))},
         {"e", b64url(bn_param(key, OSSL_PKEY_PARAM_RSA_E))}};
  } else if (EVP_PKEY_is_a(key, "EC")) {
    j = {{"kty", "EC"}, {"crv", "P-256"}, {"x", b64url(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
         {"y", b64url(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
  } else {
    unsigned char raw[32];
    std::size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1) throw std::runtime_error("no raw key");
    j = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", b64url(std::string(reinterpret_cast<char*>(raw), len))}};
  }
  if (!kid.empty()) j["kid"] = kid;
  j["use"] = "sig";
  return j;
}

inline void write_jwks(const std::filesystem::path& file, const std::vector<nlohmann::json>& keys) {
  nlohmann::json doc = {{"keys", keys}};
  std::ofstream(file) << doc.dump();
}

inline std::string public_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return out;
}

// Raw JWS signature over `input` for RS256 / ES256 (r||s) / EdDSA.
inline std::string sign_raw(const std::string& alg, EVP_PKEY* key, std::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const EVP_MD* md = alg == "EdDSA" ? nullptr : EVP_sha256();
  std::size_t len = 0;
  std::string sig;
  if (EVP_DigestSignInit(ctx, nullptr, md, nullptr, key) != 1 ||
      EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    throw std::runtime_error("sign init failed");
  }
  sig.resize(len);
  if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    throw std::runtime_error("sign failed");
  }
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (alg == "ES256") {  // DER -> r||s
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    return raw;
  }
  return sig;
}

// header.payload.signature with the given header and claims (JSON text as given).
inline std::string make_raw_token(const std::string& alg, EVP_PKEY* key, const std::string& header_json,
                                  const std::string& payload_json) {
  std::string input = b64url(header_json) + "." + b64url(payload_json);
  return input + "." + b64url(sign_raw(alg, key, input));
}

inline std::string make_token(const std::string& alg, EVP_PKEY* key, const nlohmann::json& claims,
                              const std::string& kid = "") {
  nlohmann::json header = {{"alg", alg}, {"typ", "JWT"}};
  if (!kid.empty()) header["kid"] = kid;
  return make_raw_token(alg, key, header.dump(), claims.dump());
}

inline std::string hs256_token(const std::string& secret, const nlohmann::json& claims) {
  nlohmann::json header = {{"alg", "HS256"}, {"typ", "JWT"}};
  std::string input = b64url(header.dump()) + "." + b64url(claims.dump());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &mac_len);
  return input + "." + b64url(std::string(reinterpret_cast<char*>(mac), mac_len));
}

// In-memory AccountRepository (peers, users, API tokens). Counts peer
// lookups; with fail_lookups every find_* fails like an unavailable database.
class MemoryAccounts final : public AccountRepository {
public:
  Result<std::optional<Peer>> find_peer(const std::string& ae) override {
    std::lock_guard lock(mutex_);
    ++peer_lookups;
    if (fail_lookups) return fail(Errc::io_error, "database unavailable");
    auto it = peers.find(ae);
    if (it == peers.end()) return std::optional<Peer>{};
    return std::optional<Peer>{it->second};
  }
  Result<std::vector<Peer>> list_peers() override {
    std::lock_guard lock(mutex_);
    std::vector<Peer> out;
    for (const auto& [k, p] : peers) out.push_back(p);
    return out;
  }
  Status put_peer(const Peer& p) override {
    std::lock_guard lock(mutex_);
    peers[p.ae_title] = p;
    return {};
  }
  Result<bool> remove_peer(const std::string& ae) override {
    std::lock_guard lock(mutex_);
    return peers.erase(ae) > 0;
  }
  Result<std::optional<User>> find_user(const std::string& name) override {
    std::lock_guard lock(mutex_);
    if (fail_lookups) return fail(Errc::io_error, "database unavailable");
    auto it = users.find(name);
    if (it == users.end()) return std::optional<User>{};
    return std::optional<User>{it->second};
  }
  Result<std::vector<User>> list_users() override {
    std::lock_guard lock(mutex_);
    std::vector<User> out;
    for (const auto& [k, u] : users) out.push_back(u);
    return out;
  }
  Status put_user(const User& u) override {
    std::lock_guard lock(mutex_);
    users[u.username] = u;
    return {};
  }
  Result<bool> remove_user(const std::string& name) override {
    std::lock_guard lock(mutex_);
    return users.erase(name) > 0;
  }
  Status put_token(const ApiToken& t) override {
    std::lock_guard lock(mutex_);
    tokens[t.id] = t;
    return {};
  }
  Result<std::optional<ApiToken>> find_token_by_hash(const std::string& secret_sha256) override {
    std::lock_guard lock(mutex_);
    if (fail_lookups) return fail(Errc::io_error, "database unavailable");
    for (const auto& [id, t] : tokens) {
      if (t.secret_sha256 == secret_sha256) return std::optional<ApiToken>{t};
    }
    return std::optional<ApiToken>{};
  }
  Result<std::vector<ApiToken>> list_tokens(const std::string& username) override {
    std::lock_guard lock(mutex_);
    std::vector<ApiToken> out;
    for (const auto& [id, t] : tokens) {
      if (username.empty() || t.username == username) out.push_back(t);
    }
    return out;
  }
  Result<bool> revoke_token(const std::string& id) override {
    std::lock_guard lock(mutex_);
    auto it = tokens.find(id);
    if (it == tokens.end()) return false;
    it->second.revoked = true;
    return true;
  }

  // Direct access for tests (single-threaded set-up and inspection).
  std::map<std::string, Peer> peers;
  std::map<std::string, User> users;
  std::map<std::string, ApiToken> tokens;  // by id
  int peer_lookups = 0;
  bool fail_lookups = false;

private:
  std::mutex mutex_;
};

// A clock that only moves when the test says so.
class TestClock final : public Clock {
public:
  explicit TestClock(std::int64_t unix_seconds = 1'800'000'000) : t(std::chrono::seconds(unix_seconds)) {}
  std::chrono::system_clock::time_point now() const override { return t; }
  std::chrono::system_clock::time_point t;
};

} // namespace tresor::security::testing
