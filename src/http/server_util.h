// Helpers of the HTTPS transport (server.cpp) that need no Beast: header
// and cookie parsing, the log-in redirect, and the spooled request body.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "http/http.h"

namespace tresor::http::detail {

char lower(char c);
bool iequals(std::string_view a, std::string_view b);
std::string_view trim(std::string_view s);  // spaces and tabs at both ends

Response error_with(int status, Errc code, std::string message);
Response error_of(Errc code, std::string message);

// 303 to the log-in page, which sends the browser back to this URL afterwards
// (path and query percent-encoded into ?next=).
Response login_redirect(const Request& req);

// Query parameters that carry credentials (refused: they end up in logs).
bool is_credential_param(std::string_view key);

// Value of the cookie `name` from the Cookie header(s); "" when absent.
std::string_view find_cookie(const Fields& headers, std::string_view name);

// The session cookie. The __Host- prefix makes browsers accept it only with
// Secure, Path=/ and no Domain, so no sibling host can set or shadow it.
inline constexpr std::string_view kSessionCookie = "__Host-tresor_session";

// Whether a request comes from a web browser: it carries Origin, any
// Sec-Fetch-* or X-Requested-With header, an Accept that lists text/html, or a
// User-Agent starting with "Mozilla/" (every browser's). Such a client never
// gets a Basic challenge (it would open the browser's password dialog and the
// browser would then cache and send those credentials on its own, cross-site
// requests included); curl, dicomweb-client, DCMTK and the CLI match none of
// this and keep getting it.
bool looks_like_browser(const Request& req);

// CSRF defence for a state-changing request (POST, PUT, PATCH, DELETE),
// checked before authentication, whatever the credential (a browser sends
// cached Basic credentials and cookies by itself):
//  - provenance: a Sec-Fetch-Site other than "same-origin" or "none", or an
//    Origin other than this server's (https:// + the request's Host, default
//    port 443 elided, compared case-insensitively; or `public_origin`, the
//    origin configured in http.public_url) -> 403. A request with neither
//    header is not from a browser's page (every browser sends Origin on
//    POST, PUT, PATCH and DELETE);
//  - media type: a request with a body (`has_body`) or a Content-Type must be
//    application/json, or multipart/related on a route whose body is
//    streamed to a file (BodyKind::file: STOW-RS) -> else 415. HTML forms can
//    only send application/x-www-form-urlencoded, multipart/form-data and
//    text/plain, and a cross-origin script cannot send application/json
//    without a CORS preflight, which Tresor refuses. A request without body
//    and without Content-Type (curl -X DELETE) passes this check.
// Returns the refusal, or nullopt.
std::optional<Response> check_state_changing(const Request& req, bool file_body, bool has_body,
                                             std::string_view public_origin);

bool valid_header_name(std::string_view name);    // RFC 9110 token
bool valid_header_value(std::string_view value);  // no CR, LF or NUL
// Headers the server owns: a handler may not set them.
bool reserved_header(std::string_view name);

// A request body streamed to disk: mkostemp (O_EXCL, 0600) under a directory;
// removed on destruction.
struct TempFile {
  int fd = -1;
  std::filesystem::path path;
  TempFile() = default;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() { discard(); }
  bool create(const std::filesystem::path& dir);
  bool write(const char* data, std::size_t size);
  void close_fd();
  void discard();
};

} // namespace tresor::http::detail
