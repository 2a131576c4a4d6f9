#include "security/jwt.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace tresor::security {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::make_token;

constexpr std::int64_t kNow = 1'800'000'000;
const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(kNow));
const std::string kIssuer = "https://idp.example.org/realms/pacs";
const std::string kAudience = "tresor";

// Keys are generated once for the whole suite (RSA generation is slow).
class Jwt : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    rsa_ = testing::make_rsa_key().release();
    ec_ = testing::make_ec_key().release();
    ec2_ = testing::make_ec_key().release();
    ed_ = testing::make_ed25519_key().release();
    other_rsa_ = testing::make_rsa_key().release();
  }
  static void TearDownTestSuite() {
    for (EVP_PKEY* k : {rsa_, ec_, ec2_, ed_, other_rsa_}) EVP_PKEY_free(k);
  }

  std::unique_ptr<JwtVerifier> verifier(std::vector<std::string> algs = {"RS256", "ES256"},
                                        std::vector<json> keys = {}) {
    if (keys.empty()) keys = {testing::jwk_of(rsa_, "rsa-1"), testing::jwk_of(ec_, "ec-1")};
    testing::write_jwks(dir_ / "jwks.json", keys);
    auto v = JwtVerifier::from_jwks_file(dir_ / "jwks.json", kIssuer, kAudience, std::move(algs));
    EXPECT_TRUE(v.has_value()) << (v ? "" : v.error().message);
    return v ? std::move(*v) : nullptr;
  }

  static json claims() {
    return {{"sub", "alice"}, {"iss", kIssuer}, {"aud", kAudience}, {"exp", kNow + 300},
            {"iat", kNow - 10}, {"roles", {"clinician", "researcher"}}};
  }

  static std::string refusal(const Result<JwtClaims>& r) { return r ? std::string("accepted") : r.error().message; }

  testing::TempDir dir_;
  static inline EVP_PKEY* rsa_ = nullptr;
  static inline EVP_PKEY* ec_ = nullptr;
  static inline EVP_PKEY* ec2_ = nullptr;
  static inline EVP_PKEY* ed_ = nullptr;
  static inline EVP_PKEY* other_rsa_ = nullptr;
};

TEST_F(Jwt, AcceptsValidRs256TokenAndReturnsItsClaims) {
  auto v = verifier();
  auto r = v->verify(make_token("RS256", rsa_, claims(), "rsa-1"), now);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->subject, "alice");
  EXPECT_EQ(r->issuer, kIssuer);
  EXPECT_EQ(r->roles, (std::vector<std::string>{"clinician", "researcher"}));
  EXPECT_EQ(r->expires, std::chrono::system_clock::time_point(std::chrono::seconds(kNow + 300)));
}

TEST_F(Jwt, AcceptsValidEs256Token) {
  auto v = verifier();
  auto r = v->verify(make_token("ES256", ec_, claims(), "ec-1"), now);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->subject, "alice");
}

TEST_F(Jwt, AcceptsTokenWithoutKidWhenAKeyOfItsAlgorithmVerifies) {
  auto v = verifier();
  EXPECT_TRUE(v->verify(make_token("ES256", ec_, claims()), now).has_value());
  EXPECT_TRUE(v->verify(make_token("RS256", rsa_, claims()), now).has_value());
}

TEST_F(Jwt, AcceptsEdDsaTokenWhenConfigured) {
  auto v = verifier({"EdDSA"}, {testing::jwk_of(ed_, "ed")});
  auto r = v->verify(make_token("EdDSA", ed_, claims(), "ed"), now);
  EXPECT_TRUE(r.has_value()) << refusal(r);
}

TEST_F(Jwt, AcceptsAudienceArrayThatContainsOurAudience) {
  auto v = verifier();
  auto c = claims();
  c["aud"] = {"account", kAudience};
  EXPECT_TRUE(v->verify(make_token("RS256", rsa_, c), now).has_value());
}

TEST_F(Jwt, TokenWithoutRolesClaimHasNoRoles) {
  auto v = verifier();
  auto c = claims();
  c.erase("roles");
  auto r = v->verify(make_token("ES256", ec_, c), now);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->roles.empty());
}

TEST_F(Jwt, RefusesAlgNone) {
  auto v = verifier();
  const std::string input =
      testing::b64url(R"({"alg":"none","typ":"JWT"})") + "." + testing::b64url(claims().dump());
  EXPECT_FALSE(v->verify(input + ".", now).has_value());
  EXPECT_FALSE(v->verify(input + "." + testing::b64url("x"), now).has_value());
  // Case games do not help either.
  const std::string none2 = testing::b64url(R"({"alg":"None"})") + "." + testing::b64url(claims().dump()) + ".AA";
  EXPECT_FALSE(v->verify(none2, now).has_value());
}

TEST_F(Jwt, RefusesHs256TokenSignedWithThePublicKeyPem) {
  auto v = verifier();
  auto c = claims();
  c["sub"] = "mallory";
  c["roles"] = {"admin"};
  auto r = v->verify(testing::hs256_token(testing::public_pem(rsa_), c), now);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("algorithm not allowed"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().code, Errc::unauthenticated);
}

TEST_F(Jwt, RefusesConfigurationThatAllowsHmacOrNone) {
  testing::write_jwks(dir_ / "jwks.json", {testing::jwk_of(rsa_)});
  for (const char* alg : {"HS256", "HS512", "none", "rs256"}) {
    EXPECT_FALSE(JwtVerifier::from_jwks_file(dir_ / "jwks.json", kIssuer, kAudience, {"RS256", alg}).has_value())
        << alg;
  }
  EXPECT_FALSE(JwtVerifier::from_jwks_file(dir_ / "jwks.json", kIssuer, kAudience, {}).has_value());
}

TEST_F(Jwt, RefusesConfigurationWithoutIssuerAudienceOrUsableKey) {
  testing::write_jwks(dir_ / "jwks.json", {testing::jwk_of(rsa_)});
  EXPECT_FALSE(JwtVerifier::from_jwks_file(dir_ / "jwks.json", "", kAudience, {"RS256"}).has_value());
  EXPECT_FALSE(JwtVerifier::from_jwks_file(dir_ / "jwks.json", kIssuer, "", {"RS256"}).has_value());
  testing::write_jwks(dir_ / "jwks.json", {json{{"kty", "oct"}, {"k", "c2VjcmV0"}}});
  EXPECT_FALSE(JwtVerifier::from_jwks_file(dir_ / "jwks.json", kIssuer, kAudience, {"RS256"}).has_value());
  EXPECT_FALSE(JwtVerifier::from_jwks_file(dir_ / "missing.json", kIssuer, kAudience, {"RS256"}).has_value());
}

TEST_F(Jwt, RefusesAlgorithmNotInTheConfiguredListEvenWithAValidSignature) {
  auto v = verifier({"ES256"});
  auto r = v->verify(make_token("RS256", rsa_, claims(), "rsa-1"), now);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("algorithm not allowed"), std::string::npos);
}

TEST_F(Jwt, RefusesTokenWhoseAlgDoesNotMatchTheKeyType) {
  auto v = verifier();
  // An ES256 signature presented as RS256 under the EC key's kid.
  const std::string input = testing::b64url(R"({"alg":"RS256","kid":"ec-1"})") + "." + testing::b64url(claims().dump());
  const std::string token = input + "." + testing::b64url(testing::sign_raw("ES256", ec_, input));
  EXPECT_FALSE(v->verify(token, now).has_value());
}

TEST_F(Jwt, RefusesExpiredToken) {
  auto v = verifier();
  auto c = claims();
  c["exp"] = kNow - 3600;
  auto r = v->verify(make_token("RS256", rsa_, c), now);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("expired"), std::string::npos);
}

TEST_F(Jwt, RefusesTokenWithoutExp) {
  auto v = verifier();
  auto c = claims();
  c.erase("exp");
  EXPECT_FALSE(v->verify(make_token("RS256", rsa_, c), now).has_value());
  c["exp"] = "tomorrow";
  EXPECT_FALSE(v->verify(make_token("RS256", rsa_, c), now).has_value());
}

TEST_F(Jwt, RefusesTokenNotYetValid) {
  auto v = verifier();
  auto c = claims();
  c["nbf"] = kNow + 3600;
  c["exp"] = kNow + 7200;
  auto r = v->verify(make_token("ES256", ec_, c), now);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("not yet valid"), std::string::npos);
  c["nbf"] = kNow - 60;
  EXPECT_TRUE(v->verify(make_token("ES256", ec_, c), now).has_value());
}

TEST_F(Jwt, RefusesWrongIssuer) {
  auto v = verifier();
  auto c = claims();
  c["iss"] = "https://evil.example.org/";
  auto r = v->verify(make_token("RS256", rsa_, c), now);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("issuer"), std::string::npos);
}

TEST_F(Jwt, RefusesWrongOrMissingAudience) {
  auto v = verifier();
  auto c = claims();
  c["aud"] = "someone-else";
  EXPECT_FALSE(v->verify(make_token("RS256", rsa_, c), now).has_value());
  c["aud"] = {"a", "b"};
  EXPECT_FALSE(v->verify(make_token("RS256", rsa_, c), now).has_value());
  c.erase("aud");
  auto r = v->verify(make_token("RS256", rsa_, c), now);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("audience"), std::string::npos);
}

TEST_F(Jwt, RefusesBadSignature) {
  auto v = verifier();
  // Signed by a key that is not in the JWKS.
  EXPECT_FALSE(v->verify(make_token("RS256", other_rsa_, claims(), "rsa-1"), now).has_value());
  EXPECT_FALSE(v->verify(make_token("ES256", ec2_, claims()), now).has_value());
  // Payload swapped after signing.
  std::string good = make_token("RS256", rsa_, claims());
  auto c = claims();
  c["sub"] = "mallory";
  std::string forged = good.substr(0, good.find('.')) + "." + testing::b64url(c.dump()) + good.substr(good.rfind('.'));
  auto r = v->verify(forged, now);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("bad signature"), std::string::npos);
}

TEST_F(Jwt, RefusesEs256SignatureInDerForm) {
  auto v = verifier();
  const std::string input = testing::b64url(R"({"alg":"ES256"})") + "." + testing::b64url(claims().dump());
  // sign_raw("RS256") on an EC key yields a DER ECDSA signature with SHA-256.
  const std::string token = input + "." + testing::b64url(testing::sign_raw("RS256", ec_, input));
  EXPECT_FALSE(v->verify(token, now).has_value());
}

TEST_F(Jwt, SelectsTheKeyByKidAndRefusesUnknownKid) {
  auto v = verifier({"ES256"}, {testing::jwk_of(ec_, "one"), testing::jwk_of(ec2_, "two")});
  EXPECT_TRUE(v->verify(make_token("ES256", ec2_, claims(), "two"), now).has_value());
  EXPECT_FALSE(v->verify(make_token("ES256", ec2_, claims(), "one"), now).has_value());
  auto r = v->verify(make_token("ES256", ec2_, claims(), "three"), now);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("unknown key id"), std::string::npos);
}

TEST_F(Jwt, RefusesOversizedToken) {
  auto v = verifier();
  auto c = claims();
  c["padding"] = std::string(7000, 'x');
  auto r = v->verify(make_token("ES256", ec_, c), now);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("8 KiB"), std::string::npos);
}

TEST_F(Jwt, RefusesMalformedBase64url) {
  auto v = verifier();
  const std::string good = make_token("ES256", ec_, claims());
  EXPECT_TRUE(v->verify(good, now).has_value());
  const auto d1 = good.find('.');
  const auto d2 = good.rfind('.');
  // Padding, standard-alphabet characters and whitespace are all refused.
  EXPECT_FALSE(v->verify(good.substr(0, d1) + "=" + good.substr(d1), now).has_value());
  EXPECT_FALSE(v->verify(good + "=", now).has_value());
  std::string plus = good;
  plus[d2 + 1] = '+';
  EXPECT_FALSE(v->verify(plus, now).has_value());
  EXPECT_FALSE(v->verify(good.substr(0, d1) + " " + good.substr(d1), now).has_value());
  // Wrong number of parts.
  EXPECT_FALSE(v->verify(good.substr(0, d2), now).has_value());
  EXPECT_FALSE(v->verify(good + ".AAAA", now).has_value());
  EXPECT_FALSE(v->verify("", now).has_value());
  // Non-canonical encoding: the unused trailing bits of the signature are not zero.
  // An ES256 signature is 64 bytes = 86 characters with 4 unused bits.
  std::string noncanon = good;
  char& last = noncanon.back();
  last = (last == 'A') ? 'B' : static_cast<char>(last + 1);  // flips one of the unused low bits
  auto r = v->verify(noncanon, now);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("base64url"), std::string::npos) << r.error().message;
}

TEST_F(Jwt, RefusesDuplicateHeaderKeys) {
  auto v = verifier();
  const std::string token =
      testing::make_raw_token("ES256", ec_, R"({"alg":"ES256","alg":"ES256"})", claims().dump());
  EXPECT_FALSE(v->verify(token, now).has_value());
}

TEST_F(Jwt, RefusesCriticalHeaderExtensionsAndBadJson) {
  auto v = verifier();
  EXPECT_FALSE(v->verify(testing::make_raw_token("ES256", ec_, R"({"alg":"ES256","crit":["exp"]})", claims().dump()), now));
  EXPECT_FALSE(v->verify(testing::make_raw_token("ES256", ec_, R"({"alg":"ES256")", claims().dump()), now));
  EXPECT_FALSE(v->verify(testing::make_raw_token("ES256", ec_, R"({"alg":"ES256"})", "[1,2,3]"), now));
}

TEST_F(Jwt, RefusesTokenWithoutSubject) {
  auto v = verifier();
  auto c = claims();
  c.erase("sub");
  EXPECT_FALSE(v->verify(make_token("ES256", ec_, c), now).has_value());
  c["sub"] = "";
  EXPECT_FALSE(v->verify(make_token("ES256", ec_, c), now).has_value());
}

} // namespace
} // namespace tresor::security
