// Internal to src/services: the principal's scope applied to writes and to
// existence answers (STOW-RS / C-STORE, storage commitment), the way the
// index applies it to queries.
// Contract:
//  - services::study_in_scope() (services.h) is the scope test of one study.
//  - check_store_scope(): for a principal without a scope, always ok. With a
//    scope, the object may be stored only when (a) its SOP Instance UID, if
//    already stored, belongs to a study in scope; and (b) its study, if
//    stored, is in scope, or, if new, its own InstitutionName or
//    ReferringPhysicianName is admitted by the scope (a new study carries no
//    label yet, so a label-only scope cannot create studies). Every refusal
//    is the same permission_denied with the same message (kOutOfScope), so
//    the answer never tells whether the study or instance exists or whether
//    its demographics match.
#pragma once
#include <string>

#include "core/accounts.h"
#include "core/error.h"
#include "core/model.h"
#include "index/index.h"
#include "services/services.h"

namespace tresor::services::detail {

inline constexpr const char* kOutOfScope = "not allowed to store into this study";

Status check_store_scope(index::Index& index, const Principal& principal, const InstanceRecord& record);

} // namespace tresor::services::detail
