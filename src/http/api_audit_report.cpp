// GET /api/audit/report: "who saw what" for one patient (audit/report.h),
// as JSON for the admin page or as the printable HTML page. The caller's
// scope applies: a scoped auditor sees only events whose studies are all in
// its scope (services::study_in_scope, each study looked up once).
#include <map>

#include "audit/report.h"
#include "audit/trail.h"
#include "http/api_common.h"

namespace tresor::http {
namespace {

Response audit_report(Request& req, const Deps& d) {
  auto patient = req.query_param("patient");
  if (!patient || patient->empty() || patient->size() > 64) return api::bad("patient (a PatientID, 1..64 characters) is required");
  std::string since, until, format = "json";
  if (auto v = req.query_param("since")) since = std::string(*v);
  if (auto v = req.query_param("until")) until = std::string(*v);
  if (auto v = req.query_param("format")) format = std::string(*v);
  if (format != "json" && format != "html") return api::bad("format must be json or html");
  if (!audit::valid_time_bound(since) || !audit::valid_time_bound(until))
    return api::bad("since and until must be RFC 3339 UTC times such as 2026-11-28T00:00:00.000Z");

  auto reader = audit::TrailReader::open(d.config.audit_file().parent_path(), d.audit_key);
  if (!reader) return error_response(reader.error());
  const std::optional<Scope>& scope = req.principal().scope;
  std::map<std::string, bool> seen;
  audit::StudyFilter admit;
  if (scope) {
    admit = [&](const std::string& uid) {
      if (auto hit = seen.find(uid); hit != seen.end()) return hit->second;
      auto in = services::study_in_scope(d.index, *scope, uid);
      const bool ok = in && *in;
      if (seen.size() < 100000) seen.emplace(uid, ok);
      return ok;
    };
  }
  const Principal& who = req.principal();
  auto report = audit::build_report(**reader, {std::string(*patient), since, until},
                                    {who.name, who.user.empty() ? who.name : who.user, req.source_ip}, d.audit,
                                    d.clock, admit);
  if (!report) return error_response(report.error());
  if (format == "json") return http::json(200, audit::report_json(*report));
  Response r = http::text(200, audit::report_html(*report), "text/html; charset=utf-8");
  // A self-contained page: its own inline style, nothing else may load or run.
  r.set("Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  r.set("Content-Disposition", "inline; filename=\"access-report.html\"");
  r.set("Cache-Control", "no-store");
  return r;
}

} // namespace

void add_audit_report_routes(Router& router, const Deps& deps) {
  auto d = std::make_shared<const Deps>(deps);
  Route r;
  r.method = Method::get;
  r.pattern = "/api/audit/report";
  r.permission = Operation::audit;
  r.body = BodyKind::none;
  r.summary =
      "Who saw what: every access to one patient's data (?patient, since, until, format=json|html); the caller's "
      "scope applies; audited as Audit Log Used";
  r.handler = [d](Request& req) { return audit_report(req, *d); };
  router.add(std::move(r));
}

} // namespace tresor::http
