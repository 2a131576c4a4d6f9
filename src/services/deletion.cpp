// Deletion and legal hold (see deletion.h): index transaction first, audit,
// then the blobs, each under its key lock and only when no row references it.
#include "services/deletion.h"

#include <algorithm>
#include <cctype>

#include "core/log.h"

namespace tresor::services {
namespace {

const char* level_name(index::DeleteLevel level) {
  switch (level) {
    case index::DeleteLevel::patient: return "patient";
    case index::DeleteLevel::study: return "study";
    case index::DeleteLevel::series: return "series";
    case index::DeleteLevel::instance: break;
  }
  return "instance";
}

std::vector<std::string> name_tokens(std::string_view v) {
  v = v.substr(0, v.find('='));  // the alphabetic component group
  std::vector<std::string> out;
  std::string cur;
  for (char c : v) {
    if (c == '^' || c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

bool printable(std::string_view v) {
  return std::ranges::all_of(v, [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}

audit::Event base_event(const Principal& p, audit::Type type) {
  audit::Event e;
  e.type = type;
  e.actor = p.name;
  e.user = p.user;
  e.source = p.source;
  return e;
}

void describe_target(audit::Event& e, const index::DeleteTarget& t) {
  e.details.emplace_back("level", level_name(t.level));
  switch (t.level) {
    case index::DeleteLevel::patient:
      e.patient_id = t.uid;
      if (!t.issuer.empty()) e.details.emplace_back("issuer", t.issuer);
      break;
    case index::DeleteLevel::study: e.study_uid = t.uid; break;
    case index::DeleteLevel::series: e.series_uid = t.uid; break;
    case index::DeleteLevel::instance: e.sop_uid = t.uid; break;
  }
}

} // namespace

bool patient_name_matches(std::string_view stored, std::string_view typed) {
  auto a = name_tokens(stored);
  return !a.empty() && a == name_tokens(typed);
}

DeletionService::DeletionService(store::BlobStore& store, index::Index& index, audit::AuditSink& audit,
                                 KeyLocks& locks)
    : store_(store), index_(index), audit_(audit), locks_(locks) {}

Result<index::DeletionPlan> DeletionService::preview(const Principal& principal, const index::DeleteTarget& target) {
  if (!principal.may(Operation::admin)) return fail(Errc::permission_denied, "deleting requires the admin permission");
  return index_.plan_deletion(target);
}

Result<DeleteResult> DeletionService::remove(const Principal& principal, const DeleteRequest& request) {
  audit::Event refused = base_event(principal, audit::Type::deletion);
  describe_target(refused, request.target);
  auto refuse = [&](audit::Outcome outcome, const Error& err) -> Result<DeleteResult> {
    refused.outcome = outcome;
    refused.reason = err.message;
    if (!request.reason.empty()) refused.details.emplace_back("requested_reason", request.reason);
    audit_.record(refused);
    return std::unexpected(err);
  };
  if (!principal.may(Operation::admin))
    return refuse(audit::Outcome::denied,
                  make_error(Errc::permission_denied, "deleting requires the admin permission"));
  if (request.reason.empty() || request.reason.size() > kMaxDeleteReason || !printable(request.reason))
    return refuse(audit::Outcome::failure,
                  make_error(Errc::invalid_argument, "a reason (1..1024 printable characters) is required"));
  if (request.confirm_patient_name) {
    auto plan = index_.plan_deletion(request.target);
    if (!plan) return refuse(audit::Outcome::failure, plan.error());
    for (const auto& s : plan->studies) {
      const bool ok = name_tokens(s.patient_name).empty() ? *request.confirm_patient_name == s.patient_id
                                                          : patient_name_matches(s.patient_name,
                                                                                 *request.confirm_patient_name);
      if (!ok)
        return refuse(audit::Outcome::failure,
                      make_error(Errc::invalid_argument,
                                 "the confirmation does not match the patient's name: nothing was deleted"));
    }
  }
  auto plan = index_.delete_entities(request.target);
  if (!plan) return refuse(plan.error().code == Errc::conflict ? audit::Outcome::denied : audit::Outcome::failure,
                           plan.error());

  DeleteResult result;
  result.studies = plan->studies;
  // The rows are gone: record it before the blobs (a crash from here on is
  // finished by recover()).
  for (const auto& s : plan->studies) {
    audit::Event e = base_event(principal, audit::Type::deletion);
    e.outcome = audit::Outcome::success;
    e.patient_id = s.patient_id;
    e.study_uid = s.study_uid;
    if (request.target.level == index::DeleteLevel::series) e.series_uid = request.target.uid;
    if (request.target.level == index::DeleteLevel::instance) e.sop_uid = request.target.uid;
    e.reason = request.reason;
    e.details.emplace_back("level", level_name(request.target.level));
    if (!s.issuer.empty()) e.details.emplace_back("issuer", s.issuer);
    e.details.emplace_back("whole_study", s.whole_study ? "true" : "false");
    e.details.emplace_back("series", std::to_string(s.series));
    e.details.emplace_back("instances", std::to_string(s.instances));
    e.details.emplace_back("quarantined", std::to_string(s.quarantined));
    e.details.emplace_back("bytes", std::to_string(s.bytes));
    audit_.record(e);
  }
  erase(plan->blob_keys, result);
  if (result.blobs_pending > 0)
    log::warn("deletion: {} blob(s) could not be removed now; they stay queued and start-up recovery removes them",
              result.blobs_pending);
  return result;
}

void DeletionService::erase(const std::vector<std::string>& keys, DeleteResult& result) {
  for (const auto& key : keys) {
    const auto guard = locks_.lock(key);  // no ingest of this content in between
    auto referenced = index_.blob_key_referenced(key);
    if (!referenced) {
      ++result.blobs_pending;
      continue;
    }
    if (*referenced) {
      ++result.blobs_shared;
    } else if (auto s = store_.remove(key); !s) {
      log::warn("deletion: cannot remove a blob: {}", s.error().message);
      ++result.blobs_pending;
      continue;
    } else {
      ++result.blobs_removed;
    }
    if (auto s = index_.clear_pending_deletion(key); !s) {
      // The blob is gone (or still needed); the queued key is harmless and
      // the next recovery clears it.
      log::warn("deletion: cannot clear a queued deletion: {}", s.error().message);
    }
  }
}

Result<std::size_t> DeletionService::recover() {
  auto keys = index_.pending_deletions();
  if (!keys) return std::unexpected(keys.error());
  if (keys->empty()) return std::size_t{0};
  DeleteResult r;
  erase(*keys, r);
  const std::size_t done = r.blobs_removed + r.blobs_shared;
  log::warn("recovery: finished {} interrupted deletion(s){}", done,
            r.blobs_pending > 0 ? " (" + std::to_string(r.blobs_pending) + " still queued)" : std::string());
  if (r.blobs_pending > 0)
    return fail(Errc::io_error, std::to_string(r.blobs_pending) + " deleted object(s) could not be removed from the store");
  return done;
}

Result<bool> DeletionService::set_hold(const Principal& principal, const std::string& study_uid, bool on,
                                       const std::string& reason) {
  audit::Event e = base_event(principal, audit::Type::admin);
  e.study_uid = study_uid;
  e.details.emplace_back("action", on ? "hold.add" : "hold.remove");
  if (!reason.empty()) e.details.emplace_back("hold_reason", reason);
  e.reason = on ? "legal hold added" : "legal hold removed";
  if (!principal.may(Operation::admin)) {
    e.outcome = audit::Outcome::denied;
    e.reason = "legal hold: admin permission required";
    audit_.record(e);
    return fail(Errc::permission_denied, "a legal hold requires the admin permission");
  }
  if (reason.size() > kMaxDeleteReason || !printable(reason)) {
    e.outcome = audit::Outcome::failure;
    e.reason = "legal hold: bad reason";
    audit_.record(e);
    return fail(Errc::invalid_argument, "the reason must be at most 1024 printable characters");
  }
  auto changed = index_.set_study_label(study_uid, index::kHoldLabel, on);
  if (!changed) {
    e.outcome = audit::Outcome::failure;
    e.reason = "legal hold: " + changed.error().message;
    audit_.record(e);
    return changed;
  }
  e.outcome = audit::Outcome::success;
  e.details.emplace_back("changed", *changed ? "true" : "false");
  audit_.record(e);
  return changed;
}

Result<std::vector<index::StudySummary>> DeletionService::holds(const Principal& principal) {
  if (!principal.may(Operation::admin))
    return fail(Errc::permission_denied, "listing legal holds requires the admin permission");
  return index_.studies_with_label(index::kHoldLabel);
}

} // namespace tresor::services
