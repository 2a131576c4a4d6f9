// The HTTPS transport against real sockets on 127.0.0.1 (server_fixture.h):
// requests and answers, authentication and CSRF, bodies and streaming,
// logging, shutdown. Transport limits (TLS, sizes, timeouts, connections,
// handshakes) are in server_limits_test.cpp.
#include "server_fixture.h"

#include <gtest/gtest.h>

namespace tresor::http {
namespace {

using namespace std::chrono_literals;
using namespace server_testing;
using testing::HttpResponse;
using testing::TlsClient;

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

} // namespace
} // namespace tresor::http
