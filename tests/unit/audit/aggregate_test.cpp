// Aggregated failure events (audit/aggregate.h) and the audit file's
// free-space guard (audit.h SpaceGuard).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "audit/aggregate.h"
#include "audit/audit.h"
#include "audit/trail.h"

using namespace tresor;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct ManualClock : Clock {
  std::chrono::system_clock::time_point t{std::chrono::seconds(1'800'000'000)};
  std::chrono::system_clock::time_point now() const override { return t; }
};

audit::Event failure(const std::string& source, const std::string& actor = "", const std::string& reason = "wrong password") {
  audit::Event e;
  e.type = audit::Type::association;
  e.outcome = audit::Outcome::denied;
  e.actor = actor;
  e.source = source;
  e.reason = reason;
  e.details = {{"protocol", "http"}};
  return e;
}

std::string detail(const audit::Event& e, const std::string& key) {
  for (const auto& [k, v] : e.details)
    if (k == key) return v;
  return "";
}

} // namespace

TEST(FailureAggregator, TenThousandFailuresFromOneSourceWriteTwoLinesPerWindow) {
  audit::MemorySink sink;
  ManualClock clock;
  {
    audit::FailureAggregator agg(sink, clock, 60s, 10000, false);
    for (int i = 0; i < 10000; ++i) {
      agg.record(failure("203.0.113.7", i % 2 ? "admin" : ""));
      clock.t += 30ms;  // 300 s in all: 5 windows
    }
  }
  auto events = sink.events();
  EXPECT_LE(events.size(), 2u * 6u);
  EXPECT_GE(events.size(), 2u * 5u);
  std::uint64_t total = 0;
  for (const auto& e : events) {
    EXPECT_EQ(e.source, "203.0.113.7");
    EXPECT_EQ(e.type, audit::Type::association);
    EXPECT_EQ(e.outcome, audit::Outcome::denied);
    EXPECT_EQ(detail(e, "protocol"), "http");
    if (detail(e, "aggregate") == "summary") {
      total += std::stoull(detail(e, "count"));
      EXPECT_EQ(e.actor, "");  // mixed actors
      EXPECT_NE(e.reason.find("more failures from this source in 60 s (last: wrong password)"), std::string::npos);
      EXPECT_EQ(detail(e, "window_s"), "60");
    } else {
      EXPECT_EQ(detail(e, "aggregate"), "first of window");
      EXPECT_EQ(e.reason, "wrong password");
      ++total;
    }
  }
  EXPECT_EQ(total, 10000u);  // every failure is accounted for
}

TEST(FailureAggregator, ASingleFailureIsWrittenAtOnceWithItsReason) {
  audit::MemorySink sink;
  ManualClock clock;
  audit::FailureAggregator agg(sink, clock, 60s, 10000, false);
  agg.record(failure("198.51.100.1", "alice", "unknown API token"));
  ASSERT_EQ(sink.events().size(), 1u);
  EXPECT_EQ(sink.events()[0].actor, "alice");
  EXPECT_EQ(sink.events()[0].reason, "unknown API token");
  agg.flush_expired();
  clock.t += 61s;
  agg.flush_expired();
  EXPECT_EQ(sink.events().size(), 1u);  // nothing counted: no summary
}

TEST(FailureAggregator, SourcesAreCountedApartAndTheSummaryComesAfterTheWindow) {
  audit::MemorySink sink;
  ManualClock clock;
  audit::FailureAggregator agg(sink, clock, 10s, 10000, false);
  for (int i = 0; i < 5; ++i) agg.record(failure("10.0.0.1", "bob"));
  for (int i = 0; i < 3; ++i) agg.record(failure("10.0.0.2"));
  EXPECT_EQ(sink.events().size(), 2u);  // the first of each source
  clock.t += 9s;
  agg.flush_expired();
  EXPECT_EQ(sink.events().size(), 2u);  // the windows are still open
  clock.t += 1s;
  agg.flush_expired();
  auto events = sink.events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[2].source, "10.0.0.1");
  EXPECT_EQ(detail(events[2], "count"), "4");
  EXPECT_EQ(events[2].actor, "bob");  // the same actor every time
  EXPECT_EQ(events[3].source, "10.0.0.2");
  EXPECT_EQ(detail(events[3], "count"), "2");
}

TEST(FailureAggregator, ManyAddressesKeepMemoryBoundedAndLoseNoCount) {
  audit::MemorySink sink;
  ManualClock clock;
  std::uint64_t total = 0;
  {
    audit::FailureAggregator agg(sink, clock, 60s, 100, false);
    for (int round = 0; round < 3; ++round)
      for (int a = 0; a < 1000; ++a) agg.record(failure("10.1." + std::to_string(a / 250) + "." + std::to_string(a % 250)));
  }
  for (const auto& e : sink.events()) total += detail(e, "aggregate") == "summary" ? std::stoull(detail(e, "count")) : 1;
  EXPECT_EQ(total, 3000u);
}

TEST(AuditSpaceGuard, AlertsOnceBeforeTheStoreReserveIsReached) {
  auto dir = fs::temp_directory_path() / ("tresor-audit-space-" + std::to_string(::getpid())) / "audit";
  fs::remove_all(dir.parent_path());
  ManualClock clock;
  std::uint64_t available = 10ull << 30;  // of a 100 GiB file system: the store's reserve is 256 MiB
  audit::TrailOptions options;
  options.guard.probe = [&](int) { return std::optional<audit::SpaceGuard::Space>({available, 100ull << 30}); };
  auto log = audit::open_trail_log(dir, clock, nullptr, options);
  ASSERT_TRUE(log);
  auto records = [&] {
    std::vector<audit::Record> out;
    auto reader = audit::TrailReader::open(dir, nullptr);
    EXPECT_TRUE(reader);
    while (auto r = (*reader)->next()) {
      if (!*r) break;
      out.push_back(std::move(**r));
    }
    return out;
  };
  (*log)->record(failure("10.0.0.1"));
  EXPECT_EQ(records().size(), 1u);
  available = 400ull << 20;  // below twice the reserve, still above the reserve itself
  (*log)->record(failure("10.0.0.1"));
  (*log)->record(failure("10.0.0.1"));
  available = 300ull << 20;
  (*log)->record(failure("10.0.0.1"));
  auto r = records();
  ASSERT_EQ(r.size(), 5u);  // 4 events + one alert, once
  EXPECT_EQ(r[1].event.type, audit::Type::security_alert);
  EXPECT_NE(r[1].event.reason.find("audit file system nearly full: 400 MiB free, alert threshold 512 MiB"),
            std::string::npos)
      << r[1].event.reason;
  // Space freed, then short again: a new alert.
  available = 10ull << 30;
  (*log)->record(failure("10.0.0.1"));
  available = 100ull << 20;
  (*log)->record(failure("10.0.0.1"));
  EXPECT_EQ(records().size(), 8u);
  log->reset();
  fs::remove_all(dir.parent_path());
}
