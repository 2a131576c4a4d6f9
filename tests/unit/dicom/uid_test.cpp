#include <gtest/gtest.h>

#include <string>

#include "dicom/inspect.h"

namespace tresor::dicom {
namespace {

TEST(UidGrammar, AcceptsOrdinaryUids) {
  EXPECT_TRUE(is_valid_uid("1.2.840.10008.1.2.1"));
  EXPECT_TRUE(is_valid_uid("0"));
  EXPECT_TRUE(is_valid_uid("1.0.2"));
  EXPECT_TRUE(is_valid_uid("2.25.329800735698586629295641978511506172918"));
}

TEST(UidGrammar, AcceptsExactlySixtyFourCharactersButNotMore) {
  std::string uid = "1." + std::string(62, '9');
  ASSERT_EQ(uid.size(), 64u);
  EXPECT_TRUE(is_valid_uid(uid));
  EXPECT_FALSE(is_valid_uid(uid + "9"));
}

TEST(UidGrammar, RejectsPathsAndOtherCharacters) {
  EXPECT_FALSE(is_valid_uid("../etc"));
  EXPECT_FALSE(is_valid_uid("1.2/../3"));
  EXPECT_FALSE(is_valid_uid("1.2.3 "));
  EXPECT_FALSE(is_valid_uid(std::string("1.2\0.3", 6)));
  EXPECT_FALSE(is_valid_uid("1.2.a"));
  EXPECT_FALSE(is_valid_uid("1.2\\3.4"));
  EXPECT_FALSE(is_valid_uid("-1.2"));
}

TEST(UidGrammar, RejectsEmptyComponentsAndLeadingZeros) {
  EXPECT_FALSE(is_valid_uid(""));
  EXPECT_FALSE(is_valid_uid("1..2"));
  EXPECT_FALSE(is_valid_uid(".1.2"));
  EXPECT_FALSE(is_valid_uid("1.2."));
  EXPECT_FALSE(is_valid_uid("."));
  EXPECT_FALSE(is_valid_uid("1.02"));
  EXPECT_FALSE(is_valid_uid("00"));
}

} // namespace
} // namespace tresor::dicom
