// The HTTPS transport (see server.h): the only Boost.Beast / Asio translation
// unit. http.io_threads threads do TLS and socket I/O, each running its own
// io_context; connections are spread over them round-robin and every
// connection is a C++20 coroutine on a strand of its thread's io_context.
// Everything that may block (authentication with its Argon2id, the route
// handler with its SQLite and file I/O, each chunk of a streamed response
// body) runs on a pool of http.handler_threads threads, and the coroutine
// resumes on its strand with the result. (Many threads sharing one io_context
// wake each other for every completion: WADO-RS ran at a third of the speed
// with 16 of them.)
//
// Per request, in this order: header (within header_timeout_s, at most
// max_header_bytes) -> target checks (origin-form, percent-decoding, no
// encoded '/', no dot segments) -> router.h steps 1-5 -> 100 Continue ->
// body (each read within body_timeout_s) -> handler -> response (each write
// within body_timeout_s) -> access log.
#include <utility>  // before asio/awaitable.hpp: Boost 1.74 uses std::exchange without it

#include "http/server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <chrono>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/log.h"
#include "http/admission.h"
#include "http/pool_handoff.h"
#include "http/server_util.h"

namespace tresor::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;
using Stream = beast::ssl_stream<beast::tcp_stream>;
using Parser = bhttp::request_parser<bhttp::buffer_body>;
using Clock = std::chrono::steady_clock;

inline auto with_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

// BCP 195 for TLS 1.2: forward secrecy and AEAD only. TLS 1.3 keeps OpenSSL's
// default suites (all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kDefaultCsp =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'";
constexpr const char* kWwwAuthenticate = "Basic realm=\"tresor\", Bearer realm=\"tresor\"";
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::size_t kReadChunk = 64 * 1024;     // request body read granularity
constexpr std::size_t kWriteSlice = 1024 * 1024;  // a string body is written in slices of this
constexpr auto kCloseTimeout = std::chrono::seconds(2);  // TLS close_notify / lingering close
constexpr std::size_t kLingerBytes = 1024 * 1024;        // discarded at most while lingering
constexpr auto kStopGrace = std::chrono::seconds(5);

Method method_of(bhttp::verb verb) {
  switch (verb) {
    case bhttp::verb::get: return Method::get;
    case bhttp::verb::head: return Method::head;
    case bhttp::verb::post: return Method::post;
    case bhttp::verb::put: return Method::put;
    case bhttp::verb::patch: return Method::patch;
    case bhttp::verb::delete_: return Method::del;
    case bhttp::verb::options: return Method::options;
    default: return Method::other;
  }
}

using namespace detail;

class ServerImpl;

struct Conn {
  Conn(ServerImpl& server, tcp::socket socket, ssl::context& tls, std::string ip, std::string origin);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream); }

  ServerImpl& server;
  Stream stream;
  const asio::any_io_executor executor;  // the connection's strand
  beast::flat_buffer buffer;
  const std::string ip;
  const std::string origin;
  bool busy = false;  // a request is being served (strand only)
};

// What happens to the connection after a response.
enum class After { keep_alive, close, linger, abort };

// The per-request state that outlives the checks.
struct Exchange {
  Request req;
  const Route* route = nullptr;
  std::string pattern = "-";
  std::uint64_t limit = 0;
  bool expect_continue = false;
};

class ServerImpl final : public Server {
public:
  ServerImpl(const config::Config& config, const Router& router, security::RequestAuthenticator& auth,
             std::filesystem::path temp_dir, std::unique_ptr<ssl::context> tls)
      : cfg_(config.http), public_url_(config.http.public_url), router_(router), auth_(auth),
        temp_dir_(std::move(temp_dir)), tls_(std::move(tls)), iocs_(make_io_contexts(cfg_.io_threads)),
        accept_strand_(asio::make_strand(*iocs_.front())), acceptor_(accept_strand_), pool_(std::max<std::size_t>(1, cfg_.handler_threads)) {
    while (!public_url_.empty() && public_url_.back() == '/') public_url_.pop_back();
  }
  ~ServerImpl() override { stop(); }

  Status listen() {
    error_code ec;
    auto address = asio::ip::make_address_v4(cfg_.bind, ec);
    if (ec) return fail(Errc::invalid_argument, "http.bind is not an IPv4 address: " + cfg_.bind);
    tcp::endpoint endpoint(address, cfg_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail(Errc::io_error, "cannot listen on " + cfg_.bind + ":" + std::to_string(cfg_.port) + ": " + ec.message());
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(accept_strand_, accept_loop(), asio::detached);
    for (auto& ioc : iocs_) threads_.emplace_back([this, &ioc = *ioc] { run_thread(ioc); });
    log::info("HTTPS listening on {}:{}", cfg_.bind, port_);
    return {};
  }

  std::uint16_t port() const override { return port_; }

  void stop() override {
    std::lock_guard stop_lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    asio::post(accept_strand_, [this] {
      error_code ec;
      acceptor_.close(ec);
    });
    close_connections(true);  // idle ones now; busy ones finish their request
    wait_for_connections(Clock::now() + kStopGrace);
    if (live_ > 0) {
      close_connections(false);
      wait_for_connections(Clock::now() + std::chrono::seconds(1));
    }
    for (auto& ioc : iocs_) ioc->stop();
    for (auto& t : threads_) {
      if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    }
    pool_.join();  // a running handler finishes; its continuation stays queued on the stopped io_context
  }

  void forget(Conn* conn) {
    std::lock_guard lock(conns_mutex_);
    conns_.erase(conn);
    admission_.close(conn->ip);
    --live_;
  }

private:
  static std::vector<std::unique_ptr<asio::io_context>> make_io_contexts(std::size_t n) {
    std::vector<std::unique_ptr<asio::io_context>> v;
    for (std::size_t i = 0; i < std::max<std::size_t>(1, n); ++i) v.push_back(std::make_unique<asio::io_context>(1));
    return v;
  }

  // Runs until stop() stops the io_context (a thread's context may have no
  // connection for a while: the guard keeps run() from returning then).
  void run_thread(asio::io_context& ioc) {
    auto guard = asio::make_work_guard(ioc);
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        log::error("http io thread: {}", e.what());
      }
    }
  }

  void close_connections(bool idle_only) {
    std::vector<std::shared_ptr<Conn>> live;
    {
      std::lock_guard lock(conns_mutex_);
      for (auto& [ptr, weak] : conns_) {
        if (auto c = weak.lock()) live.push_back(std::move(c));
      }
    }
    for (auto& c : live) {
      asio::post(c->executor, [c, idle_only] {
        if (!idle_only || !c->busy) c->tcp().close();
      });
    }
  }

  // A refused connection is logged at most once a second (a flood must not fill the log).
  template <typename... Args>
  void warn_refused(spdlog::format_string_t<Args...> format, Args&&... args) {
    const auto now = Clock::now();
    if (now - last_refusal_log_ < std::chrono::seconds(1)) return;
    last_refusal_log_ = now;
    log::warn(format, std::forward<Args>(args)...);
  }

  void wait_for_connections(Clock::time_point deadline) {
    while (live_ > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  std::string origin_for(const tcp::socket& socket) const {
    if (!public_url_.empty()) return public_url_;
    std::string host = cfg_.bind;
    if (host.empty() || host == "0.0.0.0") {
      error_code ec;
      auto local = socket.local_endpoint(ec);
      host = ec ? "localhost" : local.address().to_string();
    }
    return "https://" + host + ":" + std::to_string(port_);
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      tcp::socket socket(asio::make_strand(*iocs_[next_ioc_++ % iocs_.size()]));  // the connection's thread
      error_code ec;
      co_await acceptor_.async_accept(socket, with_ec(ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
        log::warn("HTTPS accept failed: {}", ec.message());
        asio::steady_timer backoff(accept_strand_, std::chrono::milliseconds(100));
        co_await backoff.async_wait(with_ec(ec));
        continue;
      }
      auto remote = socket.remote_endpoint(ec);
      if (ec || stopping_) continue;  // the socket closes on destruction
      std::string ip = remote.address().to_string();
      if (live_ >= cfg_.max_connections) {
        warn_refused("HTTPS connection from {} refused: {} connections open", ip, live_.load());
        continue;
      }
      if (auth_.source_blocked(ip)) {
        log::info("HTTPS connection from blocked source {} closed", ip);
        continue;
      }
      const std::optional<Clock::duration> delay = admission_.handshake_delay(ip, Clock::now());
      if (!delay) {
        warn_refused("HTTPS connection from {} refused: more than {} new connections per second from it", ip,
                     cfg_.handshakes_per_source_per_s);
        continue;
      }
      // Responses go out as several writes (TLS records of the header, then
      // the body): with Nagle on, each waits for the peer's delayed ACK (about
      // 40 ms on Linux), which dominated small requests.
      socket.set_option(tcp::no_delay(true), ec);
      std::string origin = origin_for(socket);
      if (!admission_.open(ip)) {
        warn_refused("HTTPS connection from {} refused: {} connections open from it", ip, cfg_.max_connections_per_source);
        continue;
      }
      ++live_;
      auto conn = std::make_shared<Conn>(*this, std::move(socket), *tls_, std::move(ip), std::move(origin));
      {
        std::lock_guard lock(conns_mutex_);
        conns_.emplace(conn.get(), conn);
      }
      asio::co_spawn(conn->executor, session(conn, *delay), asio::detached);
    }
  }

  // `delay`: the wait admission_ imposes before the TLS handshake.
  asio::awaitable<void> session(std::shared_ptr<Conn> conn, Clock::duration delay) {
    Conn& c = *conn;
    try {
      error_code ec;
      if (delay > Clock::duration::zero()) {
        asio::steady_timer wait(c.executor, delay);
        co_await wait.async_wait(with_ec(ec));
        if (stopping_) co_return;
      }
      c.tcp().expires_after(std::chrono::seconds(cfg_.handshake_timeout_s));
      co_await c.stream.async_handshake(ssl::stream_base::server, with_ec(ec));
      if (ec) co_return;
      for (bool first = true;; first = false) {
        if (stopping_) break;
        if (!first && c.buffer.size() == 0) {  // idle between keep-alive requests
          c.tcp().expires_after(std::chrono::seconds(cfg_.idle_timeout_s));
          std::size_t n = co_await c.stream.async_read_some(c.buffer.prepare(4096), with_ec(ec));
          if (ec) co_return;
          c.buffer.commit(n);
        }
        After after = co_await serve_one(c);
        c.busy = false;
        if (after == After::keep_alive && !stopping_) continue;
        if (after == After::close || after == After::keep_alive) {
          c.tcp().expires_after(kCloseTimeout);
          co_await c.stream.async_shutdown(with_ec(ec));
        } else if (after == After::linger) {
          co_await linger(c);
        }
        break;
      }
    } catch (const std::exception& e) {
      log::error("HTTPS connection from {} failed: {}", c.ip, e.what());
    }
    c.tcp().close();
  }

  // After an error response with the request body unread: stop sending, then
  // discard what the client still sends for a moment, so that our response
  // is not destroyed by a TCP reset before the client reads it.
  asio::awaitable<void> linger(Conn& c) {
    error_code ec;
    c.tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
    c.tcp().expires_after(kCloseTimeout);
    std::vector<char> sink(16 * 1024);
    for (std::size_t total = 0; total < kLingerBytes;) {
      std::size_t n = co_await c.tcp().async_read_some(asio::buffer(sink), with_ec(ec));
      if (ec) break;
      total += n;
    }
  }

  // Serves one request whose first bytes may already be in c.buffer.
  asio::awaitable<After> serve_one(Conn& c) {
    const auto started = Clock::now();
    Parser parser;
    parser.header_limit(cfg_.max_header_bytes);
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // per route, below (boost::none is broken in 1.74)
    error_code ec;
    c.tcp().expires_after(std::chrono::seconds(cfg_.header_timeout_s));
    co_await bhttp::async_read_header(c.stream, c.buffer, parser, with_ec(ec));
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
      Response r = error_with(431, Errc::too_large, "request header too large");
      co_await write_logged(c, r, nullptr, started, 11, false, false);
      co_return After::linger;
    }
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout) co_return After::abort;
    if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
      Response r = error_of(Errc::invalid_argument, "malformed request");
      co_await write_logged(c, r, nullptr, started, 11, false, false);
      co_return After::linger;
    }
    if (ec) co_return After::abort;

    c.busy = true;
    const auto& header = parser.get();
    const unsigned version = header.version() == 10 ? 10 : 11;
    Exchange x;
    x.req.method = method_of(header.method());
    const bool head = x.req.method == Method::head;
    const bool body_pending = !parser.is_done();
    // Checks (and, for a request without a body, the handler too) in one trip to the pool.
    struct Checked {
      std::optional<Response> refused;
      std::optional<Response> response;
    };
    Checked checked = co_await offload(pool_, [&] {
      Checked out;
      out.refused = check(c, parser, x);
      if (!out.refused && !body_pending && x.route->body != BodyKind::file) out.response = run_handler(x);
      return out;
    });
    if (checked.response) {
      const bool keep = parser.keep_alive() && !stopping_;
      bool ok = co_await write_logged(c, *checked.response, &x, started, version, head, keep);
      if (!ok) co_return After::abort;
      co_return keep ? After::keep_alive : After::close;
    }
    if (std::optional<Response>& refused = checked.refused) {
      const bool unframed = header.find(bhttp::field::transfer_encoding) != header.end() && !parser.chunked();
      const bool keep = !body_pending && !unframed && parser.keep_alive();
      co_await write_logged(c, *refused, &x, started, version, head, keep);
      co_return keep ? After::keep_alive : (body_pending || unframed ? After::linger : After::close);
    }

    // Step 5: the body (a file route always gets a file, empty without a body).
    TempFile file;
    const bool to_file = x.route->body == BodyKind::file;
    if (to_file && !file.create(temp_dir_)) {
      log::error("cannot create a temporary file in {}", temp_dir_.string());
      Response r = error_of(Errc::io_error, "cannot store the request body");
      co_await write_logged(c, r, &x, started, version, head, false);
      co_return body_pending ? After::linger : After::close;
    }
    if (body_pending) {
      if (x.expect_continue && version == 11) {
        c.tcp().expires_after(std::chrono::seconds(cfg_.body_timeout_s));
        co_await asio::async_write(c.stream, asio::buffer(kContinue.data(), kContinue.size()), with_ec(ec));
        if (ec) co_return After::abort;
      }
      parser.body_limit(x.limit);
      if (std::optional<Response> failed = co_await read_body(c, parser, x, to_file ? &file : nullptr)) {
        if (failed->status == 0) co_return After::abort;  // the client went away or stalled
        co_await write_logged(c, *failed, &x, started, version, head, false);
        co_return After::linger;
      }
    }
    if (to_file) {
      file.close_fd();
      x.req.body_file = file.path;
    }

    Response response = co_await offload(pool_, [&] { return run_handler(x); });
    file.discard();  // removed once the handler returned
    const bool keep = parser.keep_alive() && !stopping_;
    bool ok = co_await write_logged(c, response, &x, started, version, head, keep);
    if (!ok) co_return After::abort;
    co_return keep ? After::keep_alive : After::close;
  }

  // Runs the route's handler (on the pool); an exception becomes a 500.
  Response run_handler(Exchange& x) {
    try {
      return x.route->handler(x.req);
    } catch (...) {  // what() is not logged: it may carry patient data
      log::error("HTTP handler for {} {} threw an exception", to_string(x.req.method), x.pattern);
      return error_of(Errc::internal, "internal error");
    }
  }

  // Target checks and router.h steps 1-4 plus the body pre-checks of step 5.
  // Returns the refusal, or nullopt when the request may proceed.
  std::optional<Response> check(Conn& c, Parser& parser, Exchange& x) {
    const auto& header = parser.get();
    Request& req = x.req;
    // Framing first: a transfer coding other than plain "chunked" leaves the
    // body length unknown (the connection is closed after the refusal).
    if (header.find(bhttp::field::transfer_encoding) != header.end() && !parser.chunked()) {
      return error_with(501, Errc::unsupported, "transfer codings other than chunked are not supported");
    }
    req.source_ip = c.ip;
    req.origin = c.origin;
    for (const auto& field : header) req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));

    std::string_view target(header.target().data(), header.target().size());
    if (target.empty() || target.front() != '/') return error_of(Errc::invalid_argument, "bad request target");
    std::size_t qmark = target.find('?');
    std::string_view raw_path = target.substr(0, qmark);
    for (std::size_t i = 0; i + 2 < raw_path.size(); ++i) {
      if (raw_path[i] == '%' && raw_path[i + 1] == '2' && lower(raw_path[i + 2]) == 'f') {
        return error_of(Errc::invalid_argument, "an encoded '/' in the path is refused");
      }
    }
    auto path = percent_decode(raw_path, false);
    if (!path) return error_of(Errc::invalid_argument, "bad percent-encoding in the path");
    for (std::size_t pos = 0; pos != std::string::npos;) {
      std::size_t next = path->find('/', pos + 1);
      std::string_view seg = std::string_view(*path).substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
      if (seg == "." || seg == "..") return error_of(Errc::invalid_argument, "dot segments in the path are refused");
      pos = next;
    }
    req.path = std::move(*path);
    auto query = parse_query(qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1));
    if (!query) return error_of(Errc::invalid_argument, "bad percent-encoding in the query");
    req.query = std::move(*query);

    // 1. route
    Router::Match match = router_.match(req.method, req.path);
    if (!match.route && req.method == Method::head &&
        std::find(match.allowed.begin(), match.allowed.end(), Method::get) != match.allowed.end()) {
      match = router_.match(Method::get, req.path);
    }
    if (!match.route) {
      if (req.method == Method::options) return error_of(Errc::permission_denied, "cross-origin requests are not allowed");
      if (match.allowed.empty()) return error_of(Errc::not_found, "not found");
      Response r = error_with(405, Errc::unsupported, "method not allowed");
      std::string allow;
      auto add = [&](Method m) {
        if (!allow.empty()) allow += ", ";
        allow += to_string(m);
      };
      for (Method m : match.allowed) {
        add(m);
        if (m == Method::get && std::find(match.allowed.begin(), match.allowed.end(), Method::head) == match.allowed.end()) add(Method::head);
      }
      r.set("Allow", allow);
      return r;
    }
    x.route = match.route;
    x.pattern = match.route->pattern;
    req.params = std::move(match.params);

    // 2. credentials in the query string
    for (const auto& [key, value] : req.query) {
      if (is_credential_param(key)) return error_of(Errc::invalid_argument, "credentials in the query string are refused");
    }

    // 2b. CSRF: provenance and media type of a state-changing request, whatever the credential
    const bool state_changing = req.method != Method::get && req.method != Method::head && req.method != Method::options;
    if (state_changing) {
      const bool has_body = parser.chunked() || parser.content_length().value_or(0) > 0;
      if (auto refused = check_state_changing(req, x.route->body == BodyKind::file, has_body, c.origin)) return refused;
    }

    // 3. authentication, 4. permission
    if (x.route->auth == Auth::required || x.route->auth == Auth::page) {
      security::HttpCredentials credentials;
      credentials.authorization = req.header("Authorization").value_or(std::string_view{});
      credentials.session_cookie = find_cookie(req.headers, kSessionCookie);
      credentials.csrf_token = req.header("X-CSRF-Token").value_or(std::string_view{});
      credentials.state_changing = state_changing;
      credentials.source_ip = c.ip;
      Result<security::Authenticated> who = auth_.authenticate(credentials);
      if (!who) {
        if (x.route->auth == Auth::page && who.error().code == Errc::unauthenticated) return login_redirect(req);
        Response r = error_response(who.error());
        // Scripts get the challenge; browsers (server_util.h looks_like_browser) none: it would open
        // their password dialog, and they would then send those Basic credentials by themselves
        // (cross-site requests included) instead of letting the page send the user to log in.
        if (who.error().code == Errc::unauthenticated && !looks_like_browser(req))
          r.set("WWW-Authenticate", kWwwAuthenticate);
        return r;
      }
      req.auth = std::move(*who);
      if (x.route->permission && !req.auth->principal.may(*x.route->permission)) {
        return error_of(Errc::permission_denied, "permission denied");
      }
    }

    // 5. body pre-checks
    if (auto encoding = req.header("Content-Encoding"); encoding && !iequals(trim(*encoding), "identity")) {
      return error_of(Errc::unsupported, "content encodings are not supported");
    }
    switch (x.route->body) {
      case BodyKind::none: x.limit = 0; break;
      case BodyKind::small: x.limit = x.route->max_body; break;
      case BodyKind::file: x.limit = std::min<std::uint64_t>(x.route->max_body, cfg_.max_upload_bytes); break;
    }
    if (auto length = parser.content_length(); length && *length > x.limit) {
      return error_of(Errc::too_large, x.limit == 0 ? "this resource takes no request body" : "request body too large");
    }
    if (auto expect = req.header("Expect")) {
      if (!iequals(trim(*expect), "100-continue")) return error_with(417, Errc::invalid_argument, "unsupported expectation");
      x.expect_continue = true;
    }
    return std::nullopt;
  }

  // Reads the body into req.body or `file`. Returns nullopt on success, a
  // response for a refusal, or a response with status 0 when the connection
  // must simply be dropped (timeout, client gone).
  asio::awaitable<std::optional<Response>> read_body(Conn& c, Parser& parser, Exchange& x, TempFile* file) {
    std::vector<char> chunk(kReadChunk);
    std::uint64_t total = 0;
    if (!file) {
      if (auto length = parser.content_length()) x.req.body.reserve(static_cast<std::size_t>(*length));
    }
    while (!parser.is_done()) {
      auto& body = parser.get().body();
      body.data = chunk.data();
      body.size = chunk.size();
      error_code ec;
      c.tcp().expires_after(std::chrono::seconds(cfg_.body_timeout_s));
      co_await bhttp::async_read(c.stream, c.buffer, parser, with_ec(ec));
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec == bhttp::error::body_limit) co_return error_of(Errc::too_large, "request body too large");
      if (ec == beast::error::timeout || ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) {
        Response gone;
        gone.status = 0;
        co_return gone;
      }
      if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_chunk).category()) {
        co_return error_of(Errc::invalid_argument, "malformed request body");
      }
      if (ec) {
        Response gone;
        gone.status = 0;
        co_return gone;
      }
      std::size_t n = chunk.size() - parser.get().body().size;
      total += n;
      if (total > x.limit) co_return error_of(Errc::too_large, "request body too large");
      if (n == 0) continue;
      if (file) {
        if (!file->write(chunk.data(), n)) {
          log::error("cannot write a request body to {}", temp_dir_.string());
          co_return error_of(Errc::io_error, "cannot store the request body");
        }
      } else {
        x.req.body.append(chunk.data(), n);
      }
    }
    x.req.body_size = total;
    co_return std::nullopt;
  }

  // Writes the response and logs it. False when the connection must be dropped
  // (write failure, timeout, producer error).
  asio::awaitable<bool> write_logged(Conn& c, Response& r, const Exchange* x, Clock::time_point started,
                                     unsigned version, bool head, bool keep_alive) {
    std::uint64_t bytes = 0;
    bool ok = co_await write_response(c, r, version, head, keep_alive, bytes);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
    const char* method = x ? to_string(x->req.method) : "-";
    std::string_view pattern = x ? std::string_view(x->pattern) : std::string_view("-");
    std::string_view user = x && x->req.auth ? std::string_view(x->req.auth->principal.name) : std::string_view("-");
    log::info("http {} {} {} {}B {}ms user={} ip={}{}", method, pattern, r.status, bytes, ms, user, c.ip,
              ok ? "" : " (aborted)");
    co_return ok;
  }

  asio::awaitable<bool> write_response(Conn& c, Response& r, unsigned version, bool head, bool keep_alive,
                                       std::uint64_t& bytes) {
    if (r.status < 200 || r.status > 599) {
      log::error("HTTP handler returned status {}", r.status);
      r = error_of(Errc::internal, "internal error");
    }
    bhttp::response<bhttp::buffer_body> res;
    res.version(version);
    res.result(static_cast<unsigned>(r.status));
    for (const auto& [name, value] : r.headers) {
      if (!valid_header_name(name) || !valid_header_value(value)) {
        log::warn("HTTP response header dropped: invalid name or value");
        continue;
      }
      if (!reserved_header(name)) res.insert(name, value);
    }
    res.set(bhttp::field::strict_transport_security, "max-age=31536000");
    res.set(bhttp::field::x_frame_options, "DENY");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    res.set("Cross-Origin-Opener-Policy", "same-origin");
    res.set("Cross-Origin-Resource-Policy", "same-origin");
    if (res.find("Content-Security-Policy") == res.end()) res.set("Content-Security-Policy", kDefaultCsp);
    if (res.find(bhttp::field::cache_control) == res.end()) res.set(bhttp::field::cache_control, "no-store");
    res.keep_alive(keep_alive);
    const bool no_body = r.status == 204 || r.status == 304;
    if (!no_body) {
      if (!r.stream) res.content_length(r.body.size());
      else if (r.content_length) res.content_length(*r.content_length);
      else res.chunked(true);
    }

    bhttp::response_serializer<bhttp::buffer_body> serializer{res};
    error_code ec;
    if (head || no_body) {
      res.body().data = nullptr;
      res.body().size = 0;
      res.body().more = false;
      c.tcp().expires_after(std::chrono::seconds(cfg_.body_timeout_s));
      co_await bhttp::async_write_header(c.stream, serializer, with_ec(ec));
      co_return !ec;
    }

    std::string piece;
    std::size_t offset = 0;
    std::optional<ReadAhead> ahead;  // a streamed body is produced one chunk ahead of the write
    if (r.stream) ahead.emplace(pool_, c.executor, *r.stream).start();
    for (;;) {
      std::string_view data;
      bool more = false;
      if (!r.stream) {
        std::size_t n = std::min(kWriteSlice, r.body.size() - offset);
        data = std::string_view(r.body).substr(offset, n);
        offset += n;
        more = offset < r.body.size();
      } else {
        Result<bool> next = co_await ahead->take(piece);
        if (!next) {
          log::warn("HTTP response body aborted: {}", next.error().message);
          co_return false;
        }
        more = *next;
        data = piece;
        if (r.content_length && (bytes + data.size() > *r.content_length || (!more && bytes + data.size() != *r.content_length))) {
          log::error("HTTP response body does not match its Content-Length");
          co_return false;
        }
        if (more) ahead->start();  // while this chunk is written
        if (data.empty() && more) continue;
      }
      res.body().data = data.empty() ? nullptr : const_cast<char*>(data.data());
      res.body().size = data.size();
      res.body().more = more;
      c.tcp().expires_after(std::chrono::seconds(cfg_.body_timeout_s));
      co_await bhttp::async_write(c.stream, serializer, with_ec(ec));
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) {
        if (ahead) co_await ahead->drain();  // the pool thread must be done with the producer
        co_return false;
      }
      bytes += data.size();
      if (!more) co_return true;
    }
  }

  const config::Http cfg_;
  std::string public_url_;
  const Router& router_;
  security::RequestAuthenticator& auth_;
  const std::filesystem::path temp_dir_;
  std::unique_ptr<ssl::context> tls_;  // outlives every connection (destroyed after iocs_)

  std::mutex conns_mutex_;
  std::unordered_map<Conn*, std::weak_ptr<Conn>> conns_;
  std::atomic<std::size_t> live_{0};
  std::atomic<bool> stopping_{false};
  std::mutex stop_mutex_;
  bool stopped_ = false;
  std::uint16_t port_ = 0;

  detail::Admission admission_{cfg_.max_connections_per_source, cfg_.handshakes_per_source_per_s};  // per source address
  Clock::time_point last_refusal_log_{};             // accept strand only
  std::size_t next_ioc_ = 0;  // accept strand only
  // One per io thread; destroyed before the members above (pending coroutines touch them).
  std::vector<std::unique_ptr<asio::io_context>> iocs_;
  asio::strand<asio::io_context::executor_type> accept_strand_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  asio::thread_pool pool_;  // handler_threads; joined in stop(), destroyed before iocs_
};

Conn::Conn(ServerImpl& s, tcp::socket socket, ssl::context& tls, std::string remote_ip, std::string public_origin)
    : server(s), stream(beast::tcp_stream(std::move(socket)), tls), executor(stream.get_executor()),
      ip(std::move(remote_ip)), origin(std::move(public_origin)) {}

Conn::~Conn() { server.forget(this); }

Result<std::unique_ptr<ssl::context>> make_tls_context(const config::Tls& tls) {
  try {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    ctx->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                     ssl::context::no_tlsv1_1 | ssl::context::no_compression | ssl::context::single_dh_use);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 || SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
      return fail(Errc::internal, "cannot configure the TLS protocol versions and ciphers");
    }
    ctx->use_certificate_chain_file(tls.cert_file.string());
    ctx->use_private_key_file(tls.key_file.string(), ssl::context::pem);
    if (SSL_CTX_check_private_key(native) != 1) {
      return fail(Errc::invalid_argument, "the TLS key " + tls.key_file.string() + " does not match the certificate");
    }
    return ctx;
  } catch (const boost::system::system_error& e) {
    return fail(Errc::invalid_argument, "cannot load the TLS certificate " + tls.cert_file.string() + " or key " +
                                            tls.key_file.string() + ": " + e.code().message());
  }
}

} // namespace

Result<std::unique_ptr<Server>> Server::start(const config::Config& config, const Router& router,
                                              security::RequestAuthenticator& auth,
                                              const std::filesystem::path& temp_dir) {
  std::error_code fs_ec;
  if (!std::filesystem::is_directory(temp_dir, fs_ec)) {
    return fail(Errc::invalid_argument, "the HTTP temporary directory does not exist: " + temp_dir.string());
  }
  auto tls = make_tls_context(config.tls);
  if (!tls) return std::unexpected(tls.error());
  try {
    auto server = std::make_unique<ServerImpl>(config, router, auth, temp_dir, std::move(*tls));
    if (auto listening = server->listen(); !listening) return std::unexpected(listening.error());
    return std::unique_ptr<Server>(std::move(server));
  } catch (const std::exception& e) {
    return fail(Errc::internal, std::string("cannot start the HTTPS server: ") + e.what());
  }
}

} // namespace tresor::http
