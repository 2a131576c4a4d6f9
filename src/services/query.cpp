// C-FIND / QIDO: one query path, capped, audited with its keys.
#include <algorithm>
#include <cstdio>
#include <iterator>
#include <set>

#include "services/services.h"
#include "services/scope_check.h"

namespace tresor::services {

namespace {

std::string tag_text(Tag t) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "(%04X,%04X)", t >> 16, t & 0xFFFF);
  return buf;
}

// Hard bound on rows from one request, even for peers allowed past the find cap.
constexpr std::size_t kHardLimit = 1'000'000;

} // namespace

QueryService::QueryService(index::Index& index, audit::AuditSink& audit, std::size_t cap)
    : index_(index), audit_(audit), cap_(cap) {}

namespace {
audit::Event query_event(const Principal& principal, const QueryRequest& request) {
  audit::Event e;
  e.type = audit::Type::query;
  e.actor = principal.name;
  e.user = principal.user;
  e.source = principal.source;
  e.details.emplace_back("level", to_string(request.level));
  for (const auto& k : request.keys) {
    if (k.value.empty()) continue;
    if (k.tag == tags::PatientID) e.patient_id = k.value;
    if (k.tag == tags::StudyInstanceUID) e.study_uid = k.value;
    e.details.emplace_back(tag_text(k.tag), k.value);
  }
  return e;
}

// "Who saw what" (audit/report.h): a query event names the patients its
// results belonged to. The index is asked for PatientID when the request did
// not ask for it (the added key is stripped from the rows again); the event
// gets the first kMaxResultPatients distinct IDs ('\'-separated, detail
// "result_patients") and their number ("result_patient_count").
constexpr std::size_t kMaxResultPatients = 100;

bool ask_for_patient_id(QueryRequest& request) {
  for (const auto& k : request.keys)
    if (k.tag == tags::PatientID) return false;
  request.keys.push_back(Attr{tags::PatientID, ""});
  return true;
}

void note_result_patients(audit::Event& e, std::vector<ResultRow>& rows, bool strip) {
  std::set<std::string> all;
  std::string listed;
  std::size_t in_list = 0;
  for (ResultRow& row : rows) {
    for (auto it = row.begin(); it != row.end(); ++it) {
      if (it->tag != tags::PatientID) continue;
      if (!it->value.empty() && all.insert(it->value).second && in_list < kMaxResultPatients) {
        listed += (listed.empty() ? "" : "\\") + it->value;
        ++in_list;
      }
      if (strip) row.erase(it);
      break;
    }
  }
  e.details.emplace_back("result_patients", listed);
  e.details.emplace_back("result_patient_count", std::to_string(all.size()));
}
} // namespace

Result<std::vector<ResultRow>> QueryService::find(const Principal& principal, const QueryRequest& asked) {
  QueryRequest request = asked;
  request.scope = principal.scope;
  audit::Event e = query_event(principal, request);
  if (!principal.may(Operation::find)) {
    e.outcome = audit::Outcome::denied;
    e.reason = "find not allowed for this principal";
    audit_.record(e);
    return fail(Errc::permission_denied, "query not allowed");
  }
  const bool unlimited = principal.unlimited_find;
  const bool added_patient_id = ask_for_patient_id(request);
  auto rows = index_.find(request, unlimited ? kHardLimit : cap_ + 1);
  if (!rows) {
    e.outcome = audit::Outcome::failure;
    e.reason = rows.error().message;
    audit_.record(e);
    return rows;
  }
  if (!unlimited && rows->size() > cap_) {
    e.outcome = audit::Outcome::failure;
    e.reason = "result cap exceeded";
    e.details.emplace_back("cap", std::to_string(cap_));
    audit_.record(e);
    return fail(Errc::resource_exhausted,
                "more than " + std::to_string(cap_) + " matches; narrow the query");
  }
  e.outcome = audit::Outcome::success;
  e.details.emplace_back("matches", std::to_string(rows->size()));
  note_result_patients(e, *rows, added_patient_id);
  audit_.record(e);
  return rows;
}

Result<Page> QueryService::find_page(const Principal& principal, const QueryRequest& asked, std::size_t offset,
                                     std::size_t limit) {
  QueryRequest request = asked;
  request.scope = principal.scope;
  audit::Event e = query_event(principal, request);
  e.details.emplace_back("offset", std::to_string(offset));
  if (!principal.may(Operation::find)) {
    e.outcome = audit::Outcome::denied;
    e.reason = "find not allowed for this principal";
    audit_.record(e);
    return fail(Errc::permission_denied, "query not allowed");
  }
  if (offset > kMaxPageOffset) {
    e.outcome = audit::Outcome::failure;
    e.reason = "offset beyond the maximum";
    audit_.record(e);
    return fail(Errc::invalid_argument, "offset must be at most " + std::to_string(kMaxPageOffset) +
                                            "; narrow the query instead of paging this deep");
  }
  const std::size_t page_max = principal.unlimited_find ? kHardLimit : cap_;
  if (limit == 0 || limit > page_max) limit = page_max;
  // One row more than the page tells whether more exist; the index skips
  // the offset rows itself, so memory follows the page, not the offset.
  const bool added_patient_id = ask_for_patient_id(request);
  auto rows = index_.find(request, limit + 1, offset);
  if (!rows) {
    e.outcome = audit::Outcome::failure;
    e.reason = rows.error().message;
    audit_.record(e);
    return std::unexpected(rows.error());
  }
  Page page;
  page.truncated = rows->size() > limit;
  if (page.truncated) rows->resize(limit);
  page.rows = std::move(*rows);
  e.outcome = audit::Outcome::success;
  e.details.emplace_back("matches", std::to_string(page.rows.size()));
  note_result_patients(e, page.rows, added_patient_id);
  audit_.record(e);
  return page;
}

RetrieveService::RetrieveService(index::Index& index, store::BlobStore& store, audit::AuditSink& audit,
                                 std::size_t cap, audit::AccessAggregator* access)
    : index_(index), store_(store), audit_(audit), cap_(cap), access_(access) {}

namespace {

const char* level_key_name(Level l) {
  switch (l) {
    case Level::patient: return "PatientID";
    case Level::study: return "StudyInstanceUID";
    case Level::series: return "SeriesInstanceUID";
    case Level::image: return "SOPInstanceUID";
  }
  return "?";
}

// PS3.4 C.4.2.2.1 / C.4.3.2.1: a retrieve names entities by their unique keys.
Status check_retrieve_keys(const QueryRequest& r) {
  struct Unique {
    Tag tag;
    Level level;
  };
  static constexpr Unique kUnique[] = {{tags::PatientID, Level::patient},
                                       {tags::StudyInstanceUID, Level::study},
                                       {tags::SeriesInstanceUID, Level::series},
                                       {tags::SOPInstanceUID, Level::image}};
  bool has_level_key = false;
  for (const auto& u : kUnique) {
    if (static_cast<int>(u.level) > static_cast<int>(r.level)) continue;
    for (const auto& a : r.keys) {
      if (a.tag != u.tag || a.value.empty()) continue;
      if (a.value.find_first_of("*?") != std::string::npos)
        return fail(Errc::invalid_argument, std::string("a retrieve takes no wildcards (") + level_key_name(u.level) + ")");
      const bool list_allowed = u.level == r.level && u.tag != tags::PatientID;
      if (!list_allowed && a.value.find('\\') != std::string::npos)
        return fail(Errc::invalid_argument, std::string("a retrieve takes one ") + level_key_name(u.level) +
                                                (u.level == r.level ? "" : " above the QueryRetrieveLevel"));
      if (u.level == r.level) has_level_key = true;
    }
  }
  if (!has_level_key)
    return fail(Errc::invalid_argument, std::string("a retrieve at ") + to_string(r.level) + " level needs its unique key " +
                                            level_key_name(r.level));
  return {};
}

} // namespace

Result<std::vector<RetrieveItem>> RetrieveService::locate(const Principal& principal, const QueryRequest& asked,
                                                          audit::Type type, const std::string& destination) {
  QueryRequest request = asked;
  request.scope = principal.scope;
  audit::Event e;
  e.type = type;
  e.actor = principal.name;
  e.user = principal.user;
  e.source = principal.source;
  e.details.emplace_back("level", to_string(request.level));
  if (!destination.empty()) e.details.emplace_back("destination", destination);
  const Operation needed = type == audit::Type::move ? Operation::move : Operation::get;
  if (!principal.may(needed)) {
    e.outcome = audit::Outcome::denied;
    e.reason = std::string(to_string(needed)) + " not allowed for this principal";
    audit_.record(e);
    return fail(Errc::permission_denied, "retrieve not allowed");
  }
  for (const auto& k : request.keys) {
    if (k.value.empty()) continue;
    if (k.tag == tags::PatientID) e.patient_id = k.value;
    if (k.tag == tags::StudyInstanceUID) e.study_uid = k.value;
  }
  if (auto keys = check_retrieve_keys(request); !keys) {
    e.outcome = audit::Outcome::failure;
    e.reason = keys.error().message;
    audit_.record(e);
    return std::unexpected(keys.error());
  }
  const bool unlimited = principal.unlimited_retrieve;
  auto found = index_.locate(request, unlimited ? kHardLimit : cap_ + 1);
  if (!found) {
    e.outcome = audit::Outcome::failure;
    e.reason = found.error().message;
    audit_.record(e);
    return std::unexpected(found.error());
  }
  if (!unlimited && found->size() > cap_) {
    e.outcome = audit::Outcome::failure;
    e.reason = "retrieve cap exceeded";
    e.details.emplace_back("cap", std::to_string(cap_));
    audit_.record(e);
    return fail(Errc::resource_exhausted, "more than " + std::to_string(cap_) +
                                              " instances match; retrieve a smaller part (series by series)");
  }
  e.patient_id.clear();
  e.study_uid.clear();
  std::vector<RetrieveItem> items;
  items.reserve(found->size());
  std::set<std::string> studies, patients;
  for (auto& loc : *found) {
    if (!store::is_valid_key(loc.blob_key)) continue;
    studies.insert(loc.study_uid);
    patients.insert(loc.patient_id);
    items.push_back(RetrieveItem{std::move(loc)});
  }
  std::string joined;
  for (const auto& s : studies) joined += (joined.empty() ? "" : "\\") + s;
  e.study_uid = joined;
  for (const auto& p : patients) e.patient_id += (e.patient_id.empty() ? "" : "\\") + p;
  e.outcome = audit::Outcome::success;
  if (access_ != nullptr && type == audit::Type::retrieve) {  // a viewer's read: one access event per study window
    std::vector<audit::AccessAggregator::Read> reads;
    reads.reserve(items.size());
    for (const RetrieveItem& item : items)
      reads.push_back({item.location.patient_id, item.location.study_uid, item.location.series_uid,
                       item.location.sop_instance_uid});
    access_->add(e, reads);
    return items;
  }
  e.details.emplace_back("instances", std::to_string(items.size()));
  audit_.record(e);
  return items;
}

Result<std::unique_ptr<ByteSource>> RetrieveService::open(const RetrieveItem& item) const {
  return store_.open(item.location.blob_key);
}

CommitmentService::CommitmentService(index::Index& index, audit::AuditSink& audit) : index_(index), audit_(audit) {}

CommitmentResult CommitmentService::check(const Principal& principal, const std::vector<CommitmentItem>& items) {
  CommitmentResult result;
  for (const auto& item : items) {
    bool ok = false;
    if (principal.may(Operation::commit)) {
      auto inst = index_.find_instance(item.sop_instance_uid);
      ok = inst && *inst && (*inst)->sop_class_uid == item.sop_class_uid;
      // Outside the principal's scope an instance is answered like a missing one.
      if (ok && principal.scope) {
        auto visible = study_in_scope(index_, *principal.scope, (*inst)->study_uid);
        ok = visible && *visible;
      }
    }
    (ok ? result.success : result.failed).push_back(item);
  }
  audit::Event e;
  e.type = audit::Type::commitment;
  e.actor = principal.name;
  e.user = principal.user;
  e.source = principal.source;
  e.outcome = principal.may(Operation::commit) ? (result.failed.empty() ? audit::Outcome::success
                                                                       : audit::Outcome::failure)
                                               : audit::Outcome::denied;
  e.details.emplace_back("committed", std::to_string(result.success.size()));
  e.details.emplace_back("failed", std::to_string(result.failed.size()));
  audit_.record(e);
  return result;
}

} // namespace tresor::services
