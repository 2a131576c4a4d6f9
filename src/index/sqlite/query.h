// Translation of a QueryRequest into one SQL statement (PS3.4 C.2.2.2).
// Contract:
//  - Only keys at or above the request level take part in matching; keys of
//    upper levels constrain the query (relational matching). Keys below the
//    level, unknown tags and return-only keys do not constrain it.
//  - Matching per value (components split on '\' are OR-ed; exact ones become
//    one IN list): empty or all-'*' = universal; '*'/'?' = wildcard, done as a
//    B-tree range on the literal prefix plus GLOB on the rest ('[' escaped);
//    DA/TM 'a-b', '-b', 'a-' = inclusive range (empty stored values never match
//    a range); TM compares by prefix so '1200' covers 120000.5; UI = equality
//    or IN; everything else (including PN) = case-sensitive equality.
//    ModalitiesInStudy / SOPClassesInStudy match when the study has a series /
//    instance with one of the values (ModalitiesInStudy as the only key
//    drives the query from the series_modality index; next to other keys it
//    is a per-study EXISTS probe).
//  - Entities at PATIENT/STUDY/SERIES level need num_instances > 0.
//  - request.scope (set): the study must be in scope (institution IN,
//    referring_physician IN, or a study_label IN; a scope without any
//    non-empty value admits nothing: the predicate is the constant 0). At
//    PATIENT level a patient needs a visible study in scope, and the
//    NumberOfPatientRelated* keys are counted from those studies at query
//    time. Without a scope the SQL is exactly what it was before scopes.
//  - Every value is a bound parameter; SQL text depends only on the shape of
//    the request, so statements are reusable from the cache.
//  - The SQL lives here so tests can EXPLAIN QUERY PLAN it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>
#include "core/error.h"
#include "core/model.h"

namespace tresor::index::sqlite {

struct BuiltQuery {
  std::string sql;                  // parameters ?1..?N are params, ?N+1 is the LIMIT, ?N+2 the OFFSET (if offset > 0)
  std::vector<std::string> params;  // bound as TEXT
  std::int64_t limit = 0;
  std::int64_t offset = 0;          // find() only; 0 = no OFFSET clause (the SQL text then has none)
  // find(): one output per returned key; column < 0 means the constant value.
  struct Output {
    Tag tag = 0;
    int column = -1;
    std::string constant;
  };
  std::vector<Output> outputs;
};

// Bounds on a request (too_large beyond them).
inline constexpr std::size_t kMaxQueryKeys = 256;
inline constexpr std::size_t kMaxQueryValues = 4096;     // total '\'-separated components
inline constexpr std::size_t kMaxQueryValueBytes = 65536;

// find(): one row per entity at the request level; SELECT columns per outputs.
// `offset` > 0 adds OFFSET (SQLite steps over those rows without returning them).
Result<BuiltQuery> build_find(const QueryRequest& request, std::size_t limit, std::size_t offset = 0);
// locate(): one row per instance under the matched entities, columns
// study_uid, series_uid, sop_class, sop_uid, transfer_syntax, patient_id,
// blob_key, size; ordered by study, series number, instance number.
Result<BuiltQuery> build_locate(const QueryRequest& request, std::size_t limit);

} // namespace tresor::index::sqlite
