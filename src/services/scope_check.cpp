// Scope checks for writes and existence answers (see scope_check.h).
#include "services/scope_check.h"

#include <algorithm>

namespace tresor::services {

Result<bool> study_in_scope(index::Index& index, const Scope& scope, const std::string& study_uid) {
  if (study_uid.empty()) return false;
  QueryRequest q{QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, study_uid}}, scope};
  auto rows = index.find(q, 1);
  if (!rows) return std::unexpected(rows.error());
  return !rows->empty();
}

} // namespace tresor::services

namespace tresor::services::detail {

namespace {

bool ascii_iequal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

// The scope's institution / referring physician criteria applied to a study
// that is not stored yet (the index compares physicians ASCII case-insensitively).
bool admits_new_study(const Scope& scope, const InstanceRecord& r) {
  if (!r.institution_name.empty() &&
      std::find(scope.institutions.begin(), scope.institutions.end(), r.institution_name) != scope.institutions.end())
    return true;
  if (!r.referring_physician_name.empty())
    for (const auto& p : scope.referring_physicians)
      if (ascii_iequal(p, r.referring_physician_name)) return true;
  return false;
}

Result<bool> study_stored(index::Index& index, const std::string& study_uid) {
  QueryRequest q{QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, study_uid}}, std::nullopt};
  auto rows = index.find(q, 1);
  if (!rows) return std::unexpected(rows.error());
  return !rows->empty();
}

} // namespace

Status check_store_scope(index::Index& index, const Principal& principal, const InstanceRecord& r) {
  if (!principal.scope) return {};
  const Scope& scope = *principal.scope;
  auto existing = index.find_instance(r.sop_instance_uid);
  if (!existing) return std::unexpected(existing.error());
  if (*existing) {
    auto visible = study_in_scope(index, scope, (*existing)->study_uid);
    if (!visible) return std::unexpected(visible.error());
    if (!*visible) return fail(Errc::permission_denied, kOutOfScope);
  }
  auto visible = study_in_scope(index, scope, r.study_uid);
  if (!visible) return std::unexpected(visible.error());
  if (*visible) return {};
  auto stored = study_stored(index, r.study_uid);
  if (!stored) return std::unexpected(stored.error());
  if (*stored || !admits_new_study(scope, r)) return fail(Errc::permission_denied, kOutOfScope);
  return {};
}

} // namespace tresor::services::detail
