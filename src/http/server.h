// The HTTPS server (Boost.Beast on Asio + asio::ssl, C++20 coroutines).
// Contract:
//  - TLS 1.2 or newer only (TLS 1.3 preferred, BCP 195 ciphers), on the
//    [tls] certificate and key; no plaintext listener. A client that speaks
//    plain HTTP to the port gets the handshake failure and nothing else;
//  - limits from config::Http: max_connections (beyond: accepted and closed
//    at once), handshake_timeout_s, header_timeout_s for the whole header
//    (slow-loris), max_header_bytes (431), idle_timeout_s between keep-alive
//    requests, body_timeout_s of no progress on a body in either direction;
//    chunked request bodies are accepted and counted against the same caps;
//  - every response carries: Strict-Transport-Security (max-age=31536000),
//    Content-Security-Policy (default-src 'self'; frame-ancestors 'none'; ...
//    unless the handler set its own), X-Content-Type-Options: nosniff,
//    Referrer-Policy: no-referrer, X-Frame-Options: DENY,
//    Cross-Origin-Opener-Policy / -Resource-Policy: same-origin,
//    Cache-Control: no-store (unless set); never a Server header; CORS is
//    denied (no Access-Control-Allow-* header is ever sent; a preflight
//    OPTIONS gets 403);
//  - the router's checks run before the body is read (see router.h); a
//    handler's exception becomes a 500 without details; the server keeps
//    serving;
//  - access log lines carry method, route pattern (never the raw target or
//    query), status, bytes, duration and the principal name; no patient data;
//  - HEAD is answered as GET without the body;
//  - connections from a source for which auth.source_blocked() is true are
//    closed right after accept, before the TLS handshake.
//  - stop() closes the listener, lets in-flight requests finish for up to 5 s,
//    then closes every connection; it is safe to call from a signal-handling thread.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include "config/config.h"
#include "core/error.h"
#include "http/router.h"
#include "security/http_auth.h"

namespace tresor::http {

class Server {
public:
  // temp_dir: where request bodies are streamed (same file system as the store).
  static Result<std::unique_ptr<Server>> start(const config::Config& config, const Router& router,
                                               security::RequestAuthenticator& auth,
                                               const std::filesystem::path& temp_dir);
  virtual ~Server() = default;
  virtual std::uint16_t port() const = 0;   // the bound port (useful when config port is 0 in tests)
  virtual void stop() = 0;
};

} // namespace tresor::http
