// SqliteIndexImpl::read_only_sql (contract in index/index.h).
#include <nlohmann/json.hpp>

#include <cctype>

#include "index/sqlite/sqlite_index.h"

namespace tresor::index::sqlite {

Result<std::vector<std::string>> SqliteIndexImpl::read_only_sql(const std::string& sql, std::size_t max_rows) {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  sqlite3* db = (*lease)->raw();
  sqlite3_stmt* st = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size() + 1), &st, &tail);
  if (rc != SQLITE_OK) return std::unexpected(db_error(db, rc, "prepare"));
  struct Finalize {
    sqlite3_stmt* s;
    ~Finalize() { sqlite3_finalize(s); }
  } guard{st};
  if (!st) return fail(Errc::invalid_argument, "index: no SQL statement given");
  for (const char* p = tail; p && *p; ++p)
    if (!std::isspace(static_cast<unsigned char>(*p)) && *p != ';')
      return fail(Errc::invalid_argument, "index: exactly one SQL statement at a time");
  std::vector<std::string> rows;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (rows.size() >= max_rows) return fail(Errc::too_large, "index: more than " + std::to_string(max_rows) + " rows");
    nlohmann::json row = nlohmann::json::array();
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      switch (sqlite3_column_type(st, c)) {
        case SQLITE_INTEGER: row.push_back(sqlite3_column_int64(st, c)); break;
        case SQLITE_FLOAT: row.push_back(sqlite3_column_double(st, c)); break;
        case SQLITE_NULL: row.push_back(nullptr); break;
        case SQLITE_BLOB: {
          static constexpr char kHex[] = "0123456789abcdef";
          const auto* b = static_cast<const unsigned char*>(sqlite3_column_blob(st, c));
          std::string hex;
          for (int i = 0; i < sqlite3_column_bytes(st, c); ++i) (hex += kHex[b[i] >> 4]) += kHex[b[i] & 15];
          row.push_back(hex);
          break;
        }
        default: {
          const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
          row.push_back(std::string(t ? t : "", static_cast<std::size_t>(sqlite3_column_bytes(st, c))));
        }
      }
    }
    rows.push_back(row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  if (rc != SQLITE_DONE) return std::unexpected(db_error(db, rc, "step"));
  return rows;
}

} // namespace tresor::index::sqlite
