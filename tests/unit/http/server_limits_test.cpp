// The HTTPS transport's limits against real sockets on 127.0.0.1
// (server_fixture.h): TLS versions and ciphers, body and header sizes,
// timeouts, connection caps, per-source admission and handshake rates,
// start and destruction.
#include "server_fixture.h"

#include <gtest/gtest.h>

namespace tresor::http {
namespace {

using namespace std::chrono_literals;
using namespace server_testing;
using testing::HttpResponse;
using testing::TlsClient;

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

TEST_F(HttpServerTest, ClosesBlockedSourcesBeforeTheHandshake) {
  auth_.block("127.0.0.1", true);
  EXPECT_FALSE(TlsClient::connect(port_));
  auth_.block("127.0.0.1", false);
  expect_serving();
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
