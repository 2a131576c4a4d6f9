// A small blocking HTTPS client on plain OpenSSL for the server tests: it
// sends raw bytes (so tests can send malformed or abusive requests) and
// parses responses (Content-Length, chunked, or until close).
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tresor::http::testing {

inline bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool chunked = false;

  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (iequal(k, name)) return v;
    }
    return std::nullopt;
  }
  bool has_header_prefix(std::string_view prefix) const {
    for (const auto& [k, v] : headers) {
      if (k.size() >= prefix.size() && iequal(std::string_view(k).substr(0, prefix.size()), prefix)) return true;
    }
    return false;
  }
};

// A connected TCP socket to 127.0.0.1:port with a receive timeout, from the
// loopback address `source` (e.g. "127.0.0.2") if given; -1 on failure.
inline int tcp_connect(std::uint16_t port, int recv_timeout_ms = 15000, const char* source = nullptr) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (source) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source, &local.sin_addr) != 1 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{recv_timeout_ms / 1000, (recv_timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

class TlsClient {
public:
  struct Options {
    int min_version = 0;        // e.g. TLS1_VERSION
    int max_version = 0;        // e.g. TLS1_1_VERSION
    bool legacy_ciphers = false;  // @SECLEVEL=0 so that the client itself would allow TLS 1.0/1.1
    int recv_timeout_ms = 15000;
    const char* ciphers = nullptr;  // TLS 1.2 cipher list offered
    const char* source = nullptr;   // local address to connect from ("127.0.0.2"); null = any
  };

  // Connects and completes the TLS handshake; nullptr when either fails.
  static std::unique_ptr<TlsClient> connect(std::uint16_t port) { return connect(port, Options{}); }
  static std::unique_ptr<TlsClient> connect(std::uint16_t port, const Options& options) {
    auto client = std::unique_ptr<TlsClient>(new TlsClient());
    client->ctx_ = SSL_CTX_new(TLS_client_method());
    if (!client->ctx_) return nullptr;
    SSL_CTX_set_verify(client->ctx_, SSL_VERIFY_NONE, nullptr);  // the tests check the server's policy, not its name
    if (options.legacy_ciphers) SSL_CTX_set_cipher_list(client->ctx_, "DEFAULT:@SECLEVEL=0");
    if (options.ciphers) SSL_CTX_set_cipher_list(client->ctx_, options.ciphers);
    if (options.min_version) SSL_CTX_set_min_proto_version(client->ctx_, options.min_version);
    if (options.max_version) SSL_CTX_set_max_proto_version(client->ctx_, options.max_version);
    client->fd_ = tcp_connect(port, options.recv_timeout_ms, options.source);
    if (client->fd_ < 0) return nullptr;
    client->ssl_ = SSL_new(client->ctx_);
    SSL_set_fd(client->ssl_, client->fd_);
    if (SSL_connect(client->ssl_) != 1) {
      ERR_clear_error();
      return nullptr;
    }
    return client;
  }

  ~TlsClient() {
    if (ssl_) {
      if (!broken_) SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    if (fd_ >= 0) ::close(fd_);
    if (ctx_) SSL_CTX_free(ctx_);
  }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  int protocol_version() const { return SSL_version(ssl_); }

  bool send(std::string_view data) {
    while (!data.empty()) {
      int n = SSL_write(ssl_, data.data(), static_cast<int>(std::min<std::size_t>(data.size(), 1 << 20)));
      if (n <= 0) {
        broken_ = true;
        ERR_clear_error();
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // True when the server closes the connection (or it fails) before any
  // further byte arrives, within the socket's receive timeout.
  bool closed_by_peer() {
    if (in_.size() > pos_) return false;
    char c;
    errno = 0;
    int n = SSL_read(ssl_, &c, 1);
    if (n > 0) {
      in_.push_back(c);
      return false;
    }
    int err = SSL_get_error(ssl_, n);
    broken_ = true;
    ERR_clear_error();
    // A receive timeout surfaces as SSL_ERROR_SYSCALL with EAGAIN: not a close.
    return !(err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK));
  }

  // Reads one response; nullopt when the connection ends before it is complete.
  std::optional<HttpResponse> read_response(bool head_request = false) {
    HttpResponse r;
    std::string line;
    if (!read_line(line)) return std::nullopt;
    if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12) return std::nullopt;
    r.status = std::stoi(line.substr(9, 3));
    for (;;) {
      if (!read_line(line)) return std::nullopt;
      if (line.empty()) break;
      auto colon = line.find(':');
      if (colon == std::string::npos) return std::nullopt;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers.emplace_back(line.substr(0, colon), value);
    }
    if (head_request || r.status / 100 == 1 || r.status == 204 || r.status == 304) return r;
    auto te = r.header("Transfer-Encoding");
    if (te && iequal(*te, "chunked")) {
      r.chunked = true;
      for (;;) {
        if (!read_line(line)) return std::nullopt;
        std::size_t size = std::stoul(line, nullptr, 16);
        if (size == 0) {
          if (!read_line(line)) return std::nullopt;  // no trailers expected
          return r;
        }
        if (!read_exact(size, r.body)) return std::nullopt;
        if (!read_line(line) || !line.empty()) return std::nullopt;
      }
    }
    if (auto cl = r.header("Content-Length")) {
      if (!read_exact(std::stoull(*cl), r.body)) return std::nullopt;
      return r;
    }
    while (fill()) {
    }
    r.body.append(in_, pos_, std::string::npos);
    pos_ = in_.size();
    return r;
  }

  // Sends a request and reads its response.
  std::optional<HttpResponse> roundtrip(std::string_view request, bool head_request = false) {
    if (!send(request)) return std::nullopt;
    return read_response(head_request);
  }

private:
  TlsClient() = default;

  bool fill() {
    if (pos_ > (1 << 20)) {
      in_.erase(0, pos_);
      pos_ = 0;
    }
    char buf[64 * 1024];
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n <= 0) {
      broken_ = true;
      ERR_clear_error();
      return false;
    }
    in_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  bool read_line(std::string& line) {
    for (;;) {
      auto end = in_.find("\r\n", pos_);
      if (end != std::string::npos) {
        line.assign(in_, pos_, end - pos_);
        pos_ = end + 2;
        return true;
      }
      if (in_.size() - pos_ > 1 << 20 || !fill()) return false;
    }
  }
  bool read_exact(std::size_t n, std::string& out) {
    while (in_.size() - pos_ < n) {
      std::size_t have = in_.size() - pos_;
      out.append(in_, pos_, have);
      pos_ = in_.size();
      n -= have;
      if (!fill()) return false;
    }
    out.append(in_, pos_, n);
    pos_ += n;
    return true;
  }

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool broken_ = false;
  std::string in_;
  std::size_t pos_ = 0;
};

} // namespace tresor::http::testing
