// Shared by the HTTPS transport tests (server_test.cpp, server_limits_test.cpp):
// against real sockets on 127.0.0.1, a test route table, a fake
// authenticator, a raw OpenSSL client (tls_client.h) and the HttpServerTest
// fixture (one server per test). Not in an anonymous namespace: both files'
// TEST_Fs must use the same fixture type (one GoogleTest suite).
#pragma once
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

namespace tresor::http::server_testing {

using namespace std::chrono_literals;
using testing::HttpResponse;
using testing::TlsClient;

inline std::filesystem::path make_temp_dir(const char* prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

inline char pattern_byte(std::uint64_t i) { return static_cast<char>((i * 31 + 7) % 251); }

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

inline Router make_router(Seen& seen) {
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

inline std::string get(std::string_view target, std::string_view extra = "") {
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

} // namespace tresor::http::server_testing
