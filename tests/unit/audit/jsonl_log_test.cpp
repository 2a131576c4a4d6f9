#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "audit/audit.h"

using namespace tresor;
namespace fs = std::filesystem;

namespace {
struct FixedClock : Clock {
  std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  }
};

std::vector<std::string> lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}
} // namespace

TEST(AuditLog, AppendsOneJsonObjectPerEventWithWhoWhatAndOutcome) {
  auto dir = fs::temp_directory_path() / ("tresor-audit-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  FixedClock clock;
  {
    auto log = audit::open_jsonl_log(dir / "audit.jsonl", clock);
    ASSERT_TRUE(log);
    audit::Event e;
    e.type = audit::Type::association;
    e.outcome = audit::Outcome::denied;
    e.actor = "EVIL";
    e.source = "127.0.0.1";
    e.reason = "calling AE not registered";
    (*log)->record(e);
    e.type = audit::Type::query;
    e.outcome = audit::Outcome::success;
    e.patient_id = "PAT\"1";
    e.details = {{"(0010,0020)", "PAT\"1"}};
    (*log)->record(e);
  }
  auto l = lines(dir / "audit.jsonl");
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0],
            R"({"time":"2027-01-15T08:00:00.000Z","type":"association","outcome":"denied","actor":"EVIL","source":"127.0.0.1","reason":"calling AE not registered"})");
  EXPECT_NE(l[1].find(R"("patient_id":"PAT\"1")"), std::string::npos);
  EXPECT_NE(l[1].find(R"x("details":{"(0010,0020)":"PAT\"1"})x"), std::string::npos);
  EXPECT_EQ(fs::status(dir / "audit.jsonl").permissions() & fs::perms::others_read, fs::perms::none);
  fs::remove_all(dir);
}

TEST(AuditLog, NeverInterleavesConcurrentEvents) {
  auto dir = fs::temp_directory_path() / ("tresor-audit-mt-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  FixedClock clock;
  {
    auto log = std::move(*audit::open_jsonl_log(dir / "audit.jsonl", clock));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 500; ++i) {
          audit::Event e;
          e.type = audit::Type::store;
          e.actor = "AE" + std::to_string(t);
          e.reason = std::string(200, 'x');
          log->record(e);
        }
      });
    for (auto& th : threads) th.join();
  }
  auto l = lines(dir / "audit.jsonl");
  ASSERT_EQ(l.size(), 2000u);
  for (const auto& line : l) {
    ASSERT_EQ(line.front(), '{');
    ASSERT_EQ(line.back(), '}');
  }
  fs::remove_all(dir);
}
