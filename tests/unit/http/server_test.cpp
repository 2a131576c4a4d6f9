// The HTTPS transport against real sockets on 127.0.0.1: a test route table,
// a fake authenticator, and a raw OpenSSL client (tls_client.h).
#include "http/server.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "security/pki.h"
#include "tls_client.h"

namespace tresor::http {
namespace {

using namespace std::chrono_literals;
using testing::HttpResponse;
using testing::TlsClient;

std::filesystem::path make_temp_dir(const char* prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

char pattern_byte(std::uint64_t i) { return static_cast<char>((i * 31 + 7) % 251); }

// Produces `total` pattern bytes in pieces of `piece` bytes; fails after `fail_after` bytes if set.
class PatternProducer final : public BodyProducer {
public:
  PatternProducer(std::uint64_t total, std::size_t piece, std::optional<std::uint64_t> fail_after = std::nullopt)
      : total_(total), piece_(piece), fail_after_(fail_after) {}
  Result<bool> next(std::string& out) override {
    if (fail_after_ && offset_ >= *fail_after_) return fail(Errc::io_error, "disk gone");
    std::uint64_t n = std::min<std::uint64_t>(piece_, total_ - offset_);
    for (std::uint64_t i = 0; i < n; ++i) out.push_back(pattern_byte(offset_ + i));
    offset_ += n;
    return offset_ < total_;
  }

private:
  std::uint64_t total_, offset_ = 0;
  std::size_t piece_;
  std::optional<std::uint64_t> fail_after_;
};

class FakeAuth final : public security::RequestAuthenticator {
public:
  Result<security::Authenticated> authenticate(const security::HttpCredentials& c) override {
    std::lock_guard lock(mutex_);
    ++calls;
    last_cookie = std::string(c.session_cookie);
    last_state_changing = c.state_changing;
    last_source = c.source_ip;
    auto user = [&](std::string name, std::set<Operation> ops, security::AuthMethod method) {
      security::Authenticated a;
      a.principal.kind = Principal::Kind::user;
      a.principal.name = std::move(name);
      a.principal.operations = std::move(ops);
      a.principal.source = c.source_ip;
      a.method = method;
      return a;
    };
    if (c.authorization == "Bearer reader") return user("reader", {Operation::find, Operation::get}, security::AuthMethod::api_token);
    if (c.authorization == "Bearer writer") {
      return user("writer", {Operation::find, Operation::get, Operation::store}, security::AuthMethod::api_token);
    }
    if (c.authorization.empty() && c.session_cookie == "sess-1") {
      if (c.state_changing && c.csrf_token != "csrf-1") return fail(Errc::permission_denied, "CSRF token missing or wrong");
      return user("cookie-user", {Operation::find, Operation::store}, security::AuthMethod::session);
    }
    return fail(Errc::unauthenticated, "authentication required");
  }
  bool source_blocked(const std::string& ip) const override {
    std::lock_guard lock(mutex_);
    return blocked.contains(ip);
  }
  void block(const std::string& ip, bool on) {
    std::lock_guard lock(mutex_);
    if (on) blocked.insert(ip);
    else blocked.erase(ip);
  }

  mutable std::mutex mutex_;
  std::set<std::string> blocked;
  int calls = 0;
  std::string last_cookie, last_source;
  bool last_state_changing = false;
};

// What the handlers saw.
struct Seen {
  std::mutex mutex;
  std::filesystem::path upload_path;
  bool upload_existed = false;
  unsigned upload_mode = 0;
  std::uint64_t upload_size = 0;
  bool upload_content_ok = false;
  std::atomic<int> slow_started{0};
  std::atomic<int> slow_finished{0};
};

Router make_router(Seen& seen) {
  Router router;
  router.add({Method::get, "/ping", Auth::none, std::nullopt, BodyKind::none, 0, "liveness",
              [](Request&) { return text(200, "pong"); }});
  router.add({Method::get, "/items/{id}", Auth::required, Operation::find, BodyKind::none, 0, "one item",
              [](Request& r) { return text(200, "item " + std::string(r.param("id")) + " for " + r.principal().name); }});
  router.add({Method::get, "/items/new", Auth::required, Operation::find, BodyKind::none, 0, "the new-item form",
              [](Request&) { return text(200, "new item form"); }});
  router.add({Method::del, "/items/{id}", Auth::required, Operation::store, BodyKind::none, 0, "delete an item",
              [](Request& r) { return text(200, "deleted " + std::string(r.param("id"))); }});
  router.add({Method::post, "/items", Auth::required, Operation::store, BodyKind::small, 1024, "echo a small body",
              [](Request& r) { return text(200, std::to_string(r.body_size) + ":" + r.body); }});
  router.add({Method::put, "/upload", Auth::required, Operation::store, BodyKind::file, 8ull << 20, "upload to a file",
              [&seen](Request& r) {
                std::lock_guard lock(seen.mutex);
                seen.upload_path = r.body_file;
                struct stat st {};
                seen.upload_existed = ::stat(r.body_file.c_str(), &st) == 0;
                seen.upload_mode = st.st_mode & 0777;
                seen.upload_size = r.body_size;
                std::ifstream in(r.body_file, std::ios::binary);
                std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
                bool ok = data.size() == r.body_size && r.body.empty();
                for (std::size_t i = 0; ok && i < data.size(); ++i) ok = data[i] == pattern_byte(i);
                seen.upload_content_ok = ok;
                return text(201, "stored " + std::to_string(data.size()));
              }});
  router.add({Method::get, "/big", Auth::required, Operation::get, BodyKind::none, 0, "50 MiB chunked", [](Request&) {
                Response r;
                r.set("Content-Type", "application/octet-stream");
                r.stream = std::make_unique<PatternProducer>(50ull << 20, 1 << 20);
                return r;
              }});
  router.add({Method::get, "/sized", Auth::none, std::nullopt, BodyKind::none, 0, "3 MiB with Content-Length",
              [](Request&) {
                Response r;
                r.stream = std::make_unique<PatternProducer>(3ull << 20, 700000);
                r.content_length = 3ull << 20;
                return r;
              }});
  router.add({Method::get, "/bigtext", Auth::none, std::nullopt, BodyKind::none, 0, "32 MiB string body",
              [](Request&) { return text(200, std::string(32u << 20, 'x')); }});
  router.add({Method::get, "/broken", Auth::none, std::nullopt, BodyKind::none, 0, "fails mid-body", [](Request&) {
                Response r;
                r.stream = std::make_unique<PatternProducer>(8ull << 20, 1 << 20, 2ull << 20);
                return r;
              }});
  router.add({Method::get, "/boom", Auth::none, std::nullopt, BodyKind::none, 0, "throws",
              [](Request&) -> Response { throw std::runtime_error("patient Doe^John exploded"); }});
  router.add({Method::get, "/custom", Auth::none, std::nullopt, BodyKind::none, 0, "sets its own headers",
              [](Request&) {
                Response r = text(200, "custom");
                r.set("Content-Security-Policy", "default-src 'none'");
                r.set("Cache-Control", "private, max-age=60");
                r.set("Server", "leaky/1.0");
                r.set("Access-Control-Allow-Origin", "*");
                r.set("X-Injected", "a\r\nSet-Cookie: evil=1");
                return r;
              }});
  router.add({Method::get, "/origin", Auth::none, std::nullopt, BodyKind::none, 0, "the public origin",
              [](Request& r) { return text(200, r.origin); }});
  router.add({Method::get, "/query", Auth::none, std::nullopt, BodyKind::none, 0, "echo q",
              [](Request& r) { return text(200, std::string(r.query_param("q").value_or("-")) + "|" + r.path); }});
  router.add({Method::get, "/files/{*rest}", Auth::none, std::nullopt, BodyKind::none, 0, "the rest",
              [](Request& r) { return text(200, std::string(r.param("rest"))); }});
  router.add({Method::get, "/admin", Auth::required, Operation::admin, BodyKind::none, 0, "admin only",
              [](Request&) { return text(200, "admin"); }});
  router.add({Method::get, "/slow", Auth::none, std::nullopt, BodyKind::none, 0, "takes a second", [&seen](Request&) {
                ++seen.slow_started;
                std::this_thread::sleep_for(1s);
                ++seen.slow_finished;
                return text(200, "slow done");
              }});
  return router;
}

std::string get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n" + std::string(extra) + "\r\n";
}

// Collects log lines (thread-safe).
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    text_.append(msg.payload.data(), msg.payload.size());
    text_.push_back('\n');
  }
  void flush_() override {}

private:
  std::string text_;
};

class HttpServerTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    ::signal(SIGPIPE, SIG_IGN);
    pki_dir_ = make_temp_dir("tresor-http-pki");
    ASSERT_TRUE(security::create_ca(pki_dir_ / "ca.crt", pki_dir_ / "ca.key", "Tresor Test CA"));
    auto issued = security::issue_server_cert(pki_dir_ / "ca.crt", pki_dir_ / "ca.key", "localhost", {"localhost"},
                                              {"127.0.0.1"}, pki_dir_ / "server.crt", pki_dir_ / "server.key");
    ASSERT_TRUE(issued) << issued.error().message;
    spdlog::set_level(spdlog::level::warn);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(pki_dir_, ec);
  }

  void SetUp() override {
    temp_dir_ = make_temp_dir("tresor-http-up");
    config_.tls.cert_file = pki_dir_ / "server.crt";
    config_.tls.key_file = pki_dir_ / "server.key";
    config_.http.bind = "127.0.0.1";
    config_.http.port = 0;
    config_.http.io_threads = 2;
    config_.http.max_connections = 6;
    config_.http.max_header_bytes = 4096;
    config_.http.max_upload_bytes = 4ull << 20;
    config_.http.handshake_timeout_s = 2;
    config_.http.header_timeout_s = 2;
    config_.http.idle_timeout_s = 1;
    config_.http.body_timeout_s = 2;
    router_ = make_router(seen_);
    auto started = Server::start(config_, router_, auth_, temp_dir_);
    ASSERT_TRUE(started) << started.error().message;
    server_ = std::move(*started);
    port_ = server_->port();
  }
  void TearDown() override {
    server_.reset();
    std::error_code ec;
    std::filesystem::remove_all(temp_dir_, ec);
  }

  std::unique_ptr<TlsClient> connect() {
    auto client = TlsClient::connect(port_);
    EXPECT_TRUE(client) << "TLS connection failed";
    return client;
  }
  std::optional<HttpResponse> request(std::string_view raw, bool head = false) {
    auto client = connect();
    if (!client) return std::nullopt;
    return client->roundtrip(raw, head);
  }
  // The server still answers an ordinary request.
  void expect_serving() {
    auto r = request(get("/ping"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "pong");
  }

  inline static std::filesystem::path pki_dir_;
  std::filesystem::path temp_dir_;
  config::Config config_;
  Seen seen_;
  Router router_;
  FakeAuth auth_;
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
};

TEST_F(HttpServerTest, AcceptsTls12AndPrefersTls13) {
  TlsClient::Options tls12;
  tls12.max_version = TLS1_2_VERSION;
  auto c12 = TlsClient::connect(port_, tls12);
  ASSERT_TRUE(c12);
  EXPECT_EQ(c12->protocol_version(), TLS1_2_VERSION);
  auto r = c12->roundtrip(get("/ping"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "pong");

  auto c13 = connect();
  ASSERT_TRUE(c13);
  EXPECT_EQ(c13->protocol_version(), TLS1_3_VERSION);
}

TEST_F(HttpServerTest, RefusesTls11AndTls10) {
  for (int version : {TLS1_1_VERSION, TLS1_VERSION}) {
    TlsClient::Options old;
    old.min_version = TLS1_VERSION;
    old.max_version = version;
    old.legacy_ciphers = true;  // the client would speak it; the server must refuse
    EXPECT_FALSE(TlsClient::connect(port_, old)) << "version " << version;
  }
  expect_serving();
}

TEST_F(HttpServerTest, OffersOnlyForwardSecretAeadCiphersOnTls12) {
  for (const char* weak : {"AES128-GCM-SHA256:AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384",
                           "DHE-RSA-AES128-GCM-SHA256"}) {
    TlsClient::Options options;
    options.max_version = TLS1_2_VERSION;
    options.ciphers = weak;
    EXPECT_FALSE(TlsClient::connect(port_, options)) << weak;
  }
  TlsClient::Options strong;
  strong.max_version = TLS1_2_VERSION;
  strong.ciphers = "ECDHE-RSA-CHACHA20-POLY1305";
  EXPECT_TRUE(TlsClient::connect(port_, strong));
}

TEST_F(HttpServerTest, PlainHttpToThePortGetsNoHttpResponse) {
  int fd = testing::tcp_connect(port_, 5000);
  ASSERT_GE(fd, 0);
  std::string req = get("/ping");
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  EXPECT_EQ(got.find("HTTP/"), std::string::npos);
  EXPECT_EQ(got.find("pong"), std::string::npos);
  EXPECT_LT(got.size(), 64u);  // at most a TLS alert
  expect_serving();
}

TEST_F(HttpServerTest, RequiresCredentialsWithWwwAuthenticate) {
  auto r = request(get("/items/7"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->header("WWW-Authenticate"), "Basic realm=\"tresor\", Bearer realm=\"tresor\"");
  EXPECT_EQ(r->header("Content-Type"), "application/json");
  EXPECT_EQ(r->body, R"({"error":"authentication required"})");

  r = request(get("/items/7", "Authorization: Bearer reader\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "item 7 for reader");
  EXPECT_EQ(auth_.last_source, "127.0.0.1");
  EXPECT_FALSE(auth_.last_state_changing);
}

TEST_F(HttpServerTest, AddsSecurityHeadersAndNeverAServerHeader) {
  auto r = request(get("/ping"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Strict-Transport-Security"), "max-age=31536000");
  EXPECT_EQ(r->header("Content-Security-Policy"),
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
            "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'");
  EXPECT_EQ(r->header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r->header("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(r->header("X-Frame-Options"), "DENY");
  EXPECT_EQ(r->header("Cross-Origin-Opener-Policy"), "same-origin");
  EXPECT_EQ(r->header("Cross-Origin-Resource-Policy"), "same-origin");
  EXPECT_EQ(r->header("Cache-Control"), "no-store");
  EXPECT_FALSE(r->header("Server"));

  // A handler's own CSP and Cache-Control stay; Server, CORS and injected headers do not.
  r = request(get("/custom"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Content-Security-Policy"), "default-src 'none'");
  EXPECT_EQ(r->header("Cache-Control"), "private, max-age=60");
  EXPECT_FALSE(r->header("Server"));
  EXPECT_FALSE(r->has_header_prefix("Access-Control-"));
  EXPECT_FALSE(r->header("X-Injected"));
  EXPECT_FALSE(r->header("Set-Cookie"));
  EXPECT_EQ(r->header("Strict-Transport-Security"), "max-age=31536000");
}

TEST_F(HttpServerTest, AnswersNotFoundAndMethodNotAllowedWithAllow) {
  auto r = request(get("/nothing/here"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, R"({"error":"not found"})");

  r = request("DELETE /ping HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("Allow"), "GET, HEAD");

  r = request("POST /items/new HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("Allow"), "GET, HEAD, DELETE");
}

TEST_F(HttpServerTest, DeniesCorsPreflight) {
  auto r = request("OPTIONS /items/1 HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n"
                   "Access-Control-Request-Method: DELETE\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_FALSE(r->has_header_prefix("Access-Control-"));
}

TEST_F(HttpServerTest, RefusesCredentialsInTheQueryString) {
  auto r = request(get("/items/1?access_token=abc", "Authorization: Bearer reader\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, R"({"error":"credentials in the query string are refused"})");

  r = request(get("/query?q=1&API_Key=x"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);

  r = request(get("/query?q=a+b%2Fc"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "a b/c|/query");
}

TEST_F(HttpServerTest, RefusesEncodedSlashesAndDotSegments) {
  for (const char* target : {"/files/a%2Fb", "/files/../etc/passwd", "/files/a/./b", "/files/%2e%2e/x", "/files/a%00b",
                             "/files/%zz", "http://localhost/ping"}) {
    auto r = request(get(target));
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 400) << target;
  }
  auto r = request(get("/files/a/b%20c/d.txt"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "a/b c/d.txt");
}

TEST_F(HttpServerTest, ChecksPermissionAndCsrf) {
  auto r = request(get("/admin", "Authorization: Bearer reader\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);

  r = request("DELETE /items/5 HTTP/1.1\r\nHost: x\r\nCookie: theme=dark; __Host-tresor_session=sess-1\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(auth_.last_cookie, "sess-1");
  EXPECT_TRUE(auth_.last_state_changing);

  r = request("DELETE /items/5 HTTP/1.1\r\nHost: x\r\nCookie: theme=dark; __Host-tresor_session=sess-1\r\n"
              "X-CSRF-Token: csrf-1\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "deleted 5");
}

TEST_F(HttpServerTest, DeliversASmallBody) {
  auto r = request("POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer writer\r\nContent-Length: 11\r\n\r\nhello world");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "11:hello world");

  // Chunked request bodies are accepted.
  r = request("POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer writer\r\nTransfer-Encoding: chunked\r\n\r\n"
              "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "11:hello world");
}

TEST_F(HttpServerTest, RefusesTooLargeBodies) {
  // Content-Length beyond the route's max_body: refused before reading.
  auto r = request("POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer writer\r\nContent-Length: 5000\r\n\r\n" +
                   std::string(5000, 'x'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  expect_serving();

  // Chunked beyond it: cut off while reading.
  std::string chunked = "POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer writer\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) chunked += "258\r\n" + std::string(600, 'y') + "\r\n";
  chunked += "0\r\n\r\n";
  r = request(chunked);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  expect_serving();

  // A file route is capped by http.max_upload_bytes (4 MiB) below its own max_body (8 MiB).
  r = request("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/related; boundary=b\r\nAuthorization: Bearer writer\r\nContent-Length: 5242880\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);

  // A route without a body refuses one.
  r = request("GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  expect_serving();
}

TEST_F(HttpServerTest, RefusesContentEncodings) {
  auto r = request("POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer writer\r\nContent-Encoding: gzip\r\n"
                   "Content-Length: 4\r\n\r\nabcd");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  expect_serving();
}

TEST_F(HttpServerTest, RefusesAmbiguousBodyFramingAndCloses) {
  // An unknown transfer coding: the bytes after the header must not be served as a second request.
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->roundtrip("POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer writer\r\nTransfer-Encoding: gzip\r\n\r\n"
                             "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 501);
  EXPECT_TRUE(client->closed_by_peer());

  // Content-Length together with Transfer-Encoding.
  r = request("POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer writer\r\nContent-Length: 5\r\n"
              "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  expect_serving();
}

TEST_F(HttpServerTest, StreamsAFileBodyAndRemovesItAfterTheHandler) {
  const std::size_t size = 3 * 1024 * 1024 + 17;
  std::string body(size, '\0');
  for (std::size_t i = 0; i < size; ++i) body[i] = pattern_byte(i);
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->roundtrip("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/related; boundary=b\r\nAuthorization: Bearer writer\r\nContent-Length: " +
                             std::to_string(size) + "\r\n\r\n" + body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "stored " + std::to_string(size));
  std::lock_guard lock(seen_.mutex);
  EXPECT_TRUE(seen_.upload_existed);
  EXPECT_EQ(seen_.upload_mode, 0600u);
  EXPECT_EQ(seen_.upload_size, size);
  EXPECT_TRUE(seen_.upload_content_ok);
  EXPECT_EQ(seen_.upload_path.parent_path(), temp_dir_);
  EXPECT_FALSE(std::filesystem::exists(seen_.upload_path));
  EXPECT_TRUE(std::filesystem::is_empty(temp_dir_));
}

TEST_F(HttpServerTest, GivesAFileRouteAnEmptyFileWithoutABody) {
  auto r = request("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/related; boundary=b\r\nAuthorization: Bearer writer\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  std::lock_guard lock(seen_.mutex);
  EXPECT_TRUE(seen_.upload_existed);
  EXPECT_EQ(seen_.upload_size, 0u);
  EXPECT_TRUE(std::filesystem::is_empty(temp_dir_));
}

TEST_F(HttpServerTest, StreamsA50MiBResponseIntact) {
  auto client = connect();
  ASSERT_TRUE(client);
  auto big = client->roundtrip(get("/big", "Authorization: Bearer reader\r\n"));
  ASSERT_TRUE(big);
  // Same connection (before the 1 s idle timeout): a streamed body with a Content-Length.
  auto sized = client->roundtrip(get("/sized"));

  EXPECT_EQ(big->status, 200);
  EXPECT_TRUE(big->chunked);
  ASSERT_EQ(big->body.size(), 50u << 20);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < big->body.size(); ++i) bad += big->body[i] != pattern_byte(i);
  EXPECT_EQ(bad, 0u);

  ASSERT_TRUE(sized);
  EXPECT_FALSE(sized->chunked);
  EXPECT_EQ(sized->header("Content-Length"), std::to_string(3u << 20));
  ASSERT_EQ(sized->body.size(), 3u << 20);
  bad = 0;
  for (std::size_t i = 0; i < sized->body.size(); ++i) bad += sized->body[i] != pattern_byte(i);
  EXPECT_EQ(bad, 0u);
}

TEST_F(HttpServerTest, AbortsTheConnectionWhenAProducerFails) {
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->roundtrip(get("/broken"));
  EXPECT_FALSE(r);  // truncated: no final chunk
  expect_serving();
}

TEST_F(HttpServerTest, SurvivesAClientThatLeavesDuringALargeBody) {
  for (const char* path : {"/bigtext", "/big"}) {  // a string body written in slices, a streamed one
    auto client = connect();
    ASSERT_TRUE(client);
    ASSERT_TRUE(client->send(get(path)));
    std::this_thread::sleep_for(200ms);  // the server is writing; far more than the socket buffers hold
    client.reset();                      // gone without reading: the server's next write fails
    expect_serving();
  }
}

TEST_F(HttpServerTest, RefusesAnOversizedHeader) {
  auto client = connect();
  ASSERT_TRUE(client);
  client->send(get("/ping", "X-Big: " + std::string(8000, 'a') + "\r\n"));
  auto r = client->read_response();
  if (r) {
    EXPECT_EQ(r->status, 431);  // or the connection is simply closed
  }
  expect_serving();
}

TEST_F(HttpServerTest, CutsOffASlowLorisHeaderAtTheHeaderTimeout) {
  auto client = connect();
  ASSERT_TRUE(client);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(client->send("GET /ping HTTP/1.1\r\nHost: x\r\n"));
  bool cut = false;
  for (int i = 0; i < 40 && !cut; ++i) {  // would trickle for 8 s
    std::this_thread::sleep_for(200ms);
    cut = !client->send("X-Pad: y\r\n");
  }
  if (!cut) cut = client->closed_by_peer();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(cut);
  EXPECT_LT(elapsed, 5s);  // header_timeout_s = 2
  expect_serving();
}

TEST_F(HttpServerTest, ClosesAnIdleKeepAliveConnection) {
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->roundtrip(get("/ping"));
  ASSERT_TRUE(r);
  r = client->roundtrip(get("/ping"));  // keep-alive honoured
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "pong");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client->closed_by_peer());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GT(elapsed, 500ms);  // idle_timeout_s = 1
  EXPECT_LT(elapsed, 4s);
}

TEST_F(HttpServerTest, HonoursConnectionClose) {
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->roundtrip(get("/ping", "Connection: close\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_TRUE(client->closed_by_peer());
}

TEST_F(HttpServerTest, EnforcesMaxConnections) {
  std::vector<std::unique_ptr<TlsClient>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(TlsClient::connect(port_));
    ASSERT_TRUE(clients.back()) << i;
  }
  EXPECT_FALSE(TlsClient::connect(port_));
  clients.pop_back();
  std::unique_ptr<TlsClient> again;
  for (int i = 0; i < 50 && !again; ++i) {
    std::this_thread::sleep_for(20ms);
    again = TlsClient::connect(port_);
  }
  ASSERT_TRUE(again);
  auto r = again->roundtrip(get("/ping"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "pong");
}

// One address opening connections (without ever completing a handshake)
// must not keep another address from being served: a per-source cap.
TEST_F(HttpServerTest, OneAddressCannotHoldEveryConnection) {
  server_.reset();
  config_.http.max_connections = 6;
  config_.http.max_connections_per_source = 3;
  auto started = Server::start(config_, router_, auth_, temp_dir_);
  ASSERT_TRUE(started) << started.error().message;
  server_ = std::move(*started);
  port_ = server_->port();

  std::vector<int> held;  // silent TCP connections from 127.0.0.1, as many as max_connections
  for (int i = 0; i < 6; ++i) {
    int fd = testing::tcp_connect(port_, 2000);
    ASSERT_GE(fd, 0);
    held.push_back(fd);
  }
  // The ones beyond the per-source cap are closed at once (EOF before any handshake).
  int closed = 0;
  for (int fd : held) {
    timeval tv{0, 300000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    if (::recv(fd, &c, 1, 0) == 0) ++closed;
  }
  EXPECT_EQ(closed, 3);
  TlsClient::Options other;
  other.source = "127.0.0.2";
  auto client = TlsClient::connect(port_, other);
  ASSERT_TRUE(client) << "127.0.0.2 was refused while 127.0.0.1 held connections";
  auto r = client->roundtrip(get("/ping"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "pong");
  EXPECT_FALSE(TlsClient::connect(port_));  // 127.0.0.1 itself is at its cap
  for (int fd : held) ::close(fd);
}

// A burst of new connections from one address beyond the handshake rate
// waits for its turn (at most 2 s of debt), beyond which it is refused; other
// addresses are not slowed down.
TEST_F(HttpServerTest, ThrottlesTlsHandshakesPerSourceAddress) {
  server_.reset();
  config_.http.max_connections = 200;
  config_.http.max_connections_per_source = 200;
  config_.http.handshakes_per_source_per_s = 5;  // burst 10, then 2 s of debt = 10 more
  auto started = Server::start(config_, router_, auth_, temp_dir_);
  ASSERT_TRUE(started) << started.error().message;
  server_ = std::move(*started);
  port_ = server_->port();

  std::vector<int> fds;
  for (int i = 0; i < 40; ++i) {
    int fd = testing::tcp_connect(port_, 300);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(200ms);
  int refused = 0;
  for (int fd : fds) {
    char c;
    if (::recv(fd, &c, 1, MSG_DONTWAIT) == 0) ++refused;
  }
  EXPECT_GE(refused, 15);  // 40 - 10 (burst) - about 10 (waiting)
  EXPECT_LE(refused, 25);
  TlsClient::Options other;
  other.source = "127.0.0.2";
  const auto start = std::chrono::steady_clock::now();
  auto client = TlsClient::connect(port_, other);
  ASSERT_TRUE(client);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  auto r = client->roundtrip(get("/ping"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "pong");
  for (int fd : fds) ::close(fd);
}

// CSRF: a state-changing request from a browser page of another origin is
// refused whatever the credential (Basic cached by the browser, a token).
TEST_F(HttpServerTest, RefusesCrossOriginStateChangingRequestsWhateverTheCredential) {
  const std::string post = "POST /items HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) +
                           "\r\nAuthorization: Bearer writer\r\nContent-Type: application/json\r\nContent-Length: 2\r\n";
  auto r = request(post + "Origin: https://evil.example\r\n\r\n{}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->body, R"({"error":"cross-origin request refused"})");
  r = request(post + "Sec-Fetch-Site: cross-site\r\n\r\n{}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = request(post + "Sec-Fetch-Site: same-site\r\n\r\n{}");  // another port or subdomain of the same site
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = request(post + "Origin: null\r\n\r\n{}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = request("DELETE /items/5 HTTP/1.1\r\nHost: x\r\nCookie: __Host-tresor_session=sess-1\r\nX-CSRF-Token: csrf-1\r\n"
              "Origin: https://evil.example\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);

  // Same origin (Host and scheme; default port elided), or no browser at all.
  r = request(post + "Origin: https://127.0.0.1:" + std::to_string(port_) + "\r\nSec-Fetch-Site: same-origin\r\n\r\n{}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = request("POST /items HTTP/1.1\r\nHost: PACS.example.org:443\r\nAuthorization: Bearer writer\r\n"
              "Content-Type: application/json\r\nContent-Length: 2\r\nOrigin: https://pacs.example.org\r\n\r\n{}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = request(post + "\r\n{}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // The scheme counts: the server speaks only https.
  r = request(post + "Origin: http://127.0.0.1:" + std::to_string(port_) + "\r\n\r\n{}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  // GET is not state-changing: a cross-site image or link still works (it reads nothing back).
  r = request(get("/items/7", "Authorization: Bearer reader\r\nSec-Fetch-Site: cross-site\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// CSRF: what an HTML form can send (text/plain, urlencoded, form-data) is
// refused on a state-changing route, before authentication; JSON is accepted,
// and multipart/related on a route that streams its body to a file (STOW-RS).
TEST_F(HttpServerTest, RefusesStateChangingRequestsThatAreNotJson) {
  auto post = [&](std::string type_line) {
    return request("POST /items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer writer\r\n" + type_line +
                   "Content-Length: 2\r\n\r\n{}");
  };
  for (const char* form : {"Content-Type: text/plain\r\n", "Content-Type: application/x-www-form-urlencoded\r\n",
                           "Content-Type: multipart/form-data; boundary=x\r\n", ""}) {
    auto r = post(form);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 415) << form;
    EXPECT_EQ(r->body, R"({"error":"state-changing requests must have Content-Type: application/json"})") << form;
  }
  auto r = post("Content-Type: Application/JSON; charset=utf-8\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  // Refused before the credential is even looked at (no Argon2id for a forged form).
  const int calls = auth_.calls;
  r = request("POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  EXPECT_EQ(auth_.calls, calls);

  r = request("PUT /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer writer\r\nContent-Type: application/json\r\n"
              "Content-Length: 2\r\n\r\n{}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  r = request("PUT /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer writer\r\n"
              "Content-Type: multipart/related; type=\"application/dicom\"; boundary=b\r\nContent-Length: 2\r\n\r\nab");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  // Without a body, no Content-Type is needed (curl -X DELETE); a form's one is still refused.
  r = request("DELETE /items/5 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer writer\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = request("DELETE /items/5 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer writer\r\nContent-Type: text/plain\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
}

// A browser that got a Basic challenge would open its password dialog and
// then send those credentials by itself, cross-site requests included.
TEST_F(HttpServerTest, NeverSendsABasicChallengeToABrowser) {
  for (const char* browser : {"Sec-Fetch-Mode: navigate\r\n", "Origin: https://127.0.0.1\r\n",
                              "X-Requested-With: XMLHttpRequest\r\n", "Accept: text/html,application/xhtml+xml\r\n",
                              "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0\r\n",
                              "Sec-Fetch-Site: none\r\n"}) {
    auto r = request(get("/items/7", browser));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << browser;
    EXPECT_FALSE(r->header("WWW-Authenticate")) << browser;
  }
  for (const char* script : {"User-Agent: curl/7.88.1\r\n", "User-Agent: python-requests/2.31\r\n", ""}) {
    auto r = request(get("/items/7", script));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("WWW-Authenticate"), "Basic realm=\"tresor\", Bearer realm=\"tresor\"") << script;
  }
}

// The session cookie is __Host-tresor_session; an unprefixed one (which a
// sibling host or an http:// page could plant) is not a session.
TEST_F(HttpServerTest, ReadsTheSessionOnlyFromTheHostPrefixedCookie) {
  auto r = request(get("/items/7", "Cookie: tresor_session=sess-1\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = request(get("/items/7", "Cookie: tresor_session=x; __Host-tresor_session=sess-1\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(auth_.last_cookie, "sess-1");
}

TEST_F(HttpServerTest, ClosesBlockedSourcesBeforeTheHandshake) {
  auth_.block("127.0.0.1", true);
  EXPECT_FALSE(TlsClient::connect(port_));
  auth_.block("127.0.0.1", false);
  expect_serving();
}

TEST_F(HttpServerTest, AnswersHeadAsGetWithoutABody) {
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->roundtrip("HEAD /ping HTTP/1.1\r\nHost: x\r\n\r\n", true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Content-Length"), "4");
  // No body bytes were sent: the next response on the connection parses.
  r = client->roundtrip(get("/ping"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "pong");
}

TEST_F(HttpServerTest, SendsContinueOnlyAfterAuthentication) {
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->roundtrip("POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);

  client = connect();
  ASSERT_TRUE(client);
  r = client->roundtrip("POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer reader\r\nContent-Length: 5\r\n"
                        "Expect: 100-continue\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);

  client = connect();
  ASSERT_TRUE(client);
  r = client->roundtrip("POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer writer\r\nContent-Length: 5\r\n"
                        "Expect: 100-continue\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 100);
  r = client->roundtrip("hello");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "5:hello");
}

TEST_F(HttpServerTest, TurnsAHandlerExceptionIntoA500) {
  auto r = request(get("/boom"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, R"({"error":"internal error"})");
  expect_serving();
}

TEST_F(HttpServerTest, SetsTheOriginFromTheListenerOrPublicUrl) {
  auto r = request(get("/origin"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "https://127.0.0.1:" + std::to_string(port_));

  server_.reset();
  config_.http.public_url = "https://pacs.example.org:8443/";
  auto started = Server::start(config_, router_, auth_, temp_dir_);
  ASSERT_TRUE(started);
  server_ = std::move(*started);
  port_ = server_->port();
  r = request(get("/origin"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "https://pacs.example.org:8443");
}

TEST_F(HttpServerTest, LogsThePatternButNeverTheQueryOrCredentials) {
  auto sink = std::make_shared<CaptureSink>();
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  spdlog::set_level(spdlog::level::info);
  auto r = request(get("/items/1.2.3?q=Doe%5EJohn", "Authorization: Bearer reader\r\nCookie: __Host-tresor_session=zzz\r\n"));
  // The access log line is written right after the response: wait for it.
  for (int i = 0; i < 200 && sink->text().find("GET /items") == std::string::npos; ++i) std::this_thread::sleep_for(10ms);
  spdlog::set_default_logger(previous);
  spdlog::set_level(spdlog::level::warn);
  ASSERT_TRUE(r);
  std::string log = sink->text();
  EXPECT_NE(log.find("GET /items/{id} 200"), std::string::npos) << log;
  EXPECT_NE(log.find("user=reader"), std::string::npos) << log;
  EXPECT_EQ(log.find("Doe"), std::string::npos) << log;
  EXPECT_EQ(log.find("1.2.3"), std::string::npos) << log;
  EXPECT_EQ(log.find("Bearer"), std::string::npos) << log;
  EXPECT_EQ(log.find("zzz"), std::string::npos) << log;
}

TEST_F(HttpServerTest, StopLetsAnInFlightRequestFinish) {
  std::optional<HttpResponse> slow;
  std::thread t([&] {
    auto client = TlsClient::connect(port_);
    if (client) slow = client->roundtrip(get("/slow"));
  });
  auto idle = connect();  // an idle connection must not delay stop()
  ASSERT_TRUE(idle);
  while (seen_.slow_started == 0) std::this_thread::sleep_for(5ms);
  const auto start = std::chrono::steady_clock::now();
  server_->stop();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  t.join();
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, 200);
  EXPECT_EQ(slow->header("Connection"), "close");
  EXPECT_LT(elapsed, 4s);
  EXPECT_TRUE(idle->closed_by_peer());
  EXPECT_FALSE(TlsClient::connect(port_));  // the listener is closed
  server_->stop();                          // idempotent
}

TEST_F(HttpServerTest, BlockingHandlersDoNotHoldTheIoThread) {
  server_.reset();
  config_.http.io_threads = 1;
  config_.http.handler_threads = 3;
  auto started = Server::start(config_, router_, auth_, temp_dir_);
  ASSERT_TRUE(started) << started.error().message;
  server_ = std::move(*started);
  port_ = server_->port();

  std::vector<std::thread> slow;
  for (int i = 0; i < 2; ++i) {
    slow.emplace_back([this] {
      auto client = TlsClient::connect(port_);
      if (client) client->roundtrip(get("/slow"));
    });
  }
  while (seen_.slow_started < 2) std::this_thread::sleep_for(5ms);
  // Both slow handlers block a pool thread; the single io thread still does
  // the TLS handshake and serves a plain and a streamed response meanwhile.
  expect_serving();
  auto sized = request(get("/sized"));
  ASSERT_TRUE(sized);
  EXPECT_EQ(sized->status, 200);
  EXPECT_EQ(sized->body.size(), 3u << 20);
  EXPECT_EQ(seen_.slow_finished, 0);
  for (auto& t : slow) t.join();
  EXPECT_EQ(seen_.slow_finished, 2);
}

TEST_F(HttpServerTest, DestructionStopsTheServer) {
  auto idle = connect();
  ASSERT_TRUE(idle);
  server_.reset();
  EXPECT_TRUE(idle->closed_by_peer());
  EXPECT_LT(testing::tcp_connect(port_), 0);
}

TEST(HttpServer, FailsToStartWithoutACertificate) {
  config::Config config;
  config.tls.cert_file = "/nonexistent/server.crt";
  config.tls.key_file = "/nonexistent/server.key";
  config.http.bind = "127.0.0.1";
  config.http.port = 0;
  Router router;
  FakeAuth auth;
  auto started = Server::start(config, router, auth, std::filesystem::temp_directory_path());
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("server.crt"), std::string::npos);
}

} // namespace
} // namespace tresor::http
