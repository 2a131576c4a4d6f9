// A small HTTPS client: documents we trust by their origin (the OIDC issuer's
// JWKS, https_get) and the command line's calls to the admin REST API
// (https_request). Contract of both:
//  - https:// only: "https://host[:port][/path][?query]"; user info
//    (user:pw@), fragments, spaces and control characters are refused;
//  - TLS 1.2 or newer; the server certificate must chain to `ca_file` (PEM;
//    empty = the system store, /etc/ssl/certs) and match the host (DNS name
//    or IP address, RFC 6125; SNI is sent for DNS names);
//  - one request (Connection: close), no redirects followed; https_get() sends
//    a GET and treats anything but 200 as an error (a 3xx names itself);
//    https_request() returns whatever status the server answered;
//  - the body is bounded by max_bytes (Content-Length or chunked; more = error
//    too_large), the whole operation (connect, handshake, request, response)
//    by `timeout` (error unavailable). Name resolution runs inside the same
//    deadline, but a hanging system resolver is only bounded by its own
//    timeout (resolv.conf);
//  - errors name the host, never the path or query (they may hold secrets).
#pragma once
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>
#include "core/error.h"

namespace tresor::http {

struct HttpsRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // never logged
  std::string body;                                           // sent with POST/PUT
  std::filesystem::path ca_file;                              // empty = system store
  std::chrono::seconds timeout{30};
  std::size_t max_bytes = 16u << 20;                          // response body bound
};

struct HttpsResponse {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

Result<HttpsResponse> https_request(const HttpsRequest& request);

Result<std::string> https_get(const std::string& url, const std::filesystem::path& ca_file,
                              std::chrono::seconds timeout, std::size_t max_bytes);

} // namespace tresor::http
