// Aggregation of viewer reads into "DICOM Instances Accessed" events (access.h).
#include <gtest/gtest.h>

#include "audit/access.h"

using namespace tresor;
using namespace std::chrono_literals;

namespace {
struct ManualClock : Clock {
  std::chrono::system_clock::time_point t{std::chrono::seconds(1'800'000'000)};
  std::chrono::system_clock::time_point now() const override { return t; }
};

audit::Event who(const std::string& user, const std::string& source = "10.0.0.5") {
  audit::Event e;
  e.type = audit::Type::retrieve;
  e.actor = user;
  e.user = user;
  e.source = source;
  return e;
}

audit::AccessAggregator::Read read(int i, const std::string& study = "1.2.3") {
  return {"PAT1", study, study + ".1", study + ".1." + std::to_string(i)};
}

std::string detail(const audit::Event& e, const std::string& key) {
  for (const auto& [k, v] : e.details)
    if (k == key) return v;
  return "";
}
} // namespace

TEST(AccessAggregator, FortyViewerRequestsForOneStudyByOneUserAreOneAccessEventWithCount40) {
  ManualClock clock;
  audit::MemorySink sink;
  {
    audit::AccessAggregator agg(sink, clock, 300s, false);
    // OHIF: the study's metadata (all 40 instances), then each instance's frames.
    std::vector<audit::AccessAggregator::Read> all;
    for (int i = 0; i < 40; ++i) all.push_back(read(i));
    agg.add(who("alice"), all);
    for (int i = 0; i < 40; ++i) {
      clock.t += 1s;
      agg.add(who("alice"), {read(i)});
    }
    agg.flush_expired();
    EXPECT_TRUE(sink.events().empty()) << "written before the window ended";
    clock.t += 299s;
    agg.flush_expired();
    EXPECT_TRUE(sink.events().empty());
    clock.t += 1s;
    agg.flush_expired();
  }
  auto events = sink.events();
  ASSERT_EQ(events.size(), 1u);
  const audit::Event& e = events[0];
  EXPECT_EQ(e.type, audit::Type::access);
  EXPECT_EQ(e.outcome, audit::Outcome::success);
  EXPECT_EQ(e.user, "alice");
  EXPECT_EQ(e.source, "10.0.0.5");
  EXPECT_EQ(e.patient_id, "PAT1");
  EXPECT_EQ(e.study_uid, "1.2.3");
  EXPECT_EQ(detail(e, "instances"), "40");
  EXPECT_EQ(detail(e, "requests"), "41");
  EXPECT_EQ(detail(e, "series"), "1");
  EXPECT_EQ(detail(e, "first_time"), "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(detail(e, "last_time"), "2027-01-15T08:00:40.000Z");
}

TEST(AccessAggregator, SeparatesUsersStudiesAndSessionsAndFlushesEverythingAtShutdown) {
  ManualClock clock;
  audit::MemorySink sink;
  {
    audit::AccessAggregator agg(sink, clock, 300s, false);
    agg.add(who("alice"), {read(1), read(2, "9.9.9")});  // a patient-level read of two studies
    agg.add(who("bob"), {read(1)});
    clock.t += 10min;                                     // alice's session ended ...
    agg.add(who("alice"), {read(3)});                     // ... a new one starts
    EXPECT_EQ(sink.events().size(), 3u);                  // alice x2 studies, bob
  }  // clean stop: the open window is written
  auto events = sink.events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[3].user, "alice");
  EXPECT_EQ(detail(events[3], "instances"), "1");
}

TEST(AccessAggregator, KeepsMemoryBoundedByClosingTheLongestIdleWindow) {
  ManualClock clock;
  audit::MemorySink sink;
  audit::AccessAggregator agg(sink, clock, 300s, false, 10, 5);
  for (int u = 0; u < 25; ++u) {
    clock.t += 1s;
    agg.add(who("user" + std::to_string(u)), {read(u)});
  }
  EXPECT_EQ(sink.events().size(), 15u);
  EXPECT_EQ(sink.events()[0].user, "user0");
  // Beyond max_tracked distinct instances the count goes on.
  for (int i = 0; i < 8; ++i) agg.add(who("user24"), {read(100 + i)});
  agg.flush_all();
  EXPECT_EQ(detail(sink.events().back(), "instances"), "9");
  EXPECT_EQ(detail(sink.events().back(), "instances_at_least"), "5");
}
