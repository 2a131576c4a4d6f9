// "Who saw what": every access to one patient's data, from the audit trail
// (GDPR art. 15, HIPAA 164.312(b)). One function over a TrailReader, shared
// by `tresor audit report` and GET /api/audit/report.
//
// Contract:
//  - an event concerns the patient when its patient_id (one ID or a
//    '\'-separated list) holds the ID, or, for a query, when the patients of
//    its results (detail "result_patients", services/query.cpp) hold it;
//  - the kinds reported are the accesses: queries that returned (or looked
//    for) the patient, retrieves (C-GET, WADO), moves (C-MOVE, with the
//    destination), viewer sessions (DICOM Instances Accessed, with the
//    instance count), exports, deletions, patient record changes, and reads
//    of the audit trail about the patient; refused and failed attempts are
//    listed too, with their outcome, but not counted as accesses;
//  - the window is since <= time < until (RFC 3339 UTC text; a prefix such as
//    "2026-11-28" works, both optional);
//  - `admit` applies the requester's scope: when set, an event is listed only
//    if it names studies and every one of them is admitted; events naming no
//    study (a query by patient, a patient record change) are then left out;
//  - build_report() records its own use: one Type::audit_log_used event
//    (actor/user/source of `requester`, the patient, the window, the number
//    of entries), written after the trail was read, also when reading failed;
//  - at most max_entries entries (the newest are dropped; `truncated` says so).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit.h"
#include "audit/trail.h"
#include "core/error.h"

namespace tresor::audit {

struct ReportQuery {
  std::string patient_id;
  std::string since;  // "" = from the start
  std::string until;  // "" = to the end
};

struct ReportEntry {
  std::uint64_t seq = 0;
  std::string time;
  Type type = Type::query;
  Outcome outcome = Outcome::success;
  std::string what;        // "query", "retrieve", "viewer session", ...
  std::string actor, user, source;
  std::string study_uid;   // one or '\'-separated
  std::string count;       // instances / matches, "" when not known
  std::string detail;      // e.g. "destination STORESCP", "level STUDY", the reason of a refusal
};

struct ReportParty {       // one (actor, user, source)
  std::string actor, user, source;
  std::map<std::string, std::uint64_t> accesses;  // what -> successful events
  std::string first, last;
};

struct Report {
  ReportQuery query;
  std::string generated;   // RFC 3339 UTC
  std::vector<ReportEntry> entries;  // trail order (oldest first)
  std::vector<ReportParty> parties;  // who, in order of first access
  std::uint64_t records_read = 0;
  bool truncated = false;
};

struct Requester {
  std::string actor, user, source;
};

using StudyFilter = std::function<bool(const std::string& study_uid)>;

// True for "", or RFC 3339 UTC text (digits, - : . T Z, at most 40 chars).
bool valid_time_bound(std::string_view t) noexcept;

Result<Report> build_report(TrailReader& reader, const ReportQuery& query, const Requester& requester,
                            AuditSink& audit, const Clock& clock, const StudyFilter& admit = {},
                            std::size_t max_entries = 100000);

std::string report_json(const Report& report);  // one JSON object (schema in docs/http-api.md)
std::string report_text(const Report& report);  // a plain table for a terminal
std::string report_html(const Report& report);  // a self-contained printable page

} // namespace tresor::audit
