// Opening an encrypted index: conversion of a plaintext one, the header
// check, and the operator-facing error for pages that do not open
// (contracts in crypt_vfs.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>

#include "index/sqlite/crypt_vfs.h"
#include "index/sqlite/db.h"

namespace tresor::index::sqlite {
namespace {

namespace fs = std::filesystem;

Error sys_error(const std::string& what) {
  return make_error(Errc::io_error, "index: " + what + ": " + std::strerror(errno));
}

bool starts_with_sqlite_magic(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  std::array<char, 16> head{};
  const ssize_t n = ::read(fd, head.data(), head.size());
  ::close(fd);
  return n == 16 && std::memcmp(head.data(), "SQLite format 3", 16) == 0;
}

Status fsync_path(const fs::path& p, int flags) {
  int fd = ::open(p.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return std::unexpected(sys_error("open " + p.filename().string()));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return std::unexpected(sys_error("fsync " + p.filename().string()));
  return {};
}

// file:<path>?vfs=<name> with the path percent-encoded (RFC 3986 unreserved
// characters and '/' kept).
std::string uri_for(const fs::path& file, const std::string& vfs) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string uri = "file:";
  for (unsigned char ch : fs::absolute(file).string()) {
    if (std::isalnum(ch) || ch == '/' || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      uri += static_cast<char>(ch);
    } else {
      uri += '%';
      uri += kHex[ch >> 4];
      uri += kHex[ch & 15];
    }
  }
  return uri + "?vfs=" + vfs;
}

struct RawDb {
  sqlite3* db = nullptr;
  ~RawDb() { sqlite3_close_v2(db); }
};

Status exec_raw(sqlite3* db, const char* sql, const char* what) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) return std::unexpected(db_error(db, rc, what));
  return {};
}

} // namespace

Status encrypt_plaintext_index(const fs::path& file, const CryptVfs& vfs) {
  if (!starts_with_sqlite_magic(file)) return {};
  const std::string refuse =
      "index: " + file.string() +
      " is a plaintext index from before encryption at rest and could not be encrypted in place: ";
  RawDb src;
  int rc = sqlite3_open_v2(file.c_str(), &src.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI,
                           nullptr);
  if (rc != SQLITE_OK) return std::unexpected(db_error(src.db, rc, "open plaintext index"));
  sqlite3_busy_timeout(src.db, 5000);
  // Everything into the main file, so the copy below is the whole index.
  if (auto s = exec_raw(src.db, "PRAGMA wal_checkpoint(TRUNCATE)", "checkpoint plaintext index"); !s)
    return std::unexpected(make_error(s.error().code, refuse + s.error().message +
                                                          " (stop every tresor process using it and retry)"));
  int page_size = 0;
  {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(src.db, "PRAGMA page_size", -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      page_size = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
  }
  if (page_size != kPageSize)
    return fail(Errc::unsupported, refuse + "its page size is " + std::to_string(page_size) + ", not " +
                                       std::to_string(kPageSize) + " (run `sqlite3 " + file.string() +
                                       " 'PRAGMA journal_mode=DELETE; PRAGMA page_size=4096; VACUUM;'` and retry)");
  // VACUUM INTO gives the copy the source's requested reserve.
  int reserve = kReserveBytes;
  sqlite3_file_control(src.db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);

  fs::path tmp = file;
  tmp += ".encrypting";
  std::error_code ec;
  fs::remove(tmp, ec);  // a conversion interrupted before its rename
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return std::unexpected(sys_error("create " + tmp.filename().string()));
  ::close(fd);
  {
    sqlite3_stmt* st = nullptr;
    rc = sqlite3_prepare_v2(src.db, "VACUUM INTO ?1", -1, &st, nullptr);
    if (rc == SQLITE_OK) {
      const std::string uri = uri_for(tmp, vfs.name());
      sqlite3_bind_text(st, 1, uri.c_str(), static_cast<int>(uri.size()), SQLITE_TRANSIENT);
      rc = sqlite3_step(st);
      if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
  }
  if (rc != SQLITE_OK) {
    Error e = db_error(src.db, rc, "copy into the encrypted index");
    fs::remove(tmp, ec);
    return std::unexpected(make_error(e.code, refuse + e.message));
  }
  sqlite3_close_v2(src.db);
  src.db = nullptr;
  {
    // WAL mode now, while a crash only loses the copy: switching later would
    // rewrite page 1 with the journal in memory (crypt_vfs.h).
    RawDb copy;
    rc = sqlite3_open_v2(tmp.c_str(), &copy.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs.name().c_str());
    if (rc == SQLITE_OK) rc = sqlite3_exec(copy.db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      Error e = db_error(copy.db, rc, "switch the encrypted copy to WAL");
      fs::remove(tmp, ec);
      return std::unexpected(make_error(e.code, refuse + e.message));
    }
  }
  if (auto s = fsync_path(tmp, O_RDONLY); !s) return s;
  if (::rename(tmp.c_str(), file.c_str()) != 0) return std::unexpected(sys_error("rename the encrypted index"));
  // The old WAL is empty (truncated above) and its wal-index stale.
  fs::remove(fs::path(file.string() + "-wal"), ec);
  fs::remove(fs::path(file.string() + "-shm"), ec);
  fs::remove(fs::path(tmp.string() + "-wal"), ec);  // checkpointed and normally gone at close
  fs::remove(fs::path(tmp.string() + "-shm"), ec);
  return fsync_path(file.parent_path().empty() ? fs::path(".") : file.parent_path(), O_RDONLY | O_DIRECTORY);
}

Status check_encrypted_index(Connection& c) {
  auto ps = c.prepare("PRAGMA page_size");
  if (!ps) return std::unexpected(ps.error());
  auto row = ps->step();
  if (!row) return std::unexpected(row.error());
  const auto page_size = *row ? ps->int64(0) : 0;
  int reserve = -1;  // query only
  sqlite3_file_control(c.raw(), "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
  if (page_size != kPageSize || reserve != kReserveBytes)
    return fail(Errc::corrupt, "index: the database's page format (page size " + std::to_string(page_size) +
                                   ", reserved bytes " + std::to_string(reserve) +
                                   ") is not the encrypted index format");
  return {};
}

Error explain_open_error(const Error& e) {
  if (e.code != Errc::corrupt) return e;
  return make_error(Errc::corrupt,
                    "index: the database does not decrypt with this key: wrong key file or keyring for this "
                    "instance, or the file is damaged (" +
                        e.message + ")");
}

} // namespace tresor::index::sqlite
