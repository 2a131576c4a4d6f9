// Admin REST API, part 3: correction of a patient's demographics.
// Contract:
//  - PUT /api/patients/{id}[?issuer=...] with {"name", "birth_date", "sex"}
//    (each optional, at least one; strings) changes the patient's stored
//    demographics through services::PatientService (admin only; values
//    checked there; audited there with the old and new values);
//  - the answer is 204 without a body (patient data is not echoed), 400 for
//    a malformed request, 404 when no such patient is stored.
//  - {id} is the PatientID as one path segment (percent-encoded as needed;
//    an ID containing '/' cannot be addressed this way).
#include <nlohmann/json.hpp>

#include "http/api_common.h"

namespace tresor::http {
namespace {

using nlohmann::json;
using api::bad;
using api::no_content;

Response update_patient(Request& req, const Deps& d) {
  services::PatientUpdate u;
  u.patient_id = std::string(req.param("id"));
  if (auto issuer = req.query_param("issuer")) u.issuer = std::string(*issuer);
  json b = json::parse(req.body, nullptr, false);
  if (b.is_discarded() || !b.is_object()) return bad("expected {\"name\", \"birth_date\", \"sex\"} (each optional)");
  for (const auto& [key, value] : b.items())
    if (key != "name" && key != "birth_date" && key != "sex") return bad("unknown field: " + key);
  for (auto [key, out] : {std::pair{"name", &u.change.name}, std::pair{"birth_date", &u.change.birth_date},
                          std::pair{"sex", &u.change.sex}}) {
    if (!b.contains(key)) continue;
    if (!b[key].is_string()) return bad(std::string(key) + " must be a string");
    *out = b[key].get<std::string>();
  }
  // The service is stateless: the index and the audit sink are the Deps'.
  services::PatientService patients(d.index, d.audit);
  if (auto st = patients.update(req.principal(), u); !st) return error_response(st.error());
  return no_content();
}

} // namespace

void add_patient_routes(Router& router, const Deps& deps) {
  auto d = std::make_shared<const Deps>(deps);
  Route r;
  r.method = Method::put;
  r.pattern = "/api/patients/{id}";
  r.permission = Operation::admin;
  r.body = BodyKind::small;
  r.max_body = 4 * 1024;
  r.summary = "Correct a patient's demographics {name, birth_date, sex} (?issuer=); audited with old and new values";
  r.handler = [d](Request& req) { return update_patient(req, *d); };
  router.add(std::move(r));
}

} // namespace tresor::http
