// Thin RAII layer over the SQLite C API, private to src/index.
// Contract:
//  - A Connection is used by one thread at a time (opened with NOMUTEX); the
//    owner (SqliteIndex) provides the locking.
//  - prepare() caches statements by SQL text; a Stmt handle resets and clears
//    its statement when it goes out of scope, so no read transaction is ever
//    left open by a forgotten statement.
//  - Every failure comes back as tresor::Error (no exceptions); messages carry
//    SQLite's text, never bound values.
#pragma once
#include <sqlite3.h>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include "core/error.h"

namespace tresor::index::sqlite {

// Maps an SQLite result code onto Errc (busy/locked -> unavailable, full ->
// resource_exhausted, corrupt/notadb -> corrupt, I/O -> io_error, ...).
Error db_error(sqlite3* db, int rc, std::string_view what);

class Stmt {
public:
  // owned = finalize on destruction (statement not in the cache).
  Stmt(sqlite3_stmt* s, bool owned) : s_(s), owned_(owned) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&& o) noexcept : s_(o.s_), owned_(o.owned_) { o.s_ = nullptr; }
  ~Stmt();

  Stmt& bind(int index, std::string_view text);  // 1-based, copies the text
  Stmt& bind(int index, std::int64_t value);
  Stmt& bind_null(int index);
  // true = a row is available, false = done.
  Result<bool> step();
  // Runs a statement that returns no rows (or ignores them).
  Status run();

  std::string text(int column) const;          // NULL -> ""
  std::int64_t int64(int column) const;
  bool is_null(int column) const;

private:
  sqlite3_stmt* s_;
  bool owned_;
};

class Connection {
public:
  enum class Mode { writer, reader };
  // busy_timeout: how long a statement waits (SQLite retries with short
  // sleeps) for a lock another connection holds before it fails with
  // SQLITE_BUSY (Errc::unavailable).
  // vfs: the VFS name (crypt_vfs.h) or empty for SQLite's default. Through a
  // VFS, a new database gets the fixed page size and reserved bytes the
  // encrypting VFS needs (set before anything is written).
  static Result<std::unique_ptr<Connection>> open(
      const std::filesystem::path& file, Mode mode,
      std::chrono::milliseconds busy_timeout = std::chrono::milliseconds{5000}, const std::string& vfs = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Cached prepared statement (SQLITE_PREPARE_PERSISTENT). The cache is
  // bounded; once full, new SQL gets a one-shot statement instead. A cached
  // statement must not be prepared again while a Stmt for it is alive.
  Result<Stmt> prepare(const std::string& sql);
  // Executes one or more statements without results (DDL, BEGIN, COMMIT).
  Status exec(const char* sql);
  sqlite3* raw() const { return db_; }

private:
  explicit Connection(sqlite3* db) : db_(db) {}
  void clear_cache();
  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// Rolls back an open transaction unless commit() succeeded.
class Transaction {
public:
  static Result<Transaction> begin_immediate(Connection& c);
  Transaction(Transaction&& o) noexcept : c_(o.c_) { o.c_ = nullptr; }
  Transaction(const Transaction&) = delete;
  ~Transaction();
  Status commit();

private:
  explicit Transaction(Connection* c) : c_(c) {}
  Connection* c_;
};

} // namespace tresor::index::sqlite
