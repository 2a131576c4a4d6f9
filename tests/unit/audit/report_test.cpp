#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "audit/report.h"

using namespace tresor;
using audit::Event;
using audit::Outcome;
using audit::Record;
using audit::Type;

namespace {

struct FixedClock : Clock {
  std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  }
};

class VectorReader final : public audit::TrailReader {
public:
  explicit VectorReader(std::vector<Record> records) : records_(std::move(records)) {}
  Result<std::optional<Record>> next() override {
    if (pos_ >= records_.size()) return std::optional<Record>();
    return std::optional<Record>(records_[pos_++]);
  }
  Status seek_after(std::uint64_t seq) override {
    pos_ = 0;
    while (pos_ < records_.size() && records_[pos_].seq <= seq) ++pos_;
    return {};
  }

private:
  std::vector<Record> records_;
  std::size_t pos_ = 0;
};

Record rec(std::uint64_t seq, std::string time, Event e) {
  Record r;
  r.seq = seq;
  r.time = std::move(time);
  r.event = std::move(e);
  return r;
}

Event ev(Type t, std::string actor, std::string source, std::string patient, std::string study,
         std::vector<std::pair<std::string, std::string>> details = {}, Outcome o = Outcome::success) {
  Event e;
  e.type = t;
  e.outcome = o;
  e.actor = std::move(actor);
  e.source = std::move(source);
  e.patient_id = std::move(patient);
  e.study_uid = std::move(study);
  e.details = std::move(details);
  return e;
}

std::vector<Record> trail() {
  return {
      rec(1, "2026-12-01T08:00:00.000Z", ev(Type::store, "CT1", "10.0.0.1", "P1", "1.2.1")),
      // a QIDO by alice that returned P1 and P2 without naming them in its keys
      rec(2, "2026-12-01T09:00:00.000Z",
          ev(Type::query, "alice", "10.0.0.5", "", "", {{"matches", "2"}, {"result_patients", "P1\\P2"},
                                                        {"result_patient_count", "2"}})),
      rec(3, "2026-12-01T09:01:00.000Z", ev(Type::access, "alice", "10.0.0.5", "P1", "1.2.1", {{"instances", "40"}})),
      rec(4, "2026-12-01T09:02:00.000Z", ev(Type::retrieve, "bob", "10.0.0.6", "P2", "1.2.2", {{"instances", "3"}})),
      rec(5, "2026-12-02T10:00:00.000Z",
          ev(Type::move, "WS1", "10.0.0.7", "P1\\P3", "1.2.1\\1.2.3", {{"instances", "5"}, {"destination", "WS2"}})),
      rec(6, "2026-12-03T10:00:00.000Z",
          ev(Type::retrieve, "eve", "10.0.0.9", "P1", "1.2.1", {}, Outcome::denied)),
      rec(7, "2026-12-04T10:00:00.000Z", ev(Type::patient_record, "system", "", "P1", "")),
      // P11 is not P1
      rec(8, "2026-12-04T11:00:00.000Z", ev(Type::retrieve, "bob", "10.0.0.6", "P11", "1.2.11", {{"instances", "1"}})),
  };
}

} // namespace

TEST(WhoSawWhat, ListsEveryAccessToThePatientAndNothingElse) {
  VectorReader reader(trail());
  audit::MemorySink sink;
  FixedClock clock;
  auto report = audit::build_report(reader, {"P1", "", ""}, {"dpo", "dpo", "127.0.0.1"}, sink, clock);
  ASSERT_TRUE(report) << report.error().message;
  std::vector<std::uint64_t> seqs;
  for (const auto& e : report->entries) seqs.push_back(e.seq);
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{2, 3, 5, 6, 7}));  // not the store, not P2's or P11's retrieve
  EXPECT_EQ(report->records_read, 8u);
  EXPECT_EQ(report->entries[1].what, "viewer session");
  EXPECT_EQ(report->entries[1].count, "40");
  EXPECT_NE(report->entries[2].detail.find("destination WS2"), std::string::npos);
  EXPECT_EQ(report->entries[3].outcome, Outcome::denied);
}

TEST(WhoSawWhat, PartiesCountOnlySuccessfulAccessesPerUserAndSource) {
  VectorReader reader(trail());
  audit::MemorySink sink;
  FixedClock clock;
  auto report = audit::build_report(reader, {"P1", "", ""}, {"dpo", "", ""}, sink, clock);
  ASSERT_TRUE(report);
  ASSERT_EQ(report->parties.size(), 3u);  // alice, WS1, system; not eve (denied)
  EXPECT_EQ(report->parties[0].actor, "alice");
  EXPECT_EQ(report->parties[0].source, "10.0.0.5");
  EXPECT_EQ(report->parties[0].accesses.at("query"), 1u);
  EXPECT_EQ(report->parties[0].accesses.at("viewer session"), 1u);
}

TEST(WhoSawWhat, TimeWindowIsSinceInclusiveUntilExclusive) {
  VectorReader reader(trail());
  audit::MemorySink sink;
  FixedClock clock;
  auto report = audit::build_report(reader, {"P1", "2026-12-01T09:01:00.000Z", "2026-12-04"}, {"dpo", "", ""}, sink, clock);
  ASSERT_TRUE(report);
  std::vector<std::uint64_t> seqs;
  for (const auto& e : report->entries) seqs.push_back(e.seq);
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{3, 5, 6}));
}

TEST(WhoSawWhat, AScopedRequesterSeesOnlyEventsWhoseStudiesAreAllInScope) {
  VectorReader reader(trail());
  audit::MemorySink sink;
  FixedClock clock;
  auto in_scope = [](const std::string& study) { return study == "1.2.1"; };
  auto report = audit::build_report(reader, {"P1", "", ""}, {"aud", "", ""}, sink, clock, in_scope);
  ASSERT_TRUE(report);
  std::vector<std::uint64_t> seqs;
  for (const auto& e : report->entries) seqs.push_back(e.seq);
  // not the query and record change (no study), not the move (1.2.3 out of scope)
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{3, 6}));
}

TEST(WhoSawWhat, TheReportIsItselfAuditedAsAuditLogUsed) {
  VectorReader reader(trail());
  audit::MemorySink sink;
  FixedClock clock;
  ASSERT_TRUE(audit::build_report(reader, {"P1", "2026-12-01", ""}, {"dpo", "dpo", "10.1.1.1"}, sink, clock));
  const auto events = sink.events();
  ASSERT_EQ(events.size(), 1u);
  const Event& e = events.front();
  EXPECT_EQ(e.type, Type::audit_log_used);
  EXPECT_EQ(e.outcome, Outcome::success);
  EXPECT_EQ(e.actor, "dpo");
  EXPECT_EQ(e.source, "10.1.1.1");
  EXPECT_EQ(e.patient_id, "P1");
}

TEST(WhoSawWhat, BadTimeBoundsAreRefusedAndTheAttemptAudited) {
  VectorReader reader(trail());
  audit::MemorySink sink;
  FixedClock clock;
  auto report = audit::build_report(reader, {"P1", "yesterday", ""}, {"dpo", "", ""}, sink, clock);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, Errc::invalid_argument);
  ASSERT_EQ(sink.events().size(), 1u);
  EXPECT_EQ(sink.events().front().outcome, Outcome::failure);
}

TEST(WhoSawWhat, HtmlIsSelfContainedEscapedAndNamesPatientAndPeriodInTheTitle) {
  auto records = trail();
  records[2].event.actor = "<script>alert(1)</script>";
  VectorReader reader(records);
  audit::MemorySink sink;
  FixedClock clock;
  auto report = audit::build_report(reader, {"P1", "2026-12-01", "2026-12-31"}, {"dpo", "", ""}, sink, clock);
  ASSERT_TRUE(report);
  const std::string html = audit::report_html(*report);
  EXPECT_NE(html.find("<title>Access report: patient P1, 2026-12-01 to 2026-12-31</title>"), std::string::npos);
  EXPECT_NE(html.find("@media print"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);   // nothing loaded from elsewhere
  EXPECT_EQ(html.find("href="), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
}

TEST(WhoSawWhat, JsonCarriesEntriesAndParties) {
  VectorReader reader(trail());
  audit::MemorySink sink;
  FixedClock clock;
  auto report = audit::build_report(reader, {"P2", "", ""}, {"dpo", "", ""}, sink, clock);
  ASSERT_TRUE(report);
  auto j = nlohmann::json::parse(audit::report_json(*report));
  EXPECT_EQ(j["patient_id"], "P2");
  ASSERT_EQ(j["entries"].size(), 2u);  // alice's query, bob's retrieve
  EXPECT_EQ(j["entries"][1]["actor"], "bob");
  EXPECT_EQ(j["entries"][1]["count"], "3");
  EXPECT_EQ(j["parties"].size(), 2u);
  EXPECT_NE(audit::report_text(*report).find("bob from 10.0.0.6"), std::string::npos);
}
