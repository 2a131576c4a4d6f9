#include "audit/tls_stream.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>

namespace tresor::audit::detail {
namespace {

using Clock = std::chrono::steady_clock;

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

// Waits for `events` on fd until the deadline; false on timeout.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};

class Stream final : public TlsStream {
public:
  Stream(int fd, std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx, std::unique_ptr<SSL, SslDeleter> ssl)
      : fd_(fd), ctx_(std::move(ctx)), ssl_(std::move(ssl)) {}
  ~Stream() override {
    if (ssl_ && !broken_) {
      SSL_shutdown(ssl_.get());  // best effort, non-blocking
    }
    ssl_.reset();
    if (fd_ >= 0) ::close(fd_);
  }

  Status write_all(std::string_view data, std::chrono::milliseconds timeout) override {
    const auto deadline = Clock::now() + timeout;
    while (!data.empty()) {
      ERR_clear_error();
      std::size_t written = 0;
      int rc = SSL_write_ex(ssl_.get(), data.data(), data.size(), &written);
      if (rc == 1) {
        data.remove_prefix(written);
        continue;
      }
      int err = SSL_get_error(ssl_.get(), rc);
      short events = err == SSL_ERROR_WANT_READ ? POLLIN : err == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
      if (events == 0) {
        broken_ = true;
        return fail(Errc::io_error, err == SSL_ERROR_SYSCALL ? std::string("connection lost: ") + std::strerror(errno)
                                                             : "TLS write failed: " + openssl_error());
      }
      if (!wait_fd(fd_, events, deadline)) {
        broken_ = true;
        return fail(Errc::unavailable, "timed out writing to the collector");
      }
    }
    return {};
  }

  Status drain(std::chrono::milliseconds timeout) override {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      int pending = 0;
      if (::ioctl(fd_, SIOCOUTQ, &pending) != 0) return fail(Errc::io_error, "cannot query the send queue");
      if (pending == 0) return {};
      if (!alive()) return fail(Errc::io_error, "the collector closed the connection");
      if (Clock::now() >= deadline) return fail(Errc::unavailable, "the collector did not acknowledge in time");
      ::usleep(5000);
    }
  }

  bool alive() override {
    if (broken_) return false;
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    int rc = ::poll(&p, 1, 0);
    if (rc <= 0) return rc == 0 || errno == EINTR;
    if (p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) {
      broken_ = true;
      return false;
    }
    // Something to read: TLS records from the server (session tickets,
    // close_notify). The collector sends no application data.
    char buf[4096];
    for (int i = 0; i < 64; ++i) {
      ERR_clear_error();
      std::size_t got = 0;
      int r = SSL_read_ex(ssl_.get(), buf, sizeof buf, &got);
      if (r == 1) continue;
      int err = SSL_get_error(ssl_.get(), r);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return true;
      broken_ = true;
      return false;
    }
    return true;
  }

private:
  int fd_ = -1;
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx_;
  std::unique_ptr<SSL, SslDeleter> ssl_;
  bool broken_ = false;
};

Result<int> tcp_connect(const std::string& host, std::uint16_t port, Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
    return fail(Errc::unavailable, "cannot resolve the collector's host: " + std::string(::gai_strerror(rc)));
  std::string last = "no address";
  int result = -1;
  for (addrinfo* a = found; a != nullptr && result < 0; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      if (!wait_fd(fd, POLLOUT, deadline)) {
        last = "connect timed out";
        ::close(fd);
        continue;
      }
      int soerr = 0;
      socklen_t len = sizeof soerr;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
      rc = soerr == 0 ? 0 : -1;
      errno = soerr;
    }
    if (rc != 0) {
      last = std::strerror(errno);
      ::close(fd);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    result = fd;
  }
  ::freeaddrinfo(found);
  if (result < 0) return fail(Errc::unavailable, "cannot connect to the collector: " + last);
  return result;
}

bool is_ip_literal(const std::string& s) {
  in6_addr a6;
  in_addr a4;
  return ::inet_pton(AF_INET, s.c_str(), &a4) == 1 || ::inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

} // namespace

Result<std::unique_ptr<TlsStream>> TlsStream::connect(const TlsClientConfig& config, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return fail(Errc::internal, "cannot create a TLS context: " + openssl_error());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx.get(), config.ca_file.c_str(), nullptr) != 1)
    return fail(Errc::invalid_argument, "audit_export.ca_file: cannot load " + config.ca_file.string() + ": " +
                                            openssl_error());
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), config.cert_file.c_str()) != 1)
    return fail(Errc::invalid_argument, "audit_export.cert_file: cannot load " + config.cert_file.string() + ": " +
                                            openssl_error());
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), config.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1)
    return fail(Errc::invalid_argument, "audit_export.key_file: cannot load " + config.key_file.string() +
                                            " or it does not match the certificate");
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

  auto fd = tcp_connect(config.host, config.port, deadline);
  if (!fd) return std::unexpected(fd.error());
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
  if (!ssl || SSL_set_fd(ssl.get(), *fd) != 1) {
    ::close(*fd);
    return fail(Errc::internal, "cannot create a TLS session: " + openssl_error());
  }
  const std::string& name = config.server_name.empty() ? config.host : config.server_name;
  if (is_ip_literal(name)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), name.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl.get(), name.c_str());
    SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(ssl.get(), name.c_str());
  }
  for (;;) {
    ERR_clear_error();
    int rc = SSL_connect(ssl.get());
    if (rc == 1) break;
    int err = SSL_get_error(ssl.get(), rc);
    short events = err == SSL_ERROR_WANT_READ ? POLLIN : err == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0 || !wait_fd(*fd, events, deadline)) {
      std::string why = events == 0 ? openssl_error() : "handshake timed out";
      long verify = SSL_get_verify_result(ssl.get());
      if (verify != X509_V_OK) why = std::string("collector certificate rejected: ") + X509_verify_cert_error_string(verify);
      ssl.reset();
      ::close(*fd);
      return fail(Errc::unavailable, "TLS handshake with the collector failed: " + why);
    }
  }
  return std::unique_ptr<TlsStream>(new Stream(*fd, std::move(ctx), std::move(ssl)));
}

} // namespace tresor::audit::detail
