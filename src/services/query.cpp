// C-FIND / QIDO: one query path, capped, audited with its keys.
#include <algorithm>
#include <cstdio>
#include <iterator>
#include <set>

#include "services/services.h"

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
  const std::size_t page_max = principal.unlimited_find ? kHardLimit : cap_;
  if (limit == 0 || limit > page_max) limit = page_max;
  if (offset >= kHardLimit) return fail(Errc::invalid_argument, "offset too large");
  const std::size_t want = std::min(offset + limit + 1, kHardLimit + 1);
  auto rows = index_.find(request, want);
  if (!rows) {
    e.outcome = audit::Outcome::failure;
    e.reason = rows.error().message;
    audit_.record(e);
    return std::unexpected(rows.error());
  }
  Page page;
  if (rows->size() > offset) {
    auto first = rows->begin() + static_cast<std::ptrdiff_t>(offset);
    auto last = rows->size() > offset + limit ? first + static_cast<std::ptrdiff_t>(limit) : rows->end();
    page.rows.assign(std::make_move_iterator(first), std::make_move_iterator(last));
  }
  page.truncated = rows->size() > offset + limit;
  e.outcome = audit::Outcome::success;
  e.details.emplace_back("matches", std::to_string(page.rows.size()));
  audit_.record(e);
  return page;
}

RetrieveService::RetrieveService(index::Index& index, store::BlobStore& store, audit::AuditSink& audit)
    : index_(index), store_(store), audit_(audit) {}

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
  auto found = index_.locate(request, kHardLimit);
  if (!found) {
    e.outcome = audit::Outcome::failure;
    e.reason = found.error().message;
    audit_.record(e);
    return std::unexpected(found.error());
  }
  std::vector<RetrieveItem> items;
  items.reserve(found->size());
  std::set<std::string> studies, patients;
  for (auto& loc : *found) {
    auto path = store_.path_of(loc.blob_key);
    if (!path) continue;
    studies.insert(loc.study_uid);
    patients.insert(loc.patient_id);
    items.push_back(RetrieveItem{std::move(loc), std::move(*path)});
  }
  std::string joined;
  for (const auto& s : studies) joined += (joined.empty() ? "" : "\\") + s;
  e.study_uid = joined;
  for (const auto& p : patients) e.patient_id += (e.patient_id.empty() ? "" : "\\") + p;
  e.outcome = audit::Outcome::success;
  e.details.emplace_back("instances", std::to_string(items.size()));
  audit_.record(e);
  return items;
}

CommitmentService::CommitmentService(index::Index& index, audit::AuditSink& audit) : index_(index), audit_(audit) {}

CommitmentResult CommitmentService::check(const Principal& principal, const std::vector<CommitmentItem>& items) {
  CommitmentResult result;
  for (const auto& item : items) {
    bool ok = false;
    if (principal.may(Operation::commit)) {
      auto inst = index_.find_instance(item.sop_instance_uid);
      ok = inst && *inst && (*inst)->sop_class_uid == item.sop_class_uid;
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
