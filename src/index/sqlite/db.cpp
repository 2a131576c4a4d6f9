#include "index/sqlite/db.h"

#include "index/sqlite/crypt_vfs.h"

#include <algorithm>
#include <cstdint>

namespace tresor::index::sqlite {
namespace {

constexpr std::size_t kStatementCacheSize = 128;

Errc errc_for(int rc) {
  // A page that does not authenticate (crypt_vfs.h): tampering, damage or a wrong key.
  if (rc == SQLITE_IOERR_DATA) return Errc::corrupt;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Errc::unavailable;
    case SQLITE_FULL: return Errc::resource_exhausted;
    case SQLITE_NOMEM: return Errc::resource_exhausted;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Errc::corrupt;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM: return Errc::io_error;
    case SQLITE_TOOBIG: return Errc::too_large;
    case SQLITE_CONSTRAINT: return Errc::conflict;
    default: return Errc::internal;
  }
}

} // namespace

Error db_error(sqlite3* db, int rc, std::string_view what) {
  std::string msg = "index: ";
  msg += what;
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return make_error(errc_for(rc), std::move(msg));
}

// ---- Stmt ----

Stmt::~Stmt() {
  if (!s_) return;
  if (owned_) {
    sqlite3_finalize(s_);
  } else {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
}

Stmt& Stmt::bind(int index, std::string_view text) {
  sqlite3_bind_text64(s_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Stmt& Stmt::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(s_, index, value);
  return *this;
}

Stmt& Stmt::bind_null(int index) {
  sqlite3_bind_null(s_, index);
  return *this;
}

Result<bool> Stmt::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return std::unexpected(db_error(sqlite3_db_handle(s_), rc, "step"));
}

Status Stmt::run() {
  for (;;) {
    auto r = step();
    if (!r) return std::unexpected(r.error());
    if (!*r) return {};
  }
}

std::string Stmt::text(int column) const {
  const unsigned char* p = sqlite3_column_text(s_, column);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_, column)));
}

std::int64_t Stmt::int64(int column) const { return sqlite3_column_int64(s_, column); }

bool Stmt::is_null(int column) const { return sqlite3_column_type(s_, column) == SQLITE_NULL; }

// ---- Connection ----

Result<std::unique_ptr<Connection>> Connection::open(const std::filesystem::path& file, Mode mode,
                                                    std::chrono::milliseconds busy_timeout, const std::string& vfs) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (mode == Mode::writer) flags |= SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(file.c_str(), &db, flags, vfs.empty() ? nullptr : vfs.c_str());
  if (rc != SQLITE_OK) {
    Error e = db_error(db, rc, "open");
    sqlite3_close_v2(db);
    return std::unexpected(e);
  }
  std::unique_ptr<Connection> c(new Connection(db));
  // Hardening: no schema-embedded code runs with our privileges, no writes
  // to sqlite_schema, no double-quoted string literals.
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, nullptr);
  sqlite3_extended_result_codes(db, 1);
  // Bounded wait for a lock held by another connection (in WAL mode: another
  // writer, e.g. `tresor import` beside `serve`; a reader never blocks us).
  const auto ms = std::clamp<std::chrono::milliseconds::rep>(busy_timeout.count(), 0, INT32_MAX);
  sqlite3_busy_timeout(db, static_cast<int>(ms));

  if (!vfs.empty()) {
    // Only takes effect while the file is empty; an existing database keeps
    // its header's values (checked by SqliteIndexImpl::open).
    int reserve = kReserveBytes;
    sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
    static_assert(kPageSize == 4096);
    if (auto s = c->exec("PRAGMA page_size=4096;"); !s) return std::unexpected(s.error());
  }
  const char* common =
      "PRAGMA foreign_keys=ON;"
      "PRAGMA synchronous=NORMAL;"
      "PRAGMA temp_store=MEMORY;";
  if (auto s = c->exec(common); !s) return std::unexpected(s.error());
  // Page cache: 32 MiB for the one writer, 8 MiB for each pooled reader (at
  // most kMaxReaders of them: sqlite_index.cpp), so the index's memory stays
  // bounded however many associations and HTTP requests query at once.
  if (auto s = c->exec(mode == Mode::writer ? "PRAGMA cache_size=-32768;" : "PRAGMA cache_size=-8192;"); !s)
    return std::unexpected(s.error());
  if (mode == Mode::writer) {
    // journal_mode returns a row; WAL is persistent in the file.
    auto st = c->prepare("PRAGMA journal_mode=WAL");
    if (!st) return std::unexpected(st.error());
    auto row = st->step();
    if (!row) return std::unexpected(row.error());
    if (!*row || st->text(0) != "wal") return std::unexpected(make_error(Errc::io_error, "index: cannot enable WAL"));
    // An insert dirties ~8 pages; checkpointing (two fsyncs) every 1000 pages
    // would cost an fsync pair every ~100 inserts. Checkpoint every 64 MiB of
    // WAL instead, and truncate the WAL back to that size afterwards.
    if (auto s = c->exec("PRAGMA wal_autocheckpoint=16384; PRAGMA journal_size_limit=67108864;"); !s)
      return std::unexpected(s.error());
  } else {
    if (auto s = c->exec("PRAGMA query_only=ON;"); !s) return std::unexpected(s.error());
  }
  return c;
}

Connection::~Connection() {
  clear_cache();
  sqlite3_close_v2(db_);
}

void Connection::clear_cache() {
  for (auto& [sql, s] : cache_) sqlite3_finalize(s);
  cache_.clear();
}

Result<Stmt> Connection::prepare(const std::string& sql) {
  if (auto it = cache_.find(sql); it != cache_.end()) return Stmt(it->second, false);
  const bool cache = cache_.size() < kStatementCacheSize;
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size() + 1),
                              cache ? SQLITE_PREPARE_PERSISTENT : 0, &s, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(db_error(db_, rc, "prepare"));
  if (!s) return std::unexpected(make_error(Errc::internal, "index: empty statement"));
  if (!cache) return Stmt(s, true);
  cache_.emplace(sql, s);
  return Stmt(s, false);
}

Status Connection::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) return std::unexpected(db_error(db_, rc, "exec"));
  return {};
}

// ---- Transaction ----

Result<Transaction> Transaction::begin_immediate(Connection& c) {
  if (auto s = c.exec("BEGIN IMMEDIATE"); !s) return std::unexpected(s.error());
  return Transaction(&c);
}

Transaction::~Transaction() {
  if (c_ && !sqlite3_get_autocommit(c_->raw())) (void)c_->exec("ROLLBACK");
}

Status Transaction::commit() {
  auto s = c_->exec("COMMIT");
  if (s) c_ = nullptr;
  return s;
}

} // namespace tresor::index::sqlite
