// Internal to src/http: helpers shared by the REST API handlers (api.cpp,
// api_admin.cpp). JSON via nlohmann-json; every admin change is audited here.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "http/routes.h"

namespace tresor::http::api {

using nlohmann::json;

inline Response json_response(int status, const json& j) {
  return http::json(status, j.dump(-1, ' ', false, json::error_handler_t::replace));
}

inline Response bad(std::string reason) { return error_response(make_error(Errc::invalid_argument, std::move(reason))); }

inline Response no_content() {
  Response r;
  r.status = 204;
  return r;
}

// One audit event (Type::admin) for a change made through the API.
void audit_admin(const Deps& d, const Request& req, std::string action, std::string subject, bool ok = true);

// {"institutions": [...], "referring_physicians": [...], "labels": [...]} or null (= every study).
json scope_json(const std::optional<Scope>& s);
// Reads body["scope"] (absent or null = every study); returns the reason when malformed.
std::optional<std::string> read_scope(const json& body, std::optional<Scope>& out);

} // namespace tresor::http::api
