// Listeners, the worker-accept pool, TLS set-up and the server object.
//
// Design (see docs/architecture.md and dependencies.md section 1):
//  - one T_ASC_Network per listener. DCMTK 3.6.7 can only bind INADDR_ANY,
//    so we let it create its listening socket on an ephemeral port and then
//    replace that descriptor (dup3 onto DUL_networkSocket()) with our own
//    socket bound to the configured address, non-blocking, with our backlog;
//  - `negotiators` threads per listener each wait (epoll, EPOLLEXCLUSIVE) on
//    the listening socket and call ASC_receiveAssociation() themselves (TCP
//    accept, TLS handshake, reading the A-ASSOCIATE-RQ). A silent or slow
//    client holds one negotiator until the ACSE timeout and never a worker;
//    losers of an accept race get EAGAIN and go back to waiting;
//  - negotiated requests go to a queue of at most `max_pending`; beyond it,
//    A-ASSOCIATE-RJ transient. `workers` threads take requests from the queue
//    and serve them (policy, then DIMSE), so at most `workers` associations
//    are served at once;
//  - stop() lets workers finish their current operation, then (after a grace
//    period) shuts the remaining association sockets down.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

#include <dcmtk/dcmnet/dul.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/dcmtls/tlslayer.h>
#include <openssl/ssl.h>

#include "core/log.h"
#include "net/gate.h"
#include "net/session.h"
#include "security/pki.h"

namespace tresor::net {

void init_network_globals(const config::Config& config) {
  // DCMTK reads TCP_NODELAY when it opens or accepts a connection; without it
  // every C-STORE waits for a delayed ACK (about 11 instances per second).
  ::setenv("TCP_NODELAY", "1", 1);
  dcmDisableGethostbyaddr.set(OFTrue);
  // Bounds a silent TLS handshake and any single blocking read.
  dcmSocketReceiveTimeout.set(config.dimse.acse_timeout_s);
  // Bounds a peer that stops reading our responses or sub-operations.
  dcmSocketSendTimeout.set(config.dimse.dimse_timeout_s);
  // Outbound connect() for C-MOVE destinations.
  dcmConnectionTimeout.set(config.dimse.acse_timeout_s);
  DcmTLSTransportLayer::initializeOpenSSL();
}

namespace detail {

long ServerContext::max_pdu() const {
  long v = static_cast<long>(config.dimse.max_pdu);
  if (v < ASC_MINIMUMPDUSIZE) v = ASC_MINIMUMPDUSIZE;
  if (v > ASC_MAXIMUMPDUSIZE) v = ASC_MAXIMUMPDUSIZE;  // DCMTK 3.6.7 refuses larger receive PDUs
  return v;
}

namespace {

// TLS 1.2 suites of the default profile: ECDHE key exchange and AEAD only
// (BCP 195 / RFC 9325); TLS 1.3 suites are OpenSSL's defaults (all AEAD, all
// (EC)DHE). No static-RSA, CBC or DHE suite: nothing to downgrade to.
constexpr const char* kBcp195Suites =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// With a gate (acceptors), connections are admitted by it before the handshake.
// `legacy`: the opt-in listener for peers that offer only retired suites
// (DCMTK's downgrading BCP 195 profile: also TLS_RSA_WITH_AES_128_CBC_SHA and
// the like); never used for outbound associations. `crl`: checked on every
// certificate verification (see security::CrlChecker).
Result<std::unique_ptr<DcmTLSTransportLayer>> make_tls_layer(const config::Tls& tls, T_ASC_NetworkRole role,
                                                             Gate* gate = nullptr, bool legacy = false,
                                                             security::CrlChecker* crl = nullptr) {
  std::unique_ptr<DcmTLSTransportLayer> layer;
  if (gate)
    layer = std::make_unique<GuardedLayer<DcmTLSTransportLayer>>(*gate, role, nullptr, OFFalse);
  else
    layer = std::make_unique<DcmTLSTransportLayer>(role, nullptr, OFFalse);
  if (!*layer) return fail(Errc::internal, "cannot create the TLS layer");
  if (layer->addTrustedCertificateFile(tls.ca_file.c_str(), DCF_Filetype_PEM).bad())
    return fail(Errc::invalid_argument, "cannot load TLS CA file " + tls.ca_file.string());
  if (layer->setPrivateKeyFile(tls.key_file.c_str(), DCF_Filetype_PEM).bad())
    return fail(Errc::invalid_argument, "cannot load TLS private key " + tls.key_file.string());
  if (layer->setCertificateFile(tls.cert_file.c_str(), DCF_Filetype_PEM).bad())
    return fail(Errc::invalid_argument, "cannot load TLS certificate " + tls.cert_file.string());
  if (!layer->checkPrivateKeyMatchesCertificate())
    return fail(Errc::invalid_argument, "TLS private key does not match the certificate");
  // BCP 195 non-downgrading profile (TLS 1.2 or newer), narrowed to ECDHE +
  // AEAD suites and applied on the OpenSSL context itself, so that nothing
  // DCMTK selects later can widen it. The legacy listener uses DCMTK's
  // downgrading BCP 195 profile as it is.
  if (layer->setTLSProfile(legacy ? TSP_Profile_BCP195 : TSP_Profile_BCP195_ND).bad() ||
      layer->activateCipherSuites().bad())
    return fail(Errc::internal, "cannot select the BCP 195 TLS profile");
  SSL_CTX* ctx = layer->getNativeHandle();
  if (!ctx) return fail(Errc::internal, "no TLS context");
  if (!legacy && (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
                  SSL_CTX_set_cipher_list(ctx, kBcp195Suites) != 1))
    return fail(Errc::internal, "cannot set the TLS cipher suites");
  if (crl) crl->install(ctx);
  // Acceptor: a client certificate is verified against the CA when presented
  // (a bad one fails the handshake); clients without one must authenticate
  // with a user identity, which the association policy enforces.
  // Requestor (C-MOVE): the destination must present a CA-issued certificate.
  layer->setCertificateVerification(role == NET_ACCEPTOR ? DCV_checkCertificate : DCV_requireCertificate);
  return layer;
}

// A listening IPv4 socket bound to bind:port, non-blocking, close-on-exec.
Result<int> make_listen_socket(const std::string& bind_address, std::uint16_t port, int backlog) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, bind_address.c_str(), &addr.sin_addr) != 1)
    return fail(Errc::invalid_argument, "bind address is not an IPv4 address: " + bind_address);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(Errc::io_error, "socket() failed");
  const int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return fail(Errc::io_error, "cannot bind " + bind_address + ":" + std::to_string(port));
  }
  if (::listen(fd, backlog) != 0) {
    ::close(fd);
    return fail(Errc::io_error, "cannot listen on " + bind_address + ":" + std::to_string(port));
  }
  return fd;
}

} // namespace

class Listener {
public:
  Listener(ServerContext& server, std::string name, std::string bind, std::uint16_t port,
           security::Transport transport)
      : server_(server),
        name_(std::move(name)),
        bind_(std::move(bind)),
        port_(port),
        transport_(transport),
        gate_(server.deps.policy, std::max<std::size_t>(1, server.config.dimse.negotiators / 2),
              server.config.brute_force.blocked_handshakes_per_s) {}

  ~Listener() { close_network(); }

  Status open(security::CrlChecker* crl) {
    if (transport_ != security::Transport::plaintext) {
      auto layer = make_tls_layer(server_.config.tls, NET_ACCEPTOR, &gate_,
                                  transport_ == security::Transport::legacy_tls, crl);
      if (!layer) return std::unexpected(layer.error());
      tls_ = std::move(*layer);
    } else {
      plain_ = std::make_unique<GuardedLayer<DcmTransportLayer>>(gate_);
    }
    // Port 0: DCMTK's own INADDR_ANY socket gets an ephemeral port and is
    // replaced below before anything can connect to it.
    OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, 0, server_.acse_timeout(), &net_);
    if (cond.bad()) return fail(Errc::io_error, std::string("cannot initialise the DICOM network: ") + cond.text());
    const int dcmtk_fd = static_cast<int>(DUL_networkSocket(net_->network));
    if (dcmtk_fd < 0) return fail(Errc::internal, "DCMTK created no listening socket");
    const int backlog = static_cast<int>(std::clamp<std::size_t>(server_.config.dimse.max_pending, 4, 1024));
    auto fd = make_listen_socket(bind_, port_, backlog);
    if (!fd) return std::unexpected(fd.error());
    if (::dup3(*fd, dcmtk_fd, O_CLOEXEC) < 0) {
      ::close(*fd);
      return fail(Errc::io_error, "cannot install the listening socket");
    }
    ::close(*fd);
    listen_fd_ = dcmtk_fd;
    net_->acceptorPort = port_;
    DcmTransportLayer* layer = tls_ ? static_cast<DcmTransportLayer*>(tls_.get()) : plain_.get();
    if (ASC_setTransportLayer(net_, layer, 0).bad()) return fail(Errc::internal, "cannot install the transport layer");
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) != 0) return fail(Errc::io_error, "pipe2() failed");
    wake_read_ = pipe_fds[0];
    wake_write_ = pipe_fds[1];
    return {};
  }

  void start() {
    const std::size_t n = std::max<std::size_t>(1, server_.config.dimse.workers);
    const std::size_t k = std::max<std::size_t>(1, server_.config.dimse.negotiators);
    slots_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) slots_.push_back(std::make_unique<Slot>());
    for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this, i] { worker(*slots_[i]); });
    for (std::size_t i = 0; i < k; ++i) threads_.emplace_back([this] { negotiator(); });
    log::info("listening dimse-{} {}:{} ({} workers, {} negotiators, {} pending)", name_, bind_, port_, n, k,
              server_.config.dimse.max_pending);
  }

  // Called after server.stopping was set: wakes every thread of this listener.
  void signal_stop() {
    cv_.notify_all();
    // Level-triggered: one byte keeps every negotiator's epoll set readable.
    if (wake_write_ >= 0) (void)::write(wake_write_, "s", 1);
  }

  // Waits for the threads until `deadline`, then shuts the remaining
  // association sockets down, joins, refuses what is still pending and
  // closes the listening socket.
  void finish(std::chrono::steady_clock::time_point deadline) {
    {
      std::unique_lock lock(mutex_);
      exited_cv_.wait_until(lock, deadline, [&] { return exited_ == threads_.size(); });
    }
    for (auto& slot : slots_) slot->shutdown_now();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
    std::deque<Pending> left;
    {
      std::lock_guard lock(mutex_);
      left.swap(pending_);
    }
    for (auto& p : left) {
      reject_busy(server_, p.assoc);
      drop_association(p.assoc);
    }
    close_network();
  }

private:
  struct Pending {
    T_ASC_Association* assoc = nullptr;
    std::chrono::steady_clock::time_point since;
  };

  // The socket of the association a worker serves, for a forced shutdown.
  struct Slot final : SocketRegistry {
    std::mutex m;
    int fd = -1;
    void set(int f) override {
      std::lock_guard lock(m);
      fd = f;
    }
    void shutdown_now() {
      std::lock_guard lock(m);
      if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    }
  };

  struct Exit {
    Listener& l;
    ~Exit() {
      std::lock_guard lock(l.mutex_);
      ++l.exited_;
      l.exited_cv_.notify_all();
    }
  };

  // Waits up to 1 s for a connection or for stop. Returns true when the
  // listening socket is readable. Each negotiator has its own epoll set with
  // the listening socket registered EPOLLEXCLUSIVE, so one connection wakes
  // one (or a few) of them, not all.
  bool wait_for_connection(int epfd) {
    epoll_event ev[2];
    const int n = ::epoll_wait(epfd, ev, 2, 1000);
    bool ready = false;
    for (int i = 0; i < n; ++i) {
      if (ev[i].data.fd == listen_fd_) ready = true;
    }
    return ready && !server_.stopping.load();
  }

  // Pops the oldest negotiated request that is still fresh; stale ones (their
  // requestor has most likely given up waiting) are refused as busy.
  bool take_pending(T_ASC_Association*& assoc) {
    const auto max_age = std::chrono::seconds(server_.acse_timeout());
    for (;;) {
      Pending p;
      {
        std::unique_lock lock(mutex_);
        ++idle_workers_;
        cv_.wait_for(lock, std::chrono::milliseconds(500),
                     [&] { return server_.stopping.load() || !pending_.empty(); });
        --idle_workers_;
        if (pending_.empty() || server_.stopping.load()) return false;
        p = pending_.front();
        pending_.pop_front();
      }
      if (std::chrono::steady_clock::now() - p.since <= max_age) {
        assoc = p.assoc;
        return true;
      }
      reject_busy(server_, p.assoc);
      drop_association(p.assoc);
    }
  }

  void worker(Slot& slot) {
    Exit exit{*this};
    while (!server_.stopping.load()) {
      T_ASC_Association* assoc = nullptr;
      if (take_pending(assoc)) run_association(server_, assoc, transport_, slot);
    }
  }

  void negotiator() {
    Exit exit{*this};
    const OFBool secure = transport_ != security::Transport::plaintext ? OFTrue : OFFalse;
    const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
      log::error("dimse-{}: epoll_create1 failed; negotiator not started", name_);
      return;
    }
    epoll_event lev{};
    lev.events = EPOLLIN | EPOLLEXCLUSIVE;
    lev.data.fd = listen_fd_;
    epoll_event wev{};
    wev.events = EPOLLIN;
    wev.data.fd = wake_read_;
    if (::epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd_, &lev) != 0 ||
        ::epoll_ctl(epfd, EPOLL_CTL_ADD, wake_read_, &wev) != 0) {
      log::error("dimse-{}: epoll_ctl failed; negotiator not started", name_);
      ::close(epfd);
      return;
    }
    while (!server_.stopping.load()) {
      if (!wait_for_connection(epfd)) continue;
      T_ASC_Association* assoc = nullptr;
      OFCondition cond = ASC_receiveAssociation(net_, &assoc, server_.max_pdu(), nullptr, nullptr, secure,
                                                DUL_NOBLOCK, 0);
      gate_.done();
      if (cond.bad()) {
        // Lost the accept race (EAGAIN), or a failed handshake / bad request.
        drop_association(assoc);
        if (cond.code() == DULC_TCPINITERROR) {
          // Also what accept() failing for want of descriptors looks like:
          // do not spin on a listening socket that stays readable.
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        } else if (cond != DUL_NOASSOCIATIONREQUEST) {
          log::debug("dimse-{}: association request failed: {}", name_, cond.text());
        }
        continue;
      }
      if (no_request_received(assoc)) {
        drop_association(assoc);
        continue;
      }
      bool queued = false;
      {
        std::lock_guard lock(mutex_);
        // Room for it: an idle worker will take it, or the queue has space.
        if (pending_.size() < server_.config.dimse.max_pending + idle_workers_) {
          pending_.push_back({assoc, std::chrono::steady_clock::now()});
          queued = true;
        }
      }
      if (queued) {
        cv_.notify_one();
      } else {
        reject_busy(server_, assoc);
        drop_association(assoc);
      }
    }
    ::close(epfd);
  }

  void close_network() {
    if (net_) ASC_dropNetwork(&net_);  // closes listen_fd_
    net_ = nullptr;
    listen_fd_ = -1;
    if (wake_read_ >= 0) ::close(wake_read_);
    if (wake_write_ >= 0) ::close(wake_write_);
    wake_read_ = wake_write_ = -1;
    tls_.reset();
    plain_.reset();
  }

  ServerContext& server_;
  std::string name_;
  std::string bind_;
  std::uint16_t port_;
  security::Transport transport_;
  Gate gate_;
  std::unique_ptr<DcmTLSTransportLayer> tls_;
  std::unique_ptr<DcmTransportLayer> plain_;
  T_ASC_Network* net_ = nullptr;
  int listen_fd_ = -1;
  int wake_read_ = -1, wake_write_ = -1;

  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::condition_variable exited_cv_;
  std::size_t exited_ = 0;
  std::deque<Pending> pending_;
  std::size_t idle_workers_ = 0;  // workers waiting for a request (guarded by mutex_)
};

} // namespace detail

namespace {

class DimseServerImpl final : public DimseServer {
public:
  DimseServerImpl(const config::Config& config, DimseDeps deps) : ctx_(config, deps), crl_(config.tls.crl_file) {}
  ~DimseServerImpl() override { stop(); }

  Status start() override {
    if (started_) return fail(Errc::internal, "DIMSE server already started");
    const auto& d = ctx_.config.dimse;
    if (d.ae_title.empty()) return fail(Errc::invalid_argument, "no AE title configured");
    if (d.tls_port == 0 && !d.plaintext_enabled) return fail(Errc::invalid_argument, "no DIMSE listener configured");

    if (d.tls_port != 0) {
      listeners_.push_back(std::make_unique<detail::Listener>(ctx_, "tls", d.tls_bind, d.tls_port,
                                                              security::Transport::tls));
    }
    if (d.plaintext_enabled) {
      listeners_.push_back(std::make_unique<detail::Listener>(ctx_, "plaintext", d.plaintext_bind,
                                                              d.plaintext_port, security::Transport::plaintext));
    }
    if (d.legacy_tls_enabled) {
      log::warn("dimse: legacy-TLS listener enabled on {}:{} (retired cipher suites; only peers marked legacy_tls)",
                d.legacy_tls_bind, d.legacy_tls_port);
      listeners_.push_back(std::make_unique<detail::Listener>(ctx_, "legacy-tls", d.legacy_tls_bind,
                                                              d.legacy_tls_port, security::Transport::legacy_tls));
    }
    for (auto& l : listeners_) {
      if (auto st = l->open(&crl_); !st) {
        listeners_.clear();
        return st;
      }
    }
    // Outbound TLS for C-MOVE: our server certificate (EKU serverAuth and
    // clientAuth) doubles as client certificate; a revoked destination
    // certificate is refused like a revoked client's.
    if (auto layer = detail::make_tls_layer(ctx_.config.tls, NET_REQUESTOR, nullptr, false, &crl_); layer) {
      client_tls_ = std::move(*layer);
      ctx_.client_tls = client_tls_.get();
    } else {
      log::warn("C-MOVE to TLS destinations unavailable: {}", layer.error().message);
    }
    ctx_.stopping.store(false);
    for (auto& l : listeners_) l->start();
    started_ = true;
    return {};
  }

  void stop() override {
    if (!started_) return;
    ctx_.stopping.store(true);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (auto& l : listeners_) l->signal_stop();
    for (auto& l : listeners_) l->finish(deadline);
    listeners_.clear();
    ctx_.client_tls = nullptr;
    client_tls_.reset();
    started_ = false;
    log::info("DIMSE server stopped");
  }

private:
  detail::ServerContext ctx_;
  security::CrlChecker crl_;  // outlives every TLS layer below (declared before them)
  std::unique_ptr<DcmTLSTransportLayer> client_tls_;
  std::vector<std::unique_ptr<detail::Listener>> listeners_;
  bool started_ = false;
};

} // namespace

std::unique_ptr<DimseServer> make_dimse_server(const config::Config& config, DimseDeps deps) {
  return std::make_unique<DimseServerImpl>(config, deps);
}

} // namespace tresor::net
