// Admin REST API, part 4: deletion and legal hold (services/deletion.h).
// Contract:
//  - DELETE /api/studies/{study}, /api/series/{series}, /api/instances/{sop},
//    /api/patients/{id}[?issuer=] with {"reason": "...",
//    "confirm_patient_name": "..."}: both required; the name must match the
//    patient's stored name (PN components, case-insensitive; the PatientID
//    for a patient without a name), otherwise 400 and nothing is deleted.
//    200 with what went (UIDs and counts only, no patient data); 404 when
//    nothing matches; 409 when a study it would touch is under legal hold
//    (the message names the study). Admin only; audited by the service.
//  - POST / DELETE /api/studies/{study}/hold with {"reason"} (optional) puts
//    a study under legal hold / lifts it (audited); GET /api/holds lists
//    the held studies.
#include <nlohmann/json.hpp>

#include "dicom/inspect.h"
#include "http/api_common.h"
#include "services/deletion.h"

namespace tresor::http {
namespace {

using nlohmann::json;
using api::bad;
using api::json_response;

Response remove(Request& req, const Deps& d, index::DeleteLevel level, const char* param) {
  services::DeleteRequest r;
  r.target.level = level;
  r.target.uid = std::string(req.param(param));
  if (level == index::DeleteLevel::patient) {
    if (auto issuer = req.query_param("issuer")) r.target.issuer = std::string(*issuer);
  } else if (!dicom::is_valid_uid(r.target.uid)) {
    return bad("malformed UID");
  }
  json b = json::parse(req.body, nullptr, false);
  if (b.is_discarded() || !b.is_object()) return bad("expected {\"reason\", \"confirm_patient_name\"}");
  for (const auto& [key, value] : b.items())
    if (key != "reason" && key != "confirm_patient_name") return bad("unknown field: " + key);
  if (!b.contains("reason") || !b["reason"].is_string()) return bad("reason (a string) is required");
  if (!b.contains("confirm_patient_name") || !b["confirm_patient_name"].is_string())
    return bad("confirm_patient_name (a string: the patient's name as stored) is required");
  r.reason = b["reason"].get<std::string>();
  r.confirm_patient_name = b["confirm_patient_name"].get<std::string>();
  auto removed = d.deletion.remove(req.principal(), r);
  if (!removed) return error_response(removed.error());
  json studies = json::array();
  for (const auto& s : removed->studies)
    studies.push_back(json{{"study_uid", s.study_uid},
                           {"whole_study", s.whole_study},
                           {"series", s.series},
                           {"instances", s.instances},
                           {"quarantined", s.quarantined},
                           {"bytes", s.bytes}});
  return json_response(200, json{{"deleted", studies},
                                 {"blobs_removed", removed->blobs_removed},
                                 {"blobs_shared", removed->blobs_shared},
                                 {"blobs_pending", removed->blobs_pending}});
}

Response set_hold(Request& req, const Deps& d, bool on) {
  const std::string study(req.param("study"));
  if (!dicom::is_valid_uid(study)) return bad("malformed Study Instance UID");
  std::string reason;
  if (!req.body.empty()) {
    json b = json::parse(req.body, nullptr, false);
    if (b.is_discarded() || !b.is_object()) return bad("expected {\"reason\"} (optional)");
    for (const auto& [key, value] : b.items())
      if (key != "reason") return bad("unknown field: " + key);
    if (b.contains("reason")) {
      if (!b["reason"].is_string()) return bad("reason must be a string");
      reason = b["reason"].get<std::string>();
    }
  }
  auto changed = d.deletion.set_hold(req.principal(), study, on, reason);
  if (!changed) return error_response(changed.error());
  return json_response(200, json{{"study_uid", study}, {"hold", on}, {"changed", *changed}});
}

Response list_holds(Request& req, const Deps& d) {
  auto held = d.deletion.holds(req.principal());
  if (!held) return error_response(held.error());
  json out = json::array();
  for (const auto& s : *held)
    out.push_back(json{{"study_uid", s.study_uid}, {"study_date", s.study_date}, {"instances", s.instances}});
  return json_response(200, out);
}

} // namespace

void add_deletion_routes(Router& router, const Deps& deps) {
  auto d = std::make_shared<const Deps>(deps);
  auto add = [&](Method method, std::string pattern, BodyKind body, std::string summary, Handler handler) {
    Route r;
    r.method = method;
    r.pattern = std::move(pattern);
    r.permission = Operation::admin;
    r.body = body;
    r.max_body = 4 * 1024;
    r.summary = std::move(summary);
    r.handler = std::move(handler);
    router.add(std::move(r));
  };
  const char* body_doc = " {reason, confirm_patient_name} (the patient's name as stored); 409 under legal hold; audited";
  add(Method::del, "/api/studies/{study}", BodyKind::small, std::string("Delete a study permanently") + body_doc,
      [d](Request& req) { return remove(req, *d, index::DeleteLevel::study, "study"); });
  add(Method::del, "/api/series/{series}", BodyKind::small, std::string("Delete a series permanently") + body_doc,
      [d](Request& req) { return remove(req, *d, index::DeleteLevel::series, "series"); });
  add(Method::del, "/api/instances/{sop}", BodyKind::small, std::string("Delete an instance permanently") + body_doc,
      [d](Request& req) { return remove(req, *d, index::DeleteLevel::instance, "sop"); });
  add(Method::del, "/api/patients/{id}", BodyKind::small,
      std::string("Delete every study of a patient permanently (?issuer=)") + body_doc,
      [d](Request& req) { return remove(req, *d, index::DeleteLevel::patient, "id"); });
  add(Method::post, "/api/studies/{study}/hold", BodyKind::small, "Put a study under legal hold {reason}; audited",
      [d](Request& req) { return set_hold(req, *d, true); });
  add(Method::del, "/api/studies/{study}/hold", BodyKind::small, "Lift a study's legal hold {reason}; audited",
      [d](Request& req) { return set_hold(req, *d, false); });
  add(Method::get, "/api/holds", BodyKind::none, "List the studies under legal hold",
      [d](Request& req) { return list_holds(req, *d); });
}

} // namespace tresor::http
