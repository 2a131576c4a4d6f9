// Access scopes and study labels: validation and the stored form of a Scope
// (private to src/index).
// Contract:
//  - A label is 1..64 chars of [A-Za-z0-9_.-].
//  - A storable Scope has at most kMaxScopeEntries entries in total; every
//    entry is non-empty, at most kMaxScopeEntryBytes long and valid UTF-8,
//    and every label is a valid label (invalid_argument / too_large).
//  - encode_scope(nullopt) = SQL NULL (has_value() false); otherwise a JSON
//    object {"institutions":[...],"referring_physicians":[...],"labels":[...]}.
//    decode_scope() is its inverse and reports anything else as corrupt.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include "core/error.h"
#include "core/model.h"

namespace tresor::index::sqlite {

inline constexpr std::size_t kMaxLabelBytes = 64;
inline constexpr std::size_t kMaxLabelsPerStudy = 256;
inline constexpr std::size_t kMaxScopeEntries = 1024;
inline constexpr std::size_t kMaxScopeEntryBytes = 1024;

bool valid_label(std::string_view label) noexcept;
Status check_scope(const Scope& scope);
// Validates, then encodes; nullopt in the result = store NULL.
Result<std::optional<std::string>> encode_scope(const std::optional<Scope>& scope);
// `is_null` = the column was NULL (every study).
Result<std::optional<Scope>> decode_scope(bool is_null, const std::string& text);

class Connection;
// The row id of the study with this UID, on `c` (inside the caller's
// transaction); not_found if there is none.
Result<std::int64_t> study_pk(Connection& c, const std::string& study_uid);

} // namespace tresor::index::sqlite
