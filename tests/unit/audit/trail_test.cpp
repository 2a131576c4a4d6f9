// The stored audit trail: records, chain, encryption, checkpoints, rotation,
// and verify_trail() finding every kind of tampering.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "audit/audit.h"
#include "audit/trail.h"
#include "crypto/keyring.h"

using namespace tresor;
namespace fs = std::filesystem;

namespace {
struct FixedClock : Clock {
  std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  }
};

struct TempDir {
  fs::path root;
  explicit TempDir(const std::string& name)
      : root(fs::temp_directory_path() / ("tresor-trail-" + name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(root);
  }
  ~TempDir() { fs::remove_all(root); }
  fs::path audit() const { return root / "audit"; }
};

std::vector<std::string> lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

void write_lines(const fs::path& p, const std::vector<std::string>& ls) {
  std::ofstream out(p, std::ios::trunc);
  for (const auto& l : ls) out << l << '\n';
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<audit::Record> read_all(const fs::path& dir, const crypto::SecretKey* key) {
  std::vector<audit::Record> out;
  auto reader = audit::TrailReader::open(dir, key);
  EXPECT_TRUE(reader) << reader.error().message;
  if (!reader) return out;
  for (;;) {
    auto r = (*reader)->next();
    EXPECT_TRUE(r) << r.error().message;
    if (!r || !*r) break;
    out.push_back(std::move(**r));
  }
  return out;
}

audit::Event store_event(int i) {
  audit::Event e;
  e.type = audit::Type::store;
  e.actor = "MODALITY";
  e.source = "10.0.0." + std::to_string(i % 250);
  e.patient_id = "PAT-CANARY-" + std::to_string(i);
  e.study_uid = "1.2.3." + std::to_string(i);
  return e;
}

// Writes n store events, then closes the log (clean stop: a final checkpoint).
void write_events(const fs::path& dir, const crypto::SecretKey* key, int n, audit::TrailOptions options = {}) {
  FixedClock clock;
  auto log = audit::open_trail_log(dir, clock, key, options);
  ASSERT_TRUE(log) << log.error().message;
  for (int i = 1; i <= n; ++i) (*log)->record(store_event(i));
}

std::string verify_error(const fs::path& dir, const crypto::SecretKey* key) {
  auto r = audit::verify_trail(dir, key);
  return r ? std::string("verified") : r.error().message;
}

// Index (in the file's lines) of the record line with this seq.
std::size_t line_of(const std::vector<std::string>& ls, std::uint64_t seq) {
  const std::string prefix = "{\"seq\":" + std::to_string(seq) + ",";
  for (std::size_t i = 0; i < ls.size(); ++i)
    if (ls[i].starts_with(prefix)) return i;
  ADD_FAILURE() << "no record " << seq;
  return 0;
}
} // namespace

TEST(AuditLog, AppendsOneRecordPerEventWithWhoWhatAndOutcome) {
  TempDir t("basic");
  FixedClock clock;
  {
    auto log = audit::open_trail_log(t.audit(), clock, nullptr);
    ASSERT_TRUE(log) << log.error().message;
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
  auto r = read_all(t.audit(), nullptr);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].seq, 1u);
  EXPECT_EQ(r[1].seq, 2u);
  EXPECT_EQ(r[0].time, "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(r[0].event.type, audit::Type::association);
  EXPECT_EQ(r[0].event.outcome, audit::Outcome::denied);
  EXPECT_EQ(r[0].event.actor, "EVIL");
  EXPECT_EQ(r[0].event.source, "127.0.0.1");
  EXPECT_EQ(r[0].event.reason, "calling AE not registered");
  EXPECT_EQ(r[1].event.patient_id, "PAT\"1");
  ASSERT_EQ(r[1].event.details.size(), 1u);
  EXPECT_EQ(r[1].event.details[0], (std::pair<std::string, std::string>{"(0010,0020)", "PAT\"1"}));
  EXPECT_EQ(r[0].hash.size(), 64u);
  EXPECT_NE(r[0].hash, r[1].hash);
  EXPECT_EQ(fs::status(t.audit() / "audit.jsonl").permissions() & (fs::perms::group_all | fs::perms::others_all),
            fs::perms::none);
  auto report = audit::verify_trail(t.audit(), nullptr);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->records, 2u);
  EXPECT_EQ(report->checkpoints, 1u);  // the clean stop's
}

TEST(AuditLog, NeverInterleavesConcurrentEvents) {
  TempDir t("mt");
  FixedClock clock;
  {
    auto log = std::move(*audit::open_trail_log(t.audit(), clock, nullptr));
    std::vector<std::thread> threads;
    for (int th = 0; th < 4; ++th)
      threads.emplace_back([&, th] {
        for (int i = 0; i < 500; ++i) {
          audit::Event e;
          e.type = audit::Type::store;
          e.actor = "AE" + std::to_string(th);
          e.reason = std::string(200, 'x');
          log->record(e);
        }
      });
    for (auto& th : threads) th.join();
  }
  auto r = read_all(t.audit(), nullptr);
  ASSERT_EQ(r.size(), 2000u);
  for (std::size_t i = 0; i < r.size(); ++i) ASSERT_EQ(r[i].seq, i + 1);
  auto report = audit::verify_trail(t.audit(), nullptr);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->last_seq, 2000u);
}

TEST(AuditLog, TwoWritersOfTheSameTrailShareOneSequenceAndChain) {
  TempDir t("two");
  FixedClock clock;
  {
    auto a = audit::open_trail_log(t.audit(), clock, nullptr);  // e.g. `tresor serve` ...
    auto b = audit::open_trail_log(t.audit(), clock, nullptr);  // ... and a CLI command meanwhile
    ASSERT_TRUE(a && b);
    for (int i = 0; i < 50; ++i) ((i % 3) ? *a : *b)->record(store_event(i));
  }
  auto r = read_all(t.audit(), nullptr);
  ASSERT_EQ(r.size(), 50u);
  EXPECT_EQ(r.back().seq, 50u);
  EXPECT_EQ(verify_error(t.audit(), nullptr), "verified");
}

TEST(AuditLog, EncryptedRecordsShowNoPatientDataAndOpenOnlyWithTheKey) {
  TempDir t("enc");
  auto key = crypto::SecretKey::random();
  write_events(t.audit(), &key, 20);
  const std::string bytes = slurp(t.audit() / "audit.jsonl");
  EXPECT_EQ(bytes.find("CANARY"), std::string::npos);
  EXPECT_EQ(bytes.find("MODALITY"), std::string::npos);
  auto r = read_all(t.audit(), &key);
  ASSERT_EQ(r.size(), 20u);
  EXPECT_EQ(r[4].event.patient_id, "PAT-CANARY-5");
  EXPECT_EQ(verify_error(t.audit(), &key), "verified");
  auto other = crypto::SecretKey::random();
  EXPECT_NE(verify_error(t.audit(), &other), "verified");
  // The signing key is stored encrypted as well, and 0600.
  struct stat st {};
  ASSERT_EQ(::stat((t.root / "keys" / "audit-sign.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(fs::exists(t.root / "keys" / "audit-sign.pub"));
  // A writer with the wrong key refuses to start rather than fork the chain.
  FixedClock clock;
  auto wrong = audit::open_trail_log(t.audit(), clock, &other);
  ASSERT_FALSE(wrong);
}

TEST(AuditVerify, NamesAnAlteredRecord) {
  TempDir t("edit");
  write_events(t.audit(), nullptr, 10);
  auto ls = lines(t.audit() / "audit.jsonl");
  auto& l = ls[line_of(ls, 4)];
  l.replace(l.find("PAT-CANARY-4"), 12, "PAT-CANARY-X");
  write_lines(t.audit() / "audit.jsonl", ls);
  const std::string e = verify_error(t.audit(), nullptr);
  EXPECT_NE(e.find("seq 4"), std::string::npos) << e;
  EXPECT_NE(e.find("altered"), std::string::npos) << e;
  EXPECT_NE(e.find("audit.jsonl"), std::string::npos) << e;
}

TEST(AuditVerify, NamesAnAlteredEncryptedRecord) {
  TempDir t("edit-enc");
  auto key = crypto::SecretKey::random();
  write_events(t.audit(), &key, 10);
  auto ls = lines(t.audit() / "audit.jsonl");
  auto& l = ls[line_of(ls, 6)];
  const std::size_t p = l.find("\"box\":\"") + 20;
  l[p] = l[p] == 'A' ? 'B' : 'A';
  write_lines(t.audit() / "audit.jsonl", ls);
  const std::string e = verify_error(t.audit(), &key);
  EXPECT_NE(e.find("seq 6"), std::string::npos) << e;
  EXPECT_NE(e.find("does not decrypt"), std::string::npos) << e;
}

TEST(AuditVerify, NamesADeletedRecord) {
  TempDir t("delete");
  write_events(t.audit(), nullptr, 10);
  auto ls = lines(t.audit() / "audit.jsonl");
  ls.erase(ls.begin() + static_cast<long>(line_of(ls, 5)));
  write_lines(t.audit() / "audit.jsonl", ls);
  const std::string e = verify_error(t.audit(), nullptr);
  EXPECT_NE(e.find("seq 5 missing"), std::string::npos) << e;
}

TEST(AuditVerify, NamesARecordDeletedJustBeforeACheckpoint) {
  TempDir t("delete-cp");
  audit::TrailOptions o;
  o.checkpoint_records = 4;
  write_events(t.audit(), nullptr, 6, o);
  auto ls = lines(t.audit() / "audit.jsonl");
  ls.erase(ls.begin() + static_cast<long>(line_of(ls, 4)));
  write_lines(t.audit() / "audit.jsonl", ls);
  const std::string e = verify_error(t.audit(), nullptr);
  EXPECT_NE(e.find("seq 4 missing before the checkpoint at seq 4"), std::string::npos) << e;
}

TEST(AuditVerify, NamesSwappedRecords) {
  TempDir t("swap");
  auto key = crypto::SecretKey::random();
  write_events(t.audit(), &key, 10);
  auto ls = lines(t.audit() / "audit.jsonl");
  std::swap(ls[line_of(ls, 3)], ls[line_of(ls, 7)]);
  write_lines(t.audit() / "audit.jsonl", ls);
  const std::string e = verify_error(t.audit(), &key);
  EXPECT_NE(e.find("seq 7: where seq 3 is due (reordered"), std::string::npos) << e;
}

TEST(AuditVerify, NamesATruncationAfterACheckpoint) {
  TempDir t("trunc");
  audit::TrailOptions o;
  o.checkpoint_records = 4;
  write_events(t.audit(), nullptr, 10, o);  // checkpoints at 4, 8 and 10 (the stop)
  EXPECT_EQ(verify_error(t.audit(), nullptr), "verified");
  auto ls = lines(t.audit() / "audit.jsonl");
  ls.resize(line_of(ls, 8) + 2);  // ends with the checkpoint at seq 8
  ASSERT_NE(ls.back().find("checkpoint"), std::string::npos);
  write_lines(t.audit() / "audit.jsonl", ls);
  const std::string e = verify_error(t.audit(), nullptr);
  EXPECT_NE(e.find("truncated: the trail ends at seq 8 but trail.head's signed checkpoint commits to seq 10"),
            std::string::npos)
      << e;
}

TEST(AuditVerify, RejectsAForgedCheckpointSignature) {
  TempDir t("sig");
  audit::TrailOptions o;
  o.checkpoint_records = 4;
  write_events(t.audit(), nullptr, 6, o);
  auto ls = lines(t.audit() / "audit.jsonl");
  auto& l = ls[line_of(ls, 4) + 1];
  ASSERT_NE(l.find("checkpoint"), std::string::npos);
  const std::size_t p = l.find("\"sig\":\"") + 10;
  l[p] = l[p] == 'A' ? 'B' : 'A';
  write_lines(t.audit() / "audit.jsonl", ls);
  const std::string e = verify_error(t.audit(), nullptr);
  EXPECT_NE(e.find("checkpoint at seq 4: the signature does not verify"), std::string::npos) << e;
}

TEST(AuditVerify, FollowsTheChainAcrossRotatedFilesAndNamesTheFile) {
  TempDir t("rotate");
  auto key = crypto::SecretKey::random();
  audit::TrailOptions o;
  o.rotate_bytes = 4096;
  write_events(t.audit(), &key, 100, o);
  std::vector<fs::path> rotated;
  for (const auto& entry : fs::directory_iterator(t.audit()))
    if (entry.path().filename().string().starts_with("audit.0")) rotated.push_back(entry.path());
  std::ranges::sort(rotated);
  ASSERT_GE(rotated.size(), 3u);
  auto report = audit::verify_trail(t.audit(), &key);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->records, 100u);
  EXPECT_EQ(report->files, rotated.size() + 1);
  auto r = read_all(t.audit(), &key);
  ASSERT_EQ(r.size(), 100u);
  for (std::size_t i = 0; i < r.size(); ++i) ASSERT_EQ(r[i].seq, i + 1);
  // seek_after lands in the right file.
  auto reader = audit::TrailReader::open(t.audit(), &key);
  ASSERT_TRUE(reader);
  ASSERT_TRUE((*reader)->seek_after(57));
  auto next = (*reader)->next();
  ASSERT_TRUE(next && *next);
  EXPECT_EQ((*next)->seq, 58u);
  // A removed middle file breaks the chain, named.
  const std::string middle = slurp(rotated[1]);
  fs::remove(rotated[1]);
  std::string e = verify_error(t.audit(), &key);
  EXPECT_NE(e.find(rotated[2].filename().string() + " continues from seq"), std::string::npos) << e;
  { std::ofstream(rotated[1], std::ios::binary) << middle; }
  EXPECT_EQ(verify_error(t.audit(), &key), "verified");
  // An altered record in a rotated file is named with its file.
  auto ls = lines(rotated[0]);
  std::swap(ls[2], ls[3]);
  write_lines(rotated[0], ls);
  e = verify_error(t.audit(), &key);
  EXPECT_NE(e.find(rotated[0].filename().string()), std::string::npos) << e;
  EXPECT_NE(e.find("reordered"), std::string::npos) << e;
}

TEST(AuditLog, CutsATornLastLineAndReportsIt) {
  TempDir t("torn");
  write_events(t.audit(), nullptr, 3);
  { std::ofstream(t.audit() / "audit.jsonl", std::ios::app) << "{\"seq\":4,\"plain\":{\"ha"; }
  EXPECT_NE(verify_error(t.audit(), nullptr).find("incomplete"), std::string::npos);
  write_events(t.audit(), nullptr, 1);
  auto r = read_all(t.audit(), nullptr);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[3].event.type, audit::Type::security_alert);
  EXPECT_NE(r[3].event.reason.find("torn last line"), std::string::npos);
  EXPECT_EQ(r[4].seq, 5u);
  EXPECT_EQ(verify_error(t.audit(), nullptr), "verified");
}

TEST(AuditLog, MovesAnOldFormatLogAsideAndStartsTheChain) {
  TempDir t("legacy");
  fs::create_directories(t.audit());
  write_lines(t.audit() / "audit.jsonl", {R"({"time":"2026-01-01T00:00:00.000Z","type":"store","outcome":"success","actor":"A"})"});
  write_events(t.audit(), nullptr, 2);
  EXPECT_EQ(read_all(t.audit(), nullptr).size(), 2u);
  EXPECT_EQ(verify_error(t.audit(), nullptr), "verified");
  bool aside = false;
  for (const auto& entry : fs::directory_iterator(t.audit()))
    aside |= entry.path().filename().string().starts_with("audit-legacy-");
  EXPECT_TRUE(aside);
}
