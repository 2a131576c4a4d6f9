// Fuzz target: security::JwtVerifier::verify (OIDC bearer tokens).
// The verifier is built once from a JWKS with one RSA and one EC P-256 key
// (generated at start-up, as in tests/unit/security). First input byte:
//   0 mod 3: the rest is a token, verified as is (framing, base64url, header
//            JSON, algorithm pinning, signature check);
//   1 mod 3: the rest is "<header JSON>\n<claims JSON>", signed with the EC
//            key (ES256), so the fuzzer reaches header and claim validation
//            behind a valid signature;
//   2 mod 3: the rest is the claims JSON under a fixed valid ES256 header.
// Contract checked on acceptance: issuer matches and exp is in the future
// (within the verifier's 30 s clock-skew leeway).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "security/jwt.h"
#include "test_support.h"   // tests/unit/security: key generation, JWKS, signing

namespace {

using namespace tresor;
namespace t = tresor::security::testing;

const std::string kIssuer = "https://idp.example.org/realms/pacs";
const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

struct Fixture {
  t::Pkey rsa = t::make_rsa_key();
  t::Pkey ec = t::make_ec_key();
  std::unique_ptr<security::JwtVerifier> verifier;
  Fixture() {
    auto file = fuzz::scratch_dir() / "jwks.json";
    t::write_jwks(file, {t::jwk_of(rsa.get(), "rsa-1"), t::jwk_of(ec.get(), "ec-1")});
    auto v = security::JwtVerifier::from_jwks_file(file, kIssuer, "tresor", {"RS256", "ES256"});
    if (!v) {
      std::fprintf(stderr, "verifier: %s\n", v.error().message.c_str());
      std::abort();
    }
    verifier = std::move(*v);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Fixture& f = fixture();
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string token;
  switch (data[0] % 3) {
    case 0:
      token = std::string(rest);
      break;
    case 1: {
      std::size_t nl = rest.find('\n');
      if (nl == std::string_view::npos) return 0;
      token = t::make_raw_token("ES256", f.ec.get(), std::string(rest.substr(0, nl)), std::string(rest.substr(nl + 1)));
      break;
    }
    default:
      token = t::make_raw_token("ES256", f.ec.get(), R"({"alg":"ES256","typ":"JWT","kid":"ec-1"})", std::string(rest));
      break;
  }
  auto r = f.verifier->verify(token, kNow);
  if (r) {
    TRESOR_FUZZ_CHECK(r->issuer == kIssuer);
    TRESOR_FUZZ_CHECK(r->expires + std::chrono::seconds(30) > kNow);  // jwt.cpp allows 30 s of clock skew
    TRESOR_FUZZ_CHECK(token.size() <= 8192);
  }
  return 0;
}
