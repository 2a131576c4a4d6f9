#include "security/rate_limit.h"

#include <gtest/gtest.h>

#include <string>

namespace tresor::security {
namespace {

using namespace std::chrono_literals;
const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

TEST(FailureTracker, BlocksAKeyWhenTheThresholdIsReachedWithinTheWindow) {
  FailureTracker t(3, 60s, 900s);
  EXPECT_FALSE(t.record_failure("10.0.0.1", t0));
  EXPECT_FALSE(t.record_failure("10.0.0.1", t0 + 10s));
  EXPECT_FALSE(t.is_blocked("10.0.0.1", t0 + 10s));
  EXPECT_TRUE(t.record_failure("10.0.0.1", t0 + 20s));  // this one starts the block
  EXPECT_TRUE(t.is_blocked("10.0.0.1", t0 + 20s));
  EXPECT_FALSE(t.is_blocked("10.0.0.2", t0 + 20s));     // other keys are unaffected
}

TEST(FailureTracker, FailuresOutsideTheSlidingWindowDoNotCount) {
  FailureTracker t(3, 60s, 900s);
  EXPECT_FALSE(t.record_failure("k", t0));
  EXPECT_FALSE(t.record_failure("k", t0 + 30s));
  EXPECT_FALSE(t.record_failure("k", t0 + 61s));  // the first one has left the window
  EXPECT_FALSE(t.is_blocked("k", t0 + 61s));
  EXPECT_TRUE(t.record_failure("k", t0 + 62s));   // 30s, 61s, 62s are within 60 s
  EXPECT_TRUE(t.is_blocked("k", t0 + 62s));
}

TEST(FailureTracker, BlockExpiresAfterTheBlockDurationAndIsNotExtendedByFailuresDuringIt) {
  FailureTracker t(2, 60s, 900s);
  t.record_failure("k", t0);
  EXPECT_TRUE(t.record_failure("k", t0 + 1s));
  EXPECT_FALSE(t.record_failure("k", t0 + 500s));  // already blocked: no new block reported
  EXPECT_TRUE(t.is_blocked("k", t0 + 900s));
  EXPECT_FALSE(t.is_blocked("k", t0 + 901s));
  // After the block the count starts again from zero.
  EXPECT_FALSE(t.record_failure("k", t0 + 902s));
  EXPECT_FALSE(t.is_blocked("k", t0 + 902s));
  EXPECT_TRUE(t.record_failure("k", t0 + 903s));
}

TEST(FailureTracker, ResetForgetsFailuresAndBlock) {
  FailureTracker t(1, 60s, 900s);
  EXPECT_TRUE(t.record_failure("k", t0));
  EXPECT_TRUE(t.is_blocked("k", t0));
  t.reset("k");
  EXPECT_FALSE(t.is_blocked("k", t0));
}

TEST(FailureTracker, MemoryStaysBoundedAndBlockedKeysSurviveEvictionOfIdleOnes) {
  FailureTracker t(2, 60s, 900s, 8);
  t.record_failure("attacker", t0);
  ASSERT_TRUE(t.record_failure("attacker", t0));
  // A flood of distinct keys, each with one failure, cannot evict the block.
  for (int i = 0; i < 1000; ++i) t.record_failure("flood-" + std::to_string(i), t0 + 1s + std::chrono::milliseconds(i));
  EXPECT_TRUE(t.is_blocked("attacker", t0 + 2s));
  // Old single failures were evicted: an early flood key no longer counts towards a block.
  EXPECT_FALSE(t.record_failure("flood-0", t0 + 3s));
  EXPECT_FALSE(t.is_blocked("flood-0", t0 + 3s));
}

TEST(FailureTracker, BlocksCanBeEvictedOnlyWhenEveryKeyIsBlocked) {
  FailureTracker t(1, 60s, 900s, 4);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(t.record_failure("b" + std::to_string(i), t0 + std::chrono::seconds(i)));
  EXPECT_TRUE(t.record_failure("new", t0 + 10s));  // the map is full of blocks: the oldest goes
  EXPECT_FALSE(t.is_blocked("b0", t0 + 11s));
  EXPECT_TRUE(t.is_blocked("b3", t0 + 11s));
  EXPECT_TRUE(t.is_blocked("new", t0 + 11s));
}

} // namespace
} // namespace tresor::security
