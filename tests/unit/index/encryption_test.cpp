// The index encrypted at rest (src/index/sqlite/crypt_vfs.h): no plaintext in
// the database or its WAL, wrong keys and flipped bytes refused as corrupt,
// WAL crash safety through the VFS, conversion of a plaintext index.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "crypto/keyring.h"
#include "index/sqlite/crypt_vfs.h"
#include "index_test_support.h"

namespace tresor::index::test {
namespace {

namespace fs = std::filesystem;
using crypto::SecretKey;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

SecretKey copy_of(const SecretKey& k) {
  return std::move(*SecretKey::from_bytes(std::string_view(reinterpret_cast<const char*>(k.data()), k.size())));
}

// Every spelling of `s` a byte scan should look for: as is, lower case,
// UTF-16LE and UTF-16BE.
std::vector<std::string> spellings(const std::string& s) {
  std::string lower = s, le, be;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (char c : s) {
    le += c, le += '\0';
    be += '\0', be += c;
  }
  return {s, lower, le, be};
}

void expect_no_plaintext(const fs::path& file, const std::vector<std::string>& secrets) {
  const std::string bytes = read_all(file);
  for (const auto& secret : secrets)
    for (const auto& s : spellings(secret))
      EXPECT_EQ(bytes.find(s), std::string::npos) << file.filename() << " contains " << secret;
}

// A raw connection through the encrypting VFS, for PRAGMA integrity_check.
std::string integrity_check(const fs::path& file, const SecretKey& key) {
  auto vfs = index::sqlite::CryptVfs::create(key);
  if (!vfs) return vfs.error().message;
  sqlite3* db = nullptr;
  std::string result;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, (*vfs)->name().c_str()) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) result += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    } else {
      result = sqlite3_errmsg(db);
    }
    if (result.empty()) result = sqlite3_errmsg(db);
    sqlite3_finalize(st);
  } else {
    result = sqlite3_errmsg(db);
  }
  sqlite3_close_v2(db);
  return result;
}

InstanceRecord canary_record(int i) {
  auto r = make_record("CANARYID" + std::to_string(i), "1.2.3." + std::to_string(i), "1.2.3." + std::to_string(i) + ".1",
                       "1.2.3." + std::to_string(i) + ".1.1");
  r.patient_name = "Zyxwvut^Canaryqq" + std::to_string(i);
  r.patient_birth_date = "19230817";
  r.institution_name = "Canary Institute";
  r.accession_number = "ACCCANARY" + std::to_string(i);
  return r;
}

class EncryptedIndex : public ::testing::Test {
protected:
  fs::path db_file() const { return dir_.path() / "index.db"; }
  std::unique_ptr<SqliteIndex> open_with(const SecretKey& key) {
    auto opened = open_sqlite(db_file(), key);
    EXPECT_TRUE(opened.has_value()) << opened.error().message;
    return opened ? std::move(*opened) : nullptr;
  }
  std::size_t count_patients(SqliteIndex& idx) {
    auto rows = idx.find(request(QueryModel::patient_root, Level::patient, {{tags::PatientID, ""}}), 100000);
    EXPECT_TRUE(rows.has_value()) << rows.error().message;
    return rows ? rows->size() : 0;
  }

  TempDir dir_;
  SecretKey key_ = SecretKey::random();
};

TEST_F(EncryptedIndex, DatabaseAndWalHoldNoPlaintextOfInsertedNames) {
  const std::vector<std::string> secrets = {"Zyxwvut^Canaryqq", "Zyxwvut", "Canaryqq", "CANARYID", "19230817",
                                            "ACCCANARY", "Canary Institute"};
  auto idx = open_with(key_);
  ASSERT_TRUE(idx);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(idx->insert(canary_record(i), blob_for(canary_record(i).sop_instance_uid)));
  // A quarantined copy (conflicting demographics) lands in the quarantine table.
  auto conflicting = canary_record(0);
  conflicting.sop_instance_uid += ".9";
  conflicting.patient_name = "Zyxwvut^Canaryqq^Other";
  ASSERT_TRUE(idx->insert(conflicting, blob_for(conflicting.sop_instance_uid)));
  ASSERT_EQ(count_patients(*idx), 50u);
  // Open: the rows are in the WAL.
  ASSERT_TRUE(fs::exists(db_file().string() + "-wal"));
  EXPECT_GT(fs::file_size(db_file().string() + "-wal"), 0u);
  expect_no_plaintext(db_file(), secrets);
  expect_no_plaintext(db_file().string() + "-wal", secrets);
  if (fs::exists(db_file().string() + "-shm")) expect_no_plaintext(db_file().string() + "-shm", secrets);
  EXPECT_EQ(read_all(db_file()).find("SQLite format 3"), std::string::npos);
  idx.reset();  // checkpoint into the main file
  expect_no_plaintext(db_file(), secrets);
  auto again = open_with(key_);
  ASSERT_TRUE(again);
  EXPECT_EQ(count_patients(*again), 50u);
}

TEST_F(EncryptedIndex, PlainSqliteSeesNoDatabase) {
  {
    auto idx = open_with(key_);
    ASSERT_TRUE(idx);
    ASSERT_TRUE(idx->insert(canary_record(1), blob_for(canary_record(1).sop_instance_uid)));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_file().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_schema", -1, &st, nullptr), SQLITE_NOTADB);
  sqlite3_finalize(st);
  sqlite3_close_v2(db);
  // Nor does the plaintext overload.
  auto plain = open_sqlite(db_file());
  ASSERT_FALSE(plain.has_value());
  EXPECT_EQ(plain.error().code, Errc::corrupt);
}

TEST_F(EncryptedIndex, WrongKeyFailsToOpenWithAClearError) {
  {
    auto idx = open_with(key_);
    ASSERT_TRUE(idx);
    ASSERT_TRUE(idx->insert(canary_record(1), blob_for(canary_record(1).sop_instance_uid)));
  }
  const SecretKey other = SecretKey::random();
  auto opened = open_sqlite(db_file(), other);
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code, Errc::corrupt);
  EXPECT_NE(opened.error().message.find("does not decrypt with this key"), std::string::npos) << opened.error().message;
  // The right key still opens it: the failed attempt changed nothing.
  auto idx = open_with(key_);
  ASSERT_TRUE(idx);
  EXPECT_EQ(count_patients(*idx), 1u);
}

TEST_F(EncryptedIndex, FlippedByteInAPageIsReportedAsCorrupt) {
  std::int64_t root_page = 0;
  {
    auto idx = open_with(key_);
    ASSERT_TRUE(idx);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(idx->insert(canary_record(i), blob_for(canary_record(i).sop_instance_uid)));
  }
  {
    auto vfs = index::sqlite::CryptVfs::create(key_);
    ASSERT_TRUE(vfs);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(db_file().c_str(), &db, SQLITE_OPEN_READONLY, (*vfs)->name().c_str()), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_schema WHERE name = 'patient'", -1, &st, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    root_page = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close_v2(db);
  }
  ASSERT_GT(root_page, 1);
  {
    std::fstream f(db_file(), std::ios::in | std::ios::out | std::ios::binary);
    const auto at = (root_page - 1) * index::sqlite::kPageSize + 2000;
    f.seekg(at);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x01);
    f.seekp(at);
    f.write(&c, 1);
  }
  auto idx = open_with(key_);
  ASSERT_TRUE(idx);
  auto rows = idx->find(request(QueryModel::patient_root, Level::patient, {{tags::PatientName, ""}}), 10);
  ASSERT_FALSE(rows.has_value()) << "a tampered page was served";
  EXPECT_EQ(rows.error().code, Errc::corrupt) << rows.error().message;
}

TEST_F(EncryptedIndex, FlippedByteInPageOneFailsTheOpen) {
  {
    auto idx = open_with(key_);
    ASSERT_TRUE(idx);
  }
  {
    std::fstream f(db_file(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(50);
    f.put('\x5a');
  }
  auto opened = open_sqlite(db_file(), key_);
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code, Errc::corrupt);
}

// A writer killed at random points mid-transaction: every insert it reported
// committed is there after reopening, and the database is consistent.
TEST_F(EncryptedIndex, WalSurvivesAWriterKilledMidWrite) {
  for (int round = 0; round < 3; ++round) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(ready[0]);
      auto opened = open_sqlite(db_file(), key_);
      if (!opened) ::_exit(2);
      for (int i = round * 100000;; ++i) {
        auto r = canary_record(i);
        if (!(*opened)->insert(r, blob_for(r.sop_instance_uid))) ::_exit(3);
        const char one = 1;
        if (::write(ready[1], &one, 1) != 1) ::_exit(4);
      }
    }
    ::close(ready[1]);
    std::size_t committed = 0;
    char buf[64];
    while (committed < 150u + 70u * static_cast<unsigned>(round)) {
      const ssize_t n = ::read(ready[0], buf, sizeof buf);
      ASSERT_GT(n, 0) << "the writer died early";
      committed += static_cast<std::size_t>(n);
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    while (true) {  // acknowledgements written before the kill
      const ssize_t n = ::read(ready[0], buf, sizeof buf);
      if (n <= 0) break;
      committed += static_cast<std::size_t>(n);
    }
    ::close(ready[0]);
    EXPECT_EQ(integrity_check(db_file(), key_), "ok");
    auto idx = open_with(key_);
    ASSERT_TRUE(idx);
    EXPECT_GE(count_patients(*idx), committed);
  }
}

TEST_F(EncryptedIndex, PlaintextIndexIsEncryptedInPlaceOnOpen) {
  {
    auto plain = open_sqlite(db_file());
    ASSERT_TRUE(plain.has_value()) << plain.error().message;
    for (int i = 0; i < 20; ++i)
      ASSERT_TRUE((*plain)->insert(canary_record(i), blob_for(canary_record(i).sop_instance_uid)));
  }
  ASSERT_NE(read_all(db_file()).find("Zyxwvut"), std::string::npos);  // the premise
  auto idx = open_with(key_);
  ASSERT_TRUE(idx);
  EXPECT_EQ(count_patients(*idx), 20u);
  ASSERT_TRUE(idx->insert(canary_record(20), blob_for(canary_record(20).sop_instance_uid)));
  idx.reset();
  expect_no_plaintext(db_file(), {"Zyxwvut", "CANARYID", "19230817"});
  EXPECT_FALSE(fs::exists(db_file().string() + ".encrypting"));
  EXPECT_EQ(fs::status(db_file()).permissions() & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
  EXPECT_EQ(integrity_check(db_file(), key_), "ok");
  auto again = open_with(key_);
  ASSERT_TRUE(again);
  EXPECT_EQ(count_patients(*again), 21u);
}

TEST_F(EncryptedIndex, TwoKeysInOneProcessStayApart) {
  TempDir other_dir;
  const SecretKey other_key = SecretKey::random();
  auto a = open_with(key_);
  auto b = open_sqlite(other_dir.path() / "index.db", other_key);
  ASSERT_TRUE(a);
  ASSERT_TRUE(b.has_value()) << b.error().message;
  ASSERT_TRUE(a->insert(canary_record(1), blob_for(canary_record(1).sop_instance_uid)));
  ASSERT_TRUE((*b)->insert(canary_record(2), blob_for(canary_record(2).sop_instance_uid)));
  EXPECT_EQ(count_patients(*a), 1u);
  EXPECT_EQ(count_patients(**b), 1u);
  a.reset();
  b->reset();
  EXPECT_FALSE(open_sqlite(other_dir.path() / "index.db", key_).has_value());
  auto reopened = open_sqlite(other_dir.path() / "index.db", copy_of(other_key));
  ASSERT_TRUE(reopened.has_value()) << reopened.error().message;
}

// `tresor index sql` replaces the sqlite3 CLI, which cannot read the index.
TEST_F(EncryptedIndex, ReadOnlySqlAnswersOneStatementAndRefusesWrites) {
  auto idx = open_with(key_);
  ASSERT_TRUE(idx);
  ASSERT_TRUE(idx->insert(canary_record(1), blob_for(canary_record(1).sop_instance_uid)));
  auto rows = idx->read_only_sql("SELECT name, num_instances, NULL FROM patient", 10);
  ASSERT_TRUE(rows.has_value()) << rows.error().message;
  EXPECT_EQ(*rows, std::vector<std::string>{R"(["Zyxwvut^Canaryqq1",1,null])"});
  auto write = idx->read_only_sql("DELETE FROM patient", 10);
  ASSERT_FALSE(write.has_value());
  auto two = idx->read_only_sql("SELECT 1; SELECT 2", 10);
  ASSERT_FALSE(two.has_value());
  EXPECT_EQ(two.error().code, Errc::invalid_argument);
  auto many = idx->read_only_sql(
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20) SELECT x FROM c", 10);
  EXPECT_FALSE(many.has_value());
  EXPECT_EQ(count_patients(*idx), 1u);
}

} // namespace
} // namespace tresor::index::test
