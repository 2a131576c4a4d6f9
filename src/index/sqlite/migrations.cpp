#include "index/sqlite/migrations.h"
#include <chrono>
#include <string>
#include "core/clock.h"
#include "index/sqlite/db.h"
#include "index/sqlite/migrations_sql.h"

namespace tresor::index::sqlite {

std::span<const Migration> embedded_migrations() { return kEmbeddedMigrations; }

Status migrate(Connection& c, std::span<const Migration> migrations) {
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1)
      return std::unexpected(make_error(Errc::internal, "index: migrations are not numbered 1..N"));
  }
  if (auto s = c.exec("CREATE TABLE IF NOT EXISTS schema_version ("
                      " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)");
      !s)
    return s;

  // What is already applied must be a prefix of what we know.
  int applied = 0;
  {
    auto st = c.prepare("SELECT version, name FROM schema_version ORDER BY version");
    if (!st) return std::unexpected(st.error());
    for (;;) {
      auto row = st->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      const auto version = st->int64(0);
      if (version != applied + 1)
        return std::unexpected(make_error(Errc::corrupt, "index: schema_version has a gap"));
      if (version > static_cast<std::int64_t>(migrations.size()))
        return std::unexpected(make_error(Errc::unsupported,
                                          "index: database schema is newer than this build (version " +
                                              std::to_string(version) + ")"));
      if (st->text(1) != migrations[static_cast<std::size_t>(version - 1)].name)
        return std::unexpected(make_error(Errc::corrupt, "index: schema_version names differ from this build"));
      applied = static_cast<int>(version);
    }
  }

  for (std::size_t i = static_cast<std::size_t>(applied); i < migrations.size(); ++i) {
    const Migration& m = migrations[i];
    auto tx = Transaction::begin_immediate(c);
    if (!tx) return std::unexpected(tx.error());
    {
      // Another process may have applied it since we looked.
      auto cur = c.prepare("SELECT coalesce(max(version), 0) FROM schema_version");
      if (!cur) return std::unexpected(cur.error());
      auto row = cur->step();
      if (!row) return std::unexpected(row.error());
      if (cur->int64(0) >= m.version) continue;
    }
    if (auto s = c.exec(m.sql); !s)
      return std::unexpected(make_error(s.error().code, "index: migration " + std::to_string(m.version) + " (" +
                                                            m.name + ") failed: " + s.error().message));
    auto ins = c.prepare("INSERT INTO schema_version (version, name, applied_at) VALUES (?1, ?2, ?3)");
    if (!ins) return std::unexpected(ins.error());
    ins->bind(1, std::int64_t{m.version}).bind(2, m.name).bind(3, to_rfc3339(std::chrono::system_clock::now()));
    if (auto s = ins->run(); !s) return s;
    if (auto s = tx->commit(); !s) return s;
  }
  return {};
}

} // namespace tresor::index::sqlite
