// The route table: method + path pattern -> what the server must check
// before the handler runs, and the handler. The same table generates
// docs/http-api.md (`tresor routes --markdown`), so it is the one source of
// truth for the HTTP API.
//
// Contract (enforced by the server in this order, before any body byte is read):
//  1. no route matches the path -> 404; the path matches but not the method -> 405 with Allow;
//  2. a query parameter that carries credentials (access_token, token,
//     api_key, apikey, auth, password, session, jwt; case-insensitive) -> 400
//     "credentials in the query string are refused" (the target is never logged);
//  2b. a state-changing request (POST, PUT, PATCH, DELETE), on every route
//     and whatever the credential: a foreign Origin / Sec-Fetch-Site -> 403,
//     a body that is not application/json (multipart/related on a
//     BodyKind::file route: STOW-RS) -> 415 (server_util.h check_state_changing);
//  3. Auth::required -> HttpAuthenticator::authenticate() (401 with
//     WWW-Authenticate: Basic realm="tresor", Bearer, except to a browser;
//     403 for CSRF);
//  4. the principal lacks `permission` -> 403;
//  5. the body: BodyKind::none refuses any body (413 if Content-Length > 0),
//     small reads at most `max_body` (default 64 KiB) into Request::body,
//     file streams at most min(max_body, http.max_upload_bytes) into a
//     temporary file; more -> 413; a gzip/deflate Content-Encoding -> 415;
//     an `Expect: 100-continue` is answered only after steps 1-4 passed.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include "core/accounts.h"
#include "http/http.h"

namespace tresor::http {

// required: 401 without valid credentials; page: the same check, but an
// unauthenticated browser is sent (303) to /app/login.html?next=<this URL>;
// none: no credentials looked at (log-in form and its assets only).
enum class Auth { required, page, none };
const char* to_string(Auth auth) noexcept;  // "required", "page", "none"
enum class BodyKind { none, small, file };

using Handler = std::function<Response(Request&)>;

struct Route {
  Method method = Method::get;
  std::string pattern;        // "/dicom-web/studies/{study}/series/{series}"; a final "{*rest}" matches the remainder
  Auth auth = Auth::required;
  std::optional<Operation> permission;  // nullopt = any authenticated principal
  BodyKind body = BodyKind::none;
  std::uint64_t max_body = 64 * 1024;
  std::string summary;        // one line for docs/http-api.md
  Handler handler;
};

class Router {
public:
  void add(Route route);
  struct Match {
    const Route* route = nullptr;     // null: no route for this method
    Fields params;
    std::vector<Method> allowed;      // methods whose pattern matched the path (for 405 / Allow)
  };
  // Segments match literally or bind a {name} (one non-empty segment);
  // literal routes win over parameter routes.
  Match match(Method method, std::string_view path) const;
  const std::vector<Route>& routes() const { return routes_; }
  // Markdown table of every route: method, pattern, auth, permission, summary.
  std::string markdown() const;

private:
  std::vector<Route> routes_;
};

} // namespace tresor::http
