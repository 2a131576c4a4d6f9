// net::detail::Gate: what a source blocked for failures may still cost
// (a few handshakes at a bounded rate), instead of being cut off, which
// locked out a registered peer behind the same address (issue 11).
#include "net/gate.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <latch>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "index/index.h"

namespace tresor::net::detail {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct GateTest : ::testing::Test {
  fs::path dir = fs::temp_directory_path() / ("tresor-gate-" + std::to_string(::getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  config::Config config;
  std::unique_ptr<index::SqliteIndex> index;
  SystemClock clock;
  security::FailureTracker failures{3, 60s, 900s};
  std::unique_ptr<security::AssociationPolicy> policy;

  void SetUp() override {
    fs::remove_all(dir);
    fs::create_directories(dir);
    index = std::move(*index::open_sqlite(dir / "index.db"));
    policy = std::make_unique<security::AssociationPolicy>(config, *index, nullptr, failures, clock);
  }
  void TearDown() override { fs::remove_all(dir); }
  void block(const std::string& ip) {
    for (int i = 0; i < 3; ++i) failures.record_failure(ip, clock.now());
    ASSERT_TRUE(policy->source_blocked(ip));
  }
};

TEST_F(GateTest, ABlockedSourceIsRateLimitedNotRefusedOutright) {
  block("10.0.0.9");
  Gate gate(*policy, 64, 50);
  const auto start = std::chrono::steady_clock::now();
  int admitted = 0;
  for (int i = 0; i < 60; ++i) admitted += gate.admit_source("10.0.0.9") ? 1 : 0;  // each call releases the last
  gate.done();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(admitted, 60);
  // 50 at once (the burst), the other 10 at 50 a second.
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 2s);
}

TEST_F(GateTest, ABlockedSourceHoldsAtMostFourNegotiationsAtATime) {
  block("10.0.0.9");
  Gate gate(*policy, 64, 1000);
  std::latch held(Gate::kBlockedConcurrent), release(1);
  std::vector<std::thread> holders;
  std::atomic<int> ok{0};
  for (std::size_t i = 0; i < Gate::kBlockedConcurrent; ++i) {
    holders.emplace_back([&] {
      if (gate.admit_source("10.0.0.9")) ++ok;
      held.count_down();
      release.wait();
      gate.done();
    });
  }
  held.wait();
  EXPECT_EQ(ok.load(), static_cast<int>(Gate::kBlockedConcurrent));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(gate.admit_source("10.0.0.9"));  // closed at once, before any handshake
  EXPECT_LT(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_TRUE(gate.admit_source("10.0.0.10"));  // another source is not affected
  gate.done();
  release.count_down();
  for (auto& t : holders) t.join();
  EXPECT_TRUE(gate.admit_source("10.0.0.9"));  // the slots are free again
  gate.done();
}

TEST_F(GateTest, AnUnblockedSourceNeverWaitsAndKeepsItsOwnLimit) {
  Gate gate(*policy, 2, 1);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(gate.admit_source("10.0.0.11"));
  gate.done();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
}

} // namespace
} // namespace tresor::net::detail
