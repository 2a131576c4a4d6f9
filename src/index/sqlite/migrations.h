// Versioned schema migrations for the SQLite index.
// Contract:
//  - The migrations are the files src/index/sqlite/migrations/NNN_name.sql,
//    embedded at build time; version NNN starts at 1 and increases by 1.
//  - migrate() runs at open on the writer connection. It records each applied
//    migration in schema_version (version, name, applied_at), applies the
//    missing ones in order, each in its own IMMEDIATE transaction, and never
//    re-runs an applied one. It refuses a database whose recorded versions are
//    newer than this build knows, or whose names differ from the embedded ones.
#pragma once
#include <span>
#include "core/error.h"

namespace tresor::index::sqlite {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

class Connection;

std::span<const Migration> embedded_migrations();
Status migrate(Connection& writer, std::span<const Migration> migrations);

} // namespace tresor::index::sqlite
