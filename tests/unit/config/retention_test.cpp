// [retention] policies: "NAME: N years [modality=XX] [sop_class=UID]" (config.h parse_retention_rule).
#include <gtest/gtest.h>

#include "config/config.h"

using namespace tresor;

TEST(RetentionPolicy, ParsesNameYearsAndOptionalModalityAndSopClass) {
  auto r = config::parse_retention_rule("ct-short: 5 years modality=CT sop_class=1.2.840.10008.5.1.4.1.1.2");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->name, "ct-short");
  EXPECT_EQ(r->years, 5);
  EXPECT_EQ(r->modality, "CT");
  EXPECT_EQ(r->sop_class, "1.2.840.10008.5.1.4.1.1.2");
  auto plain = config::parse_retention_rule("default:10 years");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->years, 10);
  EXPECT_TRUE(plain->modality.empty());
}

TEST(RetentionPolicy, RefusesWhatCouldDeleteMoreThanMeant) {
  for (const char* bad : {"no colon 10 years", ": 10 years", "x: 0 years", "x: -3 years", "x: 10", "x: 10 months",
                          "x: 10 years modality=ct", "x: 10 years sop_class=1..2", "x: 10 years everything",
                          "bad name: 10 years", "x: 1e3 years", "x: 10 years modality=CT modality=MR"}) {
    auto r = config::parse_retention_rule(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::invalid_argument) << bad;
    }
  }
}
