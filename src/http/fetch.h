// A small HTTPS client for fetching documents we trust by their origin (the
// OIDC issuer's JWKS). Contract of https_get():
//  - https:// only: "https://host[:port][/path][?query]"; user info
//    (user:pw@), fragments, spaces and control characters are refused;
//  - TLS 1.2 or newer; the server certificate must chain to `ca_file` (PEM;
//    empty = the system store, /etc/ssl/certs) and match the host (DNS name
//    or IP address, RFC 6125; SNI is sent for DNS names);
//  - one GET, no redirects followed (a 3xx is an error), only 200 is success;
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
#include "core/error.h"

namespace tresor::http {

Result<std::string> https_get(const std::string& url, const std::filesystem::path& ca_file,
                              std::chrono::seconds timeout, std::size_t max_bytes);

} // namespace tresor::http
