// Protocol-level types shared by the HTTPS transport (server.cpp, the only
// Boost.Beast TU) and the handlers (DICOMweb, REST). No Beast types here.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include "core/accounts.h"
#include "core/error.h"
#include "security/http_auth.h"

namespace tresor::http {

using Fields = std::vector<std::pair<std::string, std::string>>;

enum class Method { get, head, post, put, patch, del, options, other };
const char* to_string(Method method) noexcept;

struct Request {
  Method method = Method::get;
  std::string path;                  // percent-decoded path, without the query ("/dicom-web/studies")
  Fields query;                      // percent-decoded query parameters, in order ('+' is a space)
  Fields headers;                    // as received (names as sent)
  std::string source_ip;             // remote address
  std::string origin;                // public origin for absolute URLs (config http.public_url or https://bind:port)
  Fields params;                     // route parameters, e.g. {"study", "1.2.3"}

  // Body, according to the route's BodyKind: `body` for small bodies, or a
  // file (streamed to disk, removed after the handler returns) for large ones.
  std::string body;
  std::filesystem::path body_file;
  std::uint64_t body_size = 0;

  // Set by the server before the handler runs on routes that require authentication.
  std::optional<security::Authenticated> auth;

  // Case-insensitive header lookup; the first one wins.
  std::optional<std::string_view> header(std::string_view name) const;
  // First query parameter with this exact name.
  std::optional<std::string_view> query_param(std::string_view name) const;
  // Route parameter (asserts nothing: "" when absent).
  std::string_view param(std::string_view name) const;
  const Principal& principal() const { return auth->principal; }
};

// A response body produced in pieces, so nothing large is ever held in memory.
// next() appends at most about 1 MiB to `out` and returns true while more
// follows, false at the end. An error mid-body aborts the connection (the
// status line is already sent). Called on the connection's strand only.
class BodyProducer {
public:
  virtual ~BodyProducer() = default;
  virtual Result<bool> next(std::string& out) = 0;
};

struct Response {
  int status = 200;
  Fields headers;                     // Content-Type etc.; security headers are added by the server
  std::string body;                   // when `stream` is null
  std::unique_ptr<BodyProducer> stream;  // when set: chunked transfer encoding
                                         // (or Content-Length if content_length is set)
  std::optional<std::uint64_t> content_length;

  void set(std::string name, std::string value);
};

// Helpers for handlers.
Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
Response json(int status, std::string body, std::string content_type = "application/json");
// An error as JSON {"error": "<reason>"} with error.http_status().
Response error_response(const Error& error);

// Percent-decoding (RFC 3986); nullopt on a bad escape or an encoded NUL.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);
// Parses "a=1&b=2" into decoded pairs; nullopt on a bad escape.
std::optional<Fields> parse_query(std::string_view query);

} // namespace tresor::http
