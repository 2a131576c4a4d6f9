// https_get() against real TLS servers on 127.0.0.1: the project's own
// http::Server with a test CA, a second CA, and a certificate for another name.
#include "http/fetch.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <thread>

#include "http/server.h"
#include "security/pki.h"

namespace tresor::http {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kMiB = 1 << 20;
const std::string kJwks = R"({"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"AAAA","y":"BBBB"}]})";

std::filesystem::path make_temp_dir(const char* prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

class NoAuth final : public security::RequestAuthenticator {
public:
  Result<security::Authenticated> authenticate(const security::HttpCredentials&) override {
    return fail(Errc::unauthenticated, "authentication required");
  }
  bool source_blocked(const std::string&) const override { return false; }
};

// `total` bytes in 700-byte pieces (chunked transfer encoding).
class Filler final : public BodyProducer {
public:
  explicit Filler(std::size_t total) : left_(total) {}
  Result<bool> next(std::string& out) override {
    std::size_t n = std::min<std::size_t>(left_, 700);
    out.append(n, 'x');
    left_ -= n;
    return left_ > 0;
  }

private:
  std::size_t left_;
};

void add(Router& router, std::string pattern, Handler handler) {
  Route r;
  r.method = Method::get;
  r.pattern = std::move(pattern);
  r.auth = Auth::none;
  r.summary = "test";
  r.handler = std::move(handler);
  router.add(std::move(r));
}

Router make_router() {
  Router router;
  add(router, "/realms/pacs/certs", [](Request& r) {
    return json(200, r.query_param("realm").value_or("") == "other" ? std::string("{\"keys\":[]}") : kJwks,
                "application/jwk-set+json");
  });
  add(router, "/big", [](Request&) { return text(200, std::string(4096, 'x')); });
  add(router, "/big-chunked", [](Request&) {
    Response r;
    r.stream = std::make_unique<Filler>(4096);
    return r;
  });
  add(router, "/exact", [](Request&) { return text(200, std::string(1000, 'y')); });
  add(router, "/moved", [](Request&) {
    Response r = text(302, "");
    r.set("Location", "https://localhost/realms/pacs/certs");
    return r;
  });
  add(router, "/broken", [](Request&) { return text(500, "oops"); });
  add(router, "/slow", [](Request&) {
    std::this_thread::sleep_for(2500ms);
    return text(200, kJwks);
  });
  return router;
}

class HttpsGet : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    ::signal(SIGPIPE, SIG_IGN);
    spdlog::set_level(spdlog::level::warn);
    pki_ = make_temp_dir("tresor-fetch-pki");
    ASSERT_TRUE(security::create_ca(pki_ / "ca.crt", pki_ / "ca.key", "Tresor Fetch Test CA"));
    ASSERT_TRUE(security::create_ca(pki_ / "other-ca.crt", pki_ / "other-ca.key", "Some Other CA"));
    auto good = security::issue_server_cert(pki_ / "ca.crt", pki_ / "ca.key", "localhost", {"localhost"},
                                            {"127.0.0.1"}, pki_ / "server.crt", pki_ / "server.key");
    ASSERT_TRUE(good) << good.error().message;
    auto wrong = security::issue_server_cert(pki_ / "ca.crt", pki_ / "ca.key", "idp.example.org", {"idp.example.org"},
                                             {}, pki_ / "wrong.crt", pki_ / "wrong.key");
    ASSERT_TRUE(wrong) << wrong.error().message;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(pki_, ec);
  }

  void SetUp() override {
    temp_ = make_temp_dir("tresor-fetch-tmp");
    router_ = make_router();
    good_ = start("server");
    wrong_ = start("wrong");
    ASSERT_TRUE(good_ && wrong_);
  }
  void TearDown() override {
    good_.reset();
    wrong_.reset();
    std::error_code ec;
    std::filesystem::remove_all(temp_, ec);
  }

  std::unique_ptr<Server> start(const std::string& name) {
    config::Config config;
    config.tls.cert_file = pki_ / (name + ".crt");
    config.tls.key_file = pki_ / (name + ".key");
    config.http.bind = "127.0.0.1";
    config.http.port = 0;
    config.http.io_threads = 2;
    auto started = Server::start(config, router_, auth_, temp_);
    EXPECT_TRUE(started) << started.error().message;
    return started ? std::move(*started) : nullptr;
  }
  std::string url(const std::string& host, const std::string& target, const Server& s) const {
    return "https://" + host + ":" + std::to_string(s.port()) + target;
  }
  Result<std::string> get(const std::string& target, std::size_t max_bytes = kMiB) const {
    return https_get(url("localhost", target, *good_), pki_ / "ca.crt", 10s, max_bytes);
  }
  static std::string error_of(const Result<std::string>& r) { return r ? "<fetched>" : r.error().message; }

  inline static std::filesystem::path pki_;
  std::filesystem::path temp_;
  Router router_;
  NoAuth auth_;
  std::unique_ptr<Server> good_, wrong_;
};

TEST_F(HttpsGet, FetchesTheBodyFromAVerifiedServer) {
  auto r = get("/realms/pacs/certs");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, kJwks);
  auto query = get("/realms/pacs/certs?realm=other");
  ASSERT_TRUE(query) << query.error().message;
  EXPECT_EQ(*query, "{\"keys\":[]}");
  // The certificate's IP address SAN matches an IP literal URL.
  auto by_ip = https_get(url("127.0.0.1", "/realms/pacs/certs", *good_), pki_ / "ca.crt", 10s, kMiB);
  ASSERT_TRUE(by_ip) << by_ip.error().message;
  EXPECT_EQ(*by_ip, kJwks);
  // A body of exactly max_bytes is fine.
  auto exact = get("/exact", 1000);
  ASSERT_TRUE(exact) << exact.error().message;
  EXPECT_EQ(exact->size(), 1000u);
}

TEST_F(HttpsGet, RefusesAServerCertificateFromAnotherCa) {
  auto r = https_get(url("localhost", "/realms/pacs/certs", *good_), pki_ / "other-ca.crt", 10s, kMiB);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::io_error);
  EXPECT_NE(error_of(r).find("certificate verification failed"), std::string::npos) << error_of(r);
  // The system store does not know our test CA either.
  auto system = https_get(url("localhost", "/realms/pacs/certs", *good_), "", 10s, kMiB);
  ASSERT_FALSE(system);
  EXPECT_NE(error_of(system).find("certificate verification failed"), std::string::npos) << error_of(system);
  // A CA file that does not exist is an error before any connection.
  EXPECT_FALSE(https_get(url("localhost", "/realms/pacs/certs", *good_), pki_ / "absent.crt", 10s, kMiB));
}

TEST_F(HttpsGet, RefusesACertificateForAnotherHostName) {
  // Same trusted CA, but the certificate names idp.example.org only.
  auto r = https_get(url("localhost", "/realms/pacs/certs", *wrong_), pki_ / "ca.crt", 10s, kMiB);
  ASSERT_FALSE(r);
  EXPECT_NE(error_of(r).find("hostname mismatch"), std::string::npos) << error_of(r);
  auto ip = https_get(url("127.0.0.1", "/realms/pacs/certs", *wrong_), pki_ / "ca.crt", 10s, kMiB);
  ASSERT_FALSE(ip);
  EXPECT_NE(error_of(ip).find("IP address mismatch"), std::string::npos) << error_of(ip);
}

TEST_F(HttpsGet, RefusesABodyLargerThanTheLimit) {
  auto sized = get("/big", 1000);
  ASSERT_FALSE(sized);
  EXPECT_EQ(sized.error().code, Errc::too_large) << error_of(sized);
  auto chunked = get("/big-chunked", 1000);
  ASSERT_FALSE(chunked);
  EXPECT_EQ(chunked.error().code, Errc::too_large) << error_of(chunked);
  auto fits = get("/big-chunked", 4096);
  ASSERT_TRUE(fits) << fits.error().message;
  EXPECT_EQ(fits->size(), 4096u);
}

TEST_F(HttpsGet, AcceptsOnly200AndFollowsNoRedirect) {
  auto moved = get("/moved");
  ASSERT_FALSE(moved);
  EXPECT_NE(error_of(moved).find("HTTP status 302 (redirects are not followed)"), std::string::npos)
      << error_of(moved);
  auto missing = get("/realms/other/certs");
  ASSERT_FALSE(missing);
  EXPECT_NE(error_of(missing).find("HTTP status 404"), std::string::npos) << error_of(missing);
  auto broken = get("/broken");
  ASSERT_FALSE(broken);
  EXPECT_NE(error_of(broken).find("HTTP status 500"), std::string::npos) << error_of(broken);
}

TEST_F(HttpsGet, GivesUpAfterTheTimeout) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = https_get(url("localhost", "/slow", *good_), pki_ / "ca.crt", 1s, kMiB);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable) << error_of(r);
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 2s);
}

TEST_F(HttpsGet, RefusesUrlsThatAreNotPlainHttpsWithoutConnecting) {
  const std::string port = std::to_string(good_->port());
  for (const std::string& bad : std::vector<std::string>{
           "http://localhost:" + port + "/realms/pacs/certs", "ftp://localhost/x", "localhost:" + port,
        "https://user:secret@localhost:" + port + "/realms/pacs/certs", "https://localhost:" + port + "/x#frag",
        "https://localhost:0/x", "https://localhost:70000/x", "https://localhost:/x", "https:///x",
        "https://local_host/x", "https://[::1/x", "https://localhost:" + port + "/a b"}) {
    auto r = https_get(bad, pki_ / "ca.crt", 10s, kMiB);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << bad << ": " << error_of(r);
    EXPECT_EQ(error_of(r).find("secret"), std::string::npos) << "credentials are never echoed";
  }
}

TEST_F(HttpsGet, ErrorsNameTheHostButNotThePathOrQuery) {
  auto r = get("/realms/other/certs?token=s3cr3t");
  ASSERT_FALSE(r);
  EXPECT_NE(error_of(r).find("localhost"), std::string::npos) << error_of(r);
  EXPECT_EQ(error_of(r).find("s3cr3t"), std::string::npos) << error_of(r);
  EXPECT_EQ(error_of(r).find("/realms"), std::string::npos) << error_of(r);
}

} // namespace
} // namespace tresor::http
