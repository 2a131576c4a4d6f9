// The small building blocks of HTTP authentication: strict base64, digests,
// constant-time comparison and the bounded map.
#include <gtest/gtest.h>

#include <string>

#include "security/auth_crypto.h"
#include "security/bounded_map.h"

namespace tresor::security {
namespace {

TEST(AuthCrypto, DecodesCanonicalStandardBase64) {
  EXPECT_EQ(detail::base64_decode_strict("YWxpY2U6c2VjcmV0"), "alice:secret");
  EXPECT_EQ(detail::base64_decode_strict("YQ=="), "a");
  EXPECT_EQ(detail::base64_decode_strict("YWI="), "ab");
  EXPECT_EQ(detail::base64_decode_strict("+/+/"), std::string("\xfb\xff\xbf", 3));
}

TEST(AuthCrypto, RefusesBase64ThatIsNotCanonical) {
  for (const char* bad : {"", "YQ", "YQ=", "YR==", "YWJ=", "YQ==YQ==", "Y Q==", "YQ==\n", "-_-_"}) {
    EXPECT_FALSE(detail::base64_decode_strict(bad).has_value()) << bad;
  }
  EXPECT_FALSE(detail::base64_decode_strict(std::string_view("YWxp\0Y2U=", 9)).has_value());
}

TEST(AuthCrypto, EncodesBase64UrlWithoutPadding) {
  EXPECT_EQ(detail::base64url(std::string("\xfb\xff", 2)), "-_8");
  const std::string id = detail::base64url(detail::random_bytes(32));
  EXPECT_EQ(id.size(), 43u);
  EXPECT_TRUE(detail::is_base64url(id));
  EXPECT_FALSE(detail::is_base64url("abc="));
  EXPECT_FALSE(detail::is_base64url("a+b"));
  EXPECT_FALSE(detail::is_base64url(""));
}

TEST(AuthCrypto, RandomBytesDiffer) {
  EXPECT_EQ(detail::random_bytes(32).size(), 32u);
  EXPECT_NE(detail::random_bytes(32), detail::random_bytes(32));
}

TEST(AuthCrypto, ComputesKnownSha256AndHmacValues) {
  EXPECT_EQ(detail::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(detail::to_hex(detail::hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(AuthCrypto, ComparesEqualLengthStringsByContent) {
  EXPECT_TRUE(detail::constant_time_equal("same", "same"));
  EXPECT_FALSE(detail::constant_time_equal("same", "sane"));
  EXPECT_FALSE(detail::constant_time_equal("same", "same!"));
  EXPECT_FALSE(detail::constant_time_equal("", "x"));
}

TEST(BoundedMap, EvictsTheOldestInsertionWhenFull) {
  BoundedMap<int> m(3);
  EXPECT_EQ(m.put("a", 1), 0u);
  m.put("b", 2);
  m.put("c", 3);
  EXPECT_EQ(m.put("d", 4), 1u);
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m.find("a"), nullptr);
  ASSERT_NE(m.find("d"), nullptr);
  EXPECT_EQ(*m.find("d"), 4);
}

TEST(BoundedMap, ReplacingAKeyMakesItTheNewest) {
  BoundedMap<int> m(2);
  m.put("a", 1);
  m.put("b", 2);
  m.put("a", 10);  // replace: no eviction, "b" is now the oldest
  EXPECT_EQ(m.size(), 2u);
  m.put("c", 3);
  EXPECT_EQ(m.find("b"), nullptr);
  ASSERT_NE(m.find("a"), nullptr);
  EXPECT_EQ(*m.find("a"), 10);
}

TEST(BoundedMap, ErasesSingleKeysAndByPredicate) {
  BoundedMap<int> m(10);
  for (int i = 0; i < 6; ++i) m.put(std::to_string(i), i);
  EXPECT_TRUE(m.erase("0"));
  EXPECT_FALSE(m.erase("0"));
  EXPECT_EQ(m.erase_if([](int v) { return v % 2 == 1; }), 3u);
  EXPECT_EQ(m.size(), 2u);
  // The order index stays consistent: filling up evicts the real oldest ("2").
  for (int i = 10; i < 18; ++i) m.put(std::to_string(i), i);
  EXPECT_EQ(m.size(), 10u);
  m.put("x", 0);
  EXPECT_EQ(m.find("2"), nullptr);
  EXPECT_NE(m.find("4"), nullptr);
}

} // namespace
} // namespace tresor::security
