// Shared helpers for the index unit tests: a temporary database directory,
// record builders and result accessors.
#pragma once
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <cstdint>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>
#include "crypto/keyring.h"
#include "index/index.h"
#include "index/sqlite/crypt_vfs.h"

namespace tresor::index::test {

class TempDir {
public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("tresor-index-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

inline InstanceRecord make_record(const std::string& patient_id, const std::string& study_uid,
                                  const std::string& series_uid, const std::string& sop_uid) {
  InstanceRecord r;
  r.specific_character_set = "ISO_IR 192";
  r.patient_id = patient_id;
  r.patient_name = "NAME^" + patient_id;
  r.patient_birth_date = "19700101";
  r.patient_sex = "O";
  r.study_uid = study_uid;
  r.study_date = "20200101";
  r.study_time = "120000";
  r.series_uid = series_uid;
  r.modality = "CT";
  r.series_number = "1";
  r.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  r.sop_instance_uid = sop_uid;
  r.instance_number = "1";
  r.transfer_syntax_uid = "1.2.840.10008.1.2.1";
  r.rows = "512";
  r.columns = "512";
  return r;
}

inline BlobInfo blob_for(const std::string& sop_uid, const std::string& variant = "") {
  BlobInfo b;
  b.digest = "sha256-" + sop_uid + variant;
  b.key = b.digest;
  b.size = 1000 + sop_uid.size();
  return b;
}

inline std::string value_of(const ResultRow& row, Tag tag) {
  for (const auto& a : row)
    if (a.tag == tag) return a.value;
  ADD_FAILURE() << "tag " << std::hex << tag << " missing from result row";
  return {};
}

// The values of `tag` over all rows, sorted.
inline std::vector<std::string> column(const std::vector<ResultRow>& rows, Tag tag) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(value_of(r, tag));
  std::sort(out.begin(), out.end());
  return out;
}

inline QueryRequest request(QueryModel model, Level level, AttrList keys) {
  QueryRequest q;
  q.model = model;
  q.level = level;
  q.keys = std::move(keys);
  return q;
}

// The index key of IndexTest databases: they are encrypted like the
// product's (index/sqlite/crypt_vfs.h), so every index test runs through the VFS.
inline const crypto::SecretKey& test_key() {
  static const crypto::SecretKey key = crypto::SecretKey::random();
  return key;
}

inline bool is_plaintext_sqlite(const std::filesystem::path& file) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) return true;  // a new database: plaintext unless opened encrypted
  char head[16] = {};
  const std::size_t n = std::fread(head, 1, sizeof head, f);
  std::fclose(f);
  return n == 0 || std::string(head, n) == std::string("SQLite format 3\0", 16);
}

// Direct read access to the database file, for checks the API does not
// expose: through the encrypting VFS with test_key() unless the file is a
// plaintext database.
class RawDb {
public:
  explicit RawDb(const std::filesystem::path& file) {
    if (!is_plaintext_sqlite(file)) {
      auto vfs = sqlite::CryptVfs::create(test_key());
      EXPECT_TRUE(vfs.has_value());
      if (vfs) vfs_ = std::move(*vfs);
    }
    EXPECT_EQ(sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE, vfs_ ? vfs_->name().c_str() : nullptr),
              SQLITE_OK);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  // Rows of one statement, columns joined by '|'. `params` bind ?1..?N as text.
  std::vector<std::string> rows(const std::string& sql, const std::vector<std::string>& params = {},
                                std::int64_t limit_param = -1) {
    std::vector<std::string> out;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sqlite3_errmsg(db_) << " in " << sql;
      return out;
    }
    int n = 0;
    for (const auto& p : params) sqlite3_bind_text(st, ++n, p.c_str(), -1, SQLITE_TRANSIENT);
    if (limit_param >= 0) sqlite3_bind_int64(st, n + 1, limit_param);
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::string row;
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        if (c) row += '|';
        auto* t = sqlite3_column_text(st, c);
        row += t ? reinterpret_cast<const char*>(t) : "";
      }
      out.push_back(row);
    }
    sqlite3_finalize(st);
    return out;
  }

private:
  std::unique_ptr<sqlite::CryptVfs> vfs_;  // outlives db_
  sqlite3* db_ = nullptr;
};

class IndexTest : public ::testing::Test {
protected:
  void SetUp() override { reopen(); }
  void reopen() {
    index_.reset();
    auto opened = open_sqlite(db_file(), test_key());
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    index_ = std::move(*opened);
  }
  std::filesystem::path db_file() const { return dir_.path() / "index.db"; }
  InsertOutcome store(const InstanceRecord& r, const std::string& variant = "") {
    auto res = index_->insert(r, blob_for(r.sop_instance_uid, variant));
    EXPECT_TRUE(res.has_value()) << res.error().message;
    return res ? res->outcome : InsertOutcome::conflict;
  }
  std::vector<ResultRow> find(const QueryRequest& q, std::size_t limit = 1000) {
    auto res = index_->find(q, limit);
    EXPECT_TRUE(res.has_value()) << res.error().message;
    return res ? *res : std::vector<ResultRow>{};
  }

  TempDir dir_;
  std::unique_ptr<SqliteIndex> index_;
};

} // namespace tresor::index::test
