// Retention policies (see deletion.h, RetentionService): the index lists the
// studies past each policy's cut-off (never a held one); a real run deletes
// each through DeletionService with the reason "retention policy <name>".
#include <chrono>
#include <cstdio>
#include <set>

#include "core/clock.h"
#include "services/deletion.h"

namespace tresor::services {

std::pair<std::string, std::string> retention_cutoff(std::chrono::system_clock::time_point now, int years) {
  using namespace std::chrono;
  const auto day = floor<days>(now);
  const year_month_day today{day};
  year_month_day cut{today.year() - std::chrono::years(years), today.month(), today.day()};
  if (!cut.ok()) cut = year_month_day{cut.year(), cut.month(), std::chrono::day(28)};  // 29 Feb
  const auto at = sys_days(cut) + (now - day);
  char date[16];
  std::snprintf(date, sizeof date, "%04d%02u%02u", static_cast<int>(cut.year()), static_cast<unsigned>(cut.month()),
                static_cast<unsigned>(cut.day()));
  return {date, to_rfc3339(time_point_cast<system_clock::duration>(at))};
}

RetentionService::RetentionService(index::Index& index, DeletionService& deletion)
    : index_(index), deletion_(deletion) {}

Result<std::vector<RetentionItem>> RetentionService::run(const Principal& principal,
                                                         const std::vector<RetentionPolicy>& policies,
                                                         std::chrono::system_clock::time_point now, bool dry_run,
                                                         std::size_t limit) {
  if (!principal.may(Operation::admin))
    return fail(Errc::permission_denied, "retention requires the admin permission");
  std::vector<RetentionItem> out;
  std::set<std::string> seen;
  for (const auto& policy : policies) {
    if (policy.years < 1) return fail(Errc::invalid_argument, "retention policy " + policy.name + ": years must be >= 1");
    auto [date, received] = retention_cutoff(now, policy.years);
    index::RetentionQuery q{date, received, policy.modality, policy.sop_class, limit};
    auto studies = index_.retention_candidates(q);
    if (!studies) return std::unexpected(studies.error());
    for (auto& s : *studies) {
      if (!seen.insert(s.study_uid).second) continue;
      RetentionItem item{policy.name, std::move(s), false, {}};
      if (!dry_run) {
        DeleteRequest request;
        request.target = {index::DeleteLevel::study, item.study.study_uid, {}};
        request.reason = "retention policy " + policy.name;
        auto removed = deletion_.remove(principal, request);
        if (removed)
          item.deleted = true;
        else
          item.error = removed.error().message;  // e.g. put on hold since the listing
      }
      out.push_back(std::move(item));
    }
  }
  return out;
}

} // namespace tresor::services
