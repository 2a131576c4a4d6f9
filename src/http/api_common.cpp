#include "http/api_common.h"

namespace tresor::http::api {

void audit_admin(const Deps& d, const Request& req, std::string action, std::string subject, bool ok) {
  audit::Event e;
  e.type = audit::Type::admin;
  e.outcome = ok ? audit::Outcome::success : audit::Outcome::failure;
  e.actor = req.principal().name;
  e.source = req.source_ip;
  e.reason = action + (subject.empty() ? "" : " " + subject);
  e.details.emplace_back("action", action);
  e.details.emplace_back("protocol", "http");
  d.audit.record(e);
}

json scope_json(const std::optional<Scope>& s) {
  if (!s) return nullptr;
  return json{{"institutions", s->institutions}, {"referring_physicians", s->referring_physicians}, {"labels", s->labels}};
}

// Reads an optional scope: null/absent = all studies.
std::optional<std::string> read_scope(const json& j, std::optional<Scope>& out) {
  if (!j.contains("scope") || j["scope"].is_null()) {
    out.reset();
    return std::nullopt;
  }
  const json& s = j["scope"];
  if (!s.is_object()) return "scope must be an object or null";
  Scope scope;
  for (auto [key, field] : {std::pair{"institutions", &scope.institutions},
                            std::pair{"referring_physicians", &scope.referring_physicians},
                            std::pair{"labels", &scope.labels}}) {
    if (!s.contains(key)) continue;
    if (!s[key].is_array() || s[key].size() > 256) return std::string("scope.") + key + " must be an array (at most 256)";
    for (const json& v : s[key]) {
      if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>().size() > 64)
        return std::string("scope.") + key + " holds 1..64 character strings";
      field->push_back(v.get<std::string>());
    }
  }
  out = std::move(scope);
  return std::nullopt;
}

} // namespace tresor::http::api
