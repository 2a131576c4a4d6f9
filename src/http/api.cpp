// The account and admin REST API (JSON) under /api. Contract:
//  - POST /api/login is the only route without authentication; it sets the
//    session cookie __Host-tresor_session (HttpOnly; Secure; SameSite=Strict;
//    Path=/; no Domain) and returns the CSRF token that state-changing
//    requests with the cookie must send in X-CSRF-Token (like every
//    state-changing request, login itself must be same-origin JSON: see
//    server_util.h check_state_changing, so no other site logs a browser in);
//    with it, the device cookie __Host-tresor_device (same attributes,
//    Max-Age = login.known_good_days; security/device_cookie.h), which the
//    browser presents at its next logins: a valid one for the account is
//    exempt from the account's guess ceiling (login_throttle.h);
//  - personal API tokens may be created with a password (Basic) or a
//    log-in session (itself opened with a password), never with another
//    token (a stolen token cannot mint successors); with a bearer JWT only
//    when http.jwt_token_max_days > 0, and then the token expires at most
//    that many days after the JWT (a stolen short-lived JWT cannot become a
//    year-long credential);
//  - a password change or reset (PUT /api/users/{name}/password, or the CLI)
//    revokes the user's API tokens (in the index, same write) and ends their
//    sessions;
//  - admin routes need the admin permission, /api/audit the audit permission;
//    every change is audited (Type::admin, actor, source, action);
//  - secrets (passwords, token secrets) appear only in the one response that
//    creates them, never in logs or audit events.
#include <nlohmann/json.hpp>

#include <charconv>

#include "http/api_common.h"
#include "http/server_util.h"
#include "security/passwords.h"

namespace tresor::http {
namespace {

using nlohmann::json;
using api::audit_admin;
using api::bad;
using api::json_response;
using api::no_content;
using api::read_scope;
using api::scope_json;
using DepsPtr = std::shared_ptr<const Deps>;

std::optional<json> parse_body(const Request& req) {
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

json user_json(const User& u) {
  json roles = json::array();
  for (Role r : u.roles) roles.push_back(to_string(r));
  return json{{"username", u.username}, {"roles", roles}, {"enabled", u.enabled}, {"scope", scope_json(u.scope)}};
}

std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

json token_json(const ApiToken& t) {
  return json{{"id", t.id},
              {"username", t.username},
              {"name", t.name},
              {"created", unix_seconds(t.created)},
              {"expires", unix_seconds(t.expires)},
              {"revoked", t.revoked}};
}

std::string cookie(const std::string& value, std::int64_t max_age) {
  return std::string(detail::kSessionCookie) + "=" + value + "; Path=/; Max-Age=" + std::to_string(max_age) + "; HttpOnly; Secure; SameSite=Strict";
}

// The device cookie (OWASP device cookies, security/device_cookie.h).
constexpr std::string_view kDeviceCookie = "__Host-tresor_device";

std::string device_cookie(const std::string& value, std::int64_t max_age) {
  return std::string(kDeviceCookie) + "=" + value + "; Path=/; Max-Age=" + std::to_string(max_age) +
         "; HttpOnly; Secure; SameSite=Strict";
}

// ---- session ----

Response login(Request& req, const Deps& d) {
  auto body = parse_body(req);
  if (!body || !(*body)["username"].is_string() || !(*body)["password"].is_string())
    return bad("expected {\"username\": ..., \"password\": ...}");
  // The device cookie is passed on as sent; DeviceCookies::verify() bounds and checks it.
  auto result = d.auth.login((*body)["username"].get<std::string>(), (*body)["password"].get<std::string>(), req.source_ip,
                             detail::find_cookie(req.headers, kDeviceCookie));
  if (!result) return error_response(result.error());
  json roles = json::array();
  auto user = d.accounts.find_user(result->principal.name);
  if (user && *user)
    for (Role r : (*user)->roles) roles.push_back(to_string(r));
  Response r = json_response(200, json{{"username", result->principal.name}, {"roles", roles}, {"csrf_token", result->csrf_token}});
  // Two Set-Cookie fields (set() would replace one with the other); the
  // session cookie last, for clients that keep only the last one.
  if (!result->device_cookie.empty())
    r.headers.emplace_back("Set-Cookie", device_cookie(result->device_cookie, result->device_max_age.count()));
  r.headers.emplace_back("Set-Cookie", cookie(result->session_id, result->max_age.count()));
  return r;
}

Response logout(Request& req, const Deps& d) {
  if (req.auth->method == security::AuthMethod::session) d.auth.logout(req.auth->session_id);
  Response r;
  r.status = 204;
  r.set("Set-Cookie", cookie("", 0));
  return r;
}

Response me(Request& req, const Deps&) {
  const Principal& p = req.principal();
  json ops = json::array();
  for (Operation o : p.operations) ops.push_back(to_string(o));
  json out{{"name", p.name},
           {"kind", p.kind == Principal::Kind::user ? "user" : "peer"},
           {"operations", ops},
           {"auth", security::to_string(req.auth->method)},
           {"scope", scope_json(p.scope)}};
  // Same-origin only (no CORS, SameSite=Strict cookie): a new tab of this session picks up its CSRF token here.
  if (req.auth->method == security::AuthMethod::session) out["csrf_token"] = req.auth->csrf_token;
  return json_response(200, out);
}

// ---- tokens ----

Response list_tokens(Request& req, const Deps& d) {
  const bool all = req.query_param("all").value_or("") == "true" && req.principal().may(Operation::admin);
  auto tokens = d.accounts.list_tokens(all ? "" : req.principal().name);
  if (!tokens) return error_response(tokens.error());
  json out = json::array();
  for (const ApiToken& t : *tokens) out.push_back(token_json(t));
  return json_response(200, out);
}

Response create_token(Request& req, const Deps& d) {
  if (req.auth->method == security::AuthMethod::api_token || req.principal().kind != Principal::Kind::user)
    return error_response(make_error(Errc::permission_denied, "tokens are created with a password or a session"));
  const bool by_jwt = req.auth->method == security::AuthMethod::bearer_jwt;
  if (by_jwt && (d.config.http.jwt_token_max_days <= 0 || !req.auth->expires))
    return error_response(make_error(Errc::permission_denied,
                                     "tokens are created with a password or a session, not with a JWT "
                                     "(http.jwt_token_max_days = 0)"));
  auto body = parse_body(req);
  if (!body || !(*body)["name"].is_string() || (*body)["name"].get<std::string>().empty() ||
      (*body)["name"].get<std::string>().size() > 64)
    return bad("expected {\"name\": \"1..64 chars\", \"days\": N}");
  int days = 90;
  if (body->contains("days")) {
    if (!(*body)["days"].is_number_integer()) return bad("days must be an integer");
    days = (*body)["days"].get<int>();
  }
  if (days < 1 || days > d.config.http.token_max_days)
    return bad("days must be 1.." + std::to_string(d.config.http.token_max_days));
  auto ttl = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::hours(24 * days));
  if (by_jwt) {  // at most jwt_token_max_days past the JWT's own expiry
    const auto limit = *req.auth->expires + std::chrono::hours(24 * d.config.http.jwt_token_max_days);
    ttl = std::min(ttl, std::chrono::duration_cast<std::chrono::seconds>(limit - d.clock.now()));
  }
  auto issued = d.auth.issue_token(req.principal().name, (*body)["name"].get<std::string>(), ttl);
  if (!issued) return error_response(issued.error());
  audit_admin(d, req, "token.create", issued->token.id);
  json out = token_json(issued->token);
  out["secret"] = issued->secret;
  return json_response(201, out);
}

Response revoke_token(Request& req, const Deps& d) {
  std::string id(req.param("id"));
  auto tokens = d.accounts.list_tokens(req.principal().may(Operation::admin) ? "" : req.principal().name);
  if (!tokens) return error_response(tokens.error());
  bool mine = false;
  for (const ApiToken& t : *tokens) mine = mine || t.id == id;
  if (!mine) return error_response(make_error(Errc::not_found, "no such token"));
  auto revoked = d.accounts.revoke_token(id);
  if (!revoked) return error_response(revoked.error());
  audit_admin(d, req, "token.revoke", id);
  Response r;
  r.status = 204;
  return r;
}

// ---- users ----

Response list_users(Request&, const Deps& d) {
  auto users = d.accounts.list_users();
  if (!users) return error_response(users.error());
  json out = json::array();
  for (const User& u : *users) out.push_back(user_json(u));
  return json_response(200, out);
}

std::optional<std::string> read_roles(const json& j, std::set<Role>& roles) {
  if (!j.is_array() || j.empty()) return "roles must be a non-empty array";
  for (const json& r : j) {
    auto role = r.is_string() ? parse_role(r.get<std::string>()) : std::nullopt;
    if (!role) return "unknown role (admin, clinician, technologist, researcher, auditor)";
    roles.insert(*role);
  }
  return std::nullopt;
}

// The password from the body, or a generated one (returned once).
Result<std::pair<std::string, bool>> choose_password(const json& body) {
  if (!body.contains("password")) return std::pair{security::random_secret(), true};
  if (!body["password"].is_string()) return fail(Errc::invalid_argument, "password must be a string");
  std::string pw = body["password"].get<std::string>();
  if (pw.size() > 1024 || security::is_weak_password(pw))
    return fail(Errc::invalid_argument, "the password is too short, too simple or a well-known default");
  return std::pair{pw, false};
}

Response create_user(Request& req, const Deps& d) {
  auto body = parse_body(req);
  if (!body || !(*body)["username"].is_string()) return bad("expected {\"username\", \"roles\", [\"password\"], [\"scope\"]}");
  User u;
  u.username = (*body)["username"].get<std::string>();
  if (!is_valid_username(u.username)) return bad("user name must be 1..64 chars of A-Z a-z 0-9 _ . @ -");
  if (auto e = read_roles((*body)["roles"], u.roles)) return bad(*e);
  if (auto e = read_scope(*body, u.scope)) return bad(*e);
  auto existing = d.accounts.find_user(u.username);
  if (!existing) return error_response(existing.error());
  if (*existing) return error_response(make_error(Errc::conflict, "user exists"));
  auto pw = choose_password(*body);
  if (!pw) return error_response(pw.error());
  auto hash = security::hash_password(pw->first);
  if (!hash) return error_response(hash.error());
  u.password_hash = *hash;
  if (auto st = d.accounts.put_user(u); !st) return error_response(st.error());
  audit_admin(d, req, "user.add", u.username);
  json out = user_json(u);
  if (pw->second) out["password"] = pw->first;
  return json_response(201, out);
}

Response update_user(Request& req, const Deps& d) {
  auto body = parse_body(req);
  if (!body) return bad("expected a JSON object");
  auto existing = d.accounts.find_user(std::string(req.param("name")));
  if (!existing) return error_response(existing.error());
  if (!*existing) return error_response(make_error(Errc::not_found, "no such user"));
  User u = **existing;
  if (body->contains("roles")) {
    u.roles.clear();
    if (auto e = read_roles((*body)["roles"], u.roles)) return bad(*e);
  }
  if (body->contains("enabled")) {
    if (!(*body)["enabled"].is_boolean()) return bad("enabled must be true or false");
    u.enabled = (*body)["enabled"].get<bool>();
  }
  if (body->contains("scope"))
    if (auto e = read_scope(*body, u.scope)) return bad(*e);
  if (auto st = d.accounts.put_user(u); !st) return error_response(st.error());
  d.auth.forget_user(u.username);
  audit_admin(d, req, "user.update", u.username);
  return json_response(200, user_json(u));
}

Response set_password(Request& req, const Deps& d) {
  auto body = parse_body(req);
  if (!body) return bad("expected a JSON object");
  auto existing = d.accounts.find_user(std::string(req.param("name")));
  if (!existing) return error_response(existing.error());
  if (!*existing) return error_response(make_error(Errc::not_found, "no such user"));
  auto pw = choose_password(*body);
  if (!pw) return error_response(pw.error());
  auto hash = security::hash_password(pw->first);
  if (!hash) return error_response(hash.error());
  User u = **existing;
  u.password_hash = *hash;
  if (auto st = d.accounts.put_user(u); !st) return error_response(st.error());
  d.auth.forget_user(u.username);
  audit_admin(d, req, "user.passwd", u.username);
  json out = json::object();
  if (pw->second) out["password"] = pw->first;
  return json_response(200, out);
}

Response delete_user(Request& req, const Deps& d) {
  std::string name(req.param("name"));
  if (name == req.principal().name) return error_response(make_error(Errc::conflict, "you cannot remove yourself"));
  auto removed = d.accounts.remove_user(name);
  if (!removed) return error_response(removed.error());
  if (!*removed) return error_response(make_error(Errc::not_found, "no such user"));
  d.auth.forget_user(name);
  audit_admin(d, req, "user.remove", name);
  Response r;
  r.status = 204;
  return r;
}

} // namespace

void add_api_admin_routes(Router& router, const DepsPtr& deps);

void add_api_routes(Router& router, const Deps& deps) {
  auto d = std::make_shared<const Deps>(deps);
  auto add = [&](Method m, std::string pattern, std::optional<Operation> perm, BodyKind body, std::string summary,
                 Response (*fn)(Request&, const Deps&), Auth auth = Auth::required) {
    Route r;
    r.method = m;
    r.pattern = std::move(pattern);
    r.permission = perm;
    r.body = body;
    r.max_body = 64 * 1024;
    r.auth = auth;
    r.summary = std::move(summary);
    r.handler = [d, fn](Request& req) { return fn(req, *d); };
    router.add(std::move(r));
  };
  add(Method::post, "/api/login", std::nullopt, BodyKind::small,
      "Log in with {username, password}: session and device cookies + CSRF token", login, Auth::none);
  add(Method::post, "/api/logout", std::nullopt, BodyKind::none, "End the session", logout);
  add(Method::get, "/api/me", std::nullopt, BodyKind::none, "Who am I: name, operations, scope", me);
  add(Method::get, "/api/tokens", std::nullopt, BodyKind::none, "My API tokens (?all=true: everyone's, admin)", list_tokens);
  add(Method::post, "/api/tokens", std::nullopt, BodyKind::small, "Create an API token {name, days}; the secret is shown once",
      create_token);
  add(Method::del, "/api/tokens/{id}", std::nullopt, BodyKind::none, "Revoke an API token (mine, or any for admin)",
      revoke_token);
  add(Method::get, "/api/users", Operation::admin, BodyKind::none, "List users", list_users);
  add(Method::post, "/api/users", Operation::admin, BodyKind::small,
      "Add a user {username, roles, [password], [scope]}; a generated password is shown once", create_user);
  add(Method::put, "/api/users/{name}", Operation::admin, BodyKind::small, "Change roles, enabled, scope", update_user);
  add(Method::put, "/api/users/{name}/password", Operation::admin, BodyKind::small,
      "Set {password} or generate one (shown once)", set_password);
  add(Method::del, "/api/users/{name}", Operation::admin, BodyKind::none, "Remove a user (and its tokens)", delete_user);
  add_api_admin_routes(router, d);
}

} // namespace tresor::http
