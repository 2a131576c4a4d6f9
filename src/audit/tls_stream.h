// Internal to src/audit: a client TLS connection with OpenSSL for the syslog
// exporter (RFC 5425). Contract: TLS 1.2 or newer; the server's certificate
// must chain to ca_file and carry server_name (DNS name, or IP address when
// server_name is an IPv4 literal); our certificate and key are presented for
// mutual TLS. The socket is non-blocking and every operation takes a
// deadline, so nothing waits longer than the caller allows. Writes never
// raise SIGPIPE.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"

namespace tresor::audit::detail {

struct TlsClientConfig {
  std::string host;
  std::uint16_t port = 0;
  std::string server_name;
  std::filesystem::path ca_file, cert_file, key_file;
};

class TlsStream {
public:
  static Result<std::unique_ptr<TlsStream>> connect(const TlsClientConfig& config, std::chrono::milliseconds timeout);
  virtual ~TlsStream() = default;
  // Writes all of `data` or fails (peer gone, timeout).
  virtual Status write_all(std::string_view data, std::chrono::milliseconds timeout) = 0;
  // Waits until the peer's TCP stack has acknowledged every byte written
  // (Linux SIOCOUTQ reaches 0), or fails on timeout or a closed connection.
  virtual Status drain(std::chrono::milliseconds timeout) = 0;
  // False when the peer closed the connection (EOF, close_notify, reset).
  // Consumes and ignores anything else the server sends (session tickets).
  virtual bool alive() = 0;
};

} // namespace tresor::audit::detail
