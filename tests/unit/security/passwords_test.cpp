#include "security/passwords.h"

#include <gtest/gtest.h>

#include <set>

namespace tresor::security {
namespace {

class Passwords : public ::testing::Test {
protected:
  static void SetUpTestSuite() { ASSERT_TRUE(init_crypto().has_value()); }
};

// One hash, three verifications: Argon2id INTERACTIVE costs ~0.2 s each.
TEST_F(Passwords, HashVerifiesTheRightPasswordOnlyAndIsArgon2id) {
  auto h = hash_password("correct horse battery staple");
  ASSERT_TRUE(h.has_value()) << h.error().message;
  EXPECT_TRUE(h->starts_with("$argon2id$v=19$m=65536,t=2,p=1$")) << *h;
  EXPECT_EQ(h->find("correct horse"), std::string::npos);
  EXPECT_TRUE(verify_password(*h, "correct horse battery staple"));
  EXPECT_FALSE(verify_password(*h, "correct horse battery stapl"));
  EXPECT_FALSE(verify_password(*h, "Correct horse battery staple"));
}

TEST_F(Passwords, VerifyRefusesGarbageHashesAndEmptyOrHugePasswordsWithoutHashing) {
  EXPECT_FALSE(verify_password("", "whatever-password"));
  EXPECT_FALSE(verify_password("plaintext-password", "plaintext-password"));
  EXPECT_FALSE(verify_password("$argon2id$v=19$m=65536,t=2,p=1$garbage", "x"));
  EXPECT_FALSE(verify_password(std::string(500, '$'), "x"));
  EXPECT_FALSE(verify_password("$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA", ""));
}

TEST_F(Passwords, HashRefusesEmptyAndOversizedPasswords) {
  EXPECT_FALSE(hash_password("").has_value());
  EXPECT_FALSE(hash_password(std::string(5000, 'a')).has_value());
}

TEST_F(Passwords, RandomSecretsAreUrlSafeUnpaddedAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    std::string s = random_secret();
    EXPECT_EQ(s.size(), 24u);  // 18 bytes -> 24 characters, no padding
    EXPECT_EQ(s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), std::string::npos)
        << s;
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_EQ(random_secret(32).size(), 43u);
  EXPECT_TRUE(random_secret(0).empty());
}

TEST_F(Passwords, WellKnownDefaultsShortAndEmptyPasswordsAreWeak) {
  for (const char* p : {"", "admin", "orthanc", "dicoogle", "password", "changeme", "root", "123456", "ORTHANC",
                        "short-pw", "administrator", "password1234", "Password1234", "aaaaaaaaaaaaaaaa"}) {
    EXPECT_TRUE(is_weak_password(p)) << p;
  }
}

TEST_F(Passwords, LongUncommonPasswordsAndGeneratedSecretsAreNotWeak) {
  EXPECT_FALSE(is_weak_password("correct horse battery staple"));
  EXPECT_FALSE(is_weak_password("Tr0ub4dor&3-xylophone"));
  EXPECT_FALSE(is_weak_password(random_secret()));
}

} // namespace
} // namespace tresor::security
