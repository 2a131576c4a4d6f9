// RefreshingJwtVerifier with a fake identity provider (an in-memory JWKS
// behind the injected fetch function) and a fake steady clock for the
// unknown-kid rate limit.
#include "security/jwks_refresh.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "test_support.h"

namespace tresor::security {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::make_token;

constexpr std::int64_t kNow = 1'800'000'000;
const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(kNow));
const std::string kIssuer = "https://idp.example.org/realms/pacs";
const std::string kAudience = "tresor";

// The IdP's JWKS endpoint. Optionally fails, or blocks until released.
struct FakeIdp {
  std::mutex mutex;
  std::condition_variable cv;
  std::string document;
  std::optional<Error> failure;
  int calls = 0;
  bool hold = false;      // fetches block while true
  bool inside = false;    // a fetch is blocked inside

  void publish(const std::vector<json>& keys) {
    std::lock_guard lock(mutex);
    document = json{{"keys", keys}}.dump();
  }
  void set_document(std::string text) {
    std::lock_guard lock(mutex);
    document = std::move(text);
  }
  void set_failure(std::optional<Error> e) {
    std::lock_guard lock(mutex);
    failure = std::move(e);
  }
  int fetches() {
    std::lock_guard lock(mutex);
    return calls;
  }
  Result<std::string> fetch() {
    std::unique_lock lock(mutex);
    ++calls;
    inside = true;
    cv.notify_all();
    cv.wait(lock, [this] { return !hold; });
    inside = false;
    if (failure) return std::unexpected(*failure);
    return document;
  }
  void block() {
    std::lock_guard lock(mutex);
    hold = true;
  }
  void release() {
    {
      std::lock_guard lock(mutex);
      hold = false;
    }
    cv.notify_all();
  }
  bool wait_inside(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, limit, [this] { return inside; });
  }
};

// A steady clock the test moves by hand.
struct FakeClock {
  std::atomic<std::int64_t> ms{1'000'000};
  std::chrono::steady_clock::time_point operator()() const {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms.load()));
  }
  void advance(std::chrono::milliseconds d) { ms += d.count(); }
};

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

class JwksRefresh : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    k1_ = testing::make_ec_key().release();
    k2_ = testing::make_ec_key().release();
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(k1_);
    EVP_PKEY_free(k2_);
  }

  std::unique_ptr<RefreshingJwtVerifier> start(std::chrono::milliseconds interval = 1h) {
    RefreshingJwtVerifier::Options options;
    options.refresh_interval = interval;
    options.now = [this] { return clock_(); };
    options.source = "JWKS idp.example.org";
    auto v = RefreshingJwtVerifier::start([this] { return idp_->fetch(); }, kIssuer, kAudience, {"ES256"},
                                          std::move(options));
    EXPECT_TRUE(v.has_value()) << (v ? "" : v.error().message);
    return v ? std::move(*v) : nullptr;
  }

  static json claims() { return {{"sub", "alice"}, {"iss", kIssuer}, {"aud", kAudience}, {"exp", kNow + 300}}; }
  static std::string token(EVP_PKEY* key, const std::string& kid) { return make_token("ES256", key, claims(), kid); }
  static std::string refusal(const Result<JwtClaims>& r) { return r ? std::string("accepted") : r.error().message; }

  // Waits (real time) until the verifier has made at least `n` fetches.
  static bool wait_fetches(const RefreshingJwtVerifier& v, std::uint64_t n) {
    for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
      if (v.fetch_count() >= n) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  std::shared_ptr<FakeIdp> idp_ = std::make_shared<FakeIdp>();
  FakeClock clock_;
  static inline EVP_PKEY* k1_ = nullptr;
  static inline EVP_PKEY* k2_ = nullptr;
};

TEST_F(JwksRefresh, StartFailsWhenTheFirstFetchFailsOrTheKeySetIsUnusable) {
  idp_->set_failure(Error{Errc::io_error, "connection refused"});
  RefreshingJwtVerifier::Options options;
  auto fetch = [this] { return idp_->fetch(); };
  auto failed = RefreshingJwtVerifier::start(fetch, kIssuer, kAudience, {"ES256"}, options);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("connection refused"), std::string::npos) << failed.error().message;

  idp_->set_failure(std::nullopt);
  for (std::string bad : {"", "not json", R"({"keys": []})", R"({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})"}) {
    idp_->set_document(bad);
    EXPECT_FALSE(RefreshingJwtVerifier::start(fetch, kIssuer, kAudience, {"ES256"}, options)) << bad;
  }
  idp_->publish({testing::jwk_of(k1_, "k1")});
  EXPECT_FALSE(RefreshingJwtVerifier::start(fetch, kIssuer, kAudience, {"HS256"}, options));
  EXPECT_FALSE(RefreshingJwtVerifier::start(nullptr, kIssuer, kAudience, {"ES256"}, options));
  EXPECT_TRUE(RefreshingJwtVerifier::start(fetch, kIssuer, kAudience, {"ES256"}, options));
}

TEST_F(JwksRefresh, ScheduledRefreshFollowsKeyRotation) {
  idp_->publish({testing::jwk_of(k1_, "k1")});
  auto v = start(20ms);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->verify(token(k1_, "k1"), now)) << "the first key set is used";

  // The IdP adds the next key: after a scheduled refresh both verify.
  idp_->publish({testing::jwk_of(k1_, "k1"), testing::jwk_of(k2_, "k2")});
  ASSERT_TRUE(wait_fetches(*v, v->fetch_count() + 2));  // one whole fetch after the publish
  EXPECT_TRUE(v->verify(token(k1_, "k1"), now)) << "the old token stays valid";
  auto fresh = v->verify(token(k2_, "k2"), now);
  EXPECT_TRUE(fresh) << refusal(fresh);

  // The IdP retires the old key: its tokens are refused after the next refresh.
  idp_->publish({testing::jwk_of(k2_, "k2")});
  ASSERT_TRUE(wait_fetches(*v, v->fetch_count() + 2));
  auto old = v->verify(token(k1_, "k1"), now);
  ASSERT_FALSE(old);
  EXPECT_TRUE(JwtVerifier::is_unknown_key_id(old.error())) << old.error().message;
  EXPECT_TRUE(v->verify(token(k2_, "k2"), now));
}

TEST_F(JwksRefresh, UnknownKidTriggersAtMostOneRefetchPerMinute) {
  idp_->publish({testing::jwk_of(k1_, "k1")});
  auto v = start();
  ASSERT_TRUE(v);
  EXPECT_EQ(v->fetch_count(), 1u);

  // A kid the IdP does not publish: one refetch, then refusal.
  auto r = v->verify(token(k2_, "k2"), now);
  ASSERT_FALSE(r);
  EXPECT_TRUE(JwtVerifier::is_unknown_key_id(r.error())) << r.error().message;
  EXPECT_EQ(v->fetch_count(), 2u);
  EXPECT_EQ(idp_->fetches(), 2);

  // Within the minute: no more fetches, however many such tokens arrive,
  // even once the IdP does publish the key.
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(v->verify(token(k2_, "k2-" + std::to_string(i)), now));
  idp_->publish({testing::jwk_of(k1_, "k1"), testing::jwk_of(k2_, "k2")});
  EXPECT_FALSE(v->verify(token(k2_, "k2"), now));
  clock_.advance(59s);
  EXPECT_FALSE(v->verify(token(k2_, "k2"), now));
  EXPECT_EQ(idp_->fetches(), 2);

  // A wrong signature under a known kid is not a reason to refetch.
  clock_.advance(1s);
  EXPECT_FALSE(v->verify(token(k2_, "k1"), now));
  EXPECT_EQ(idp_->fetches(), 2);

  // A minute after the last early refetch: one more, and the token verifies.
  auto later = v->verify(token(k2_, "k2"), now);
  EXPECT_TRUE(later) << refusal(later);
  EXPECT_EQ(idp_->fetches(), 3);
  EXPECT_TRUE(v->verify(token(k1_, "k1"), now));
  EXPECT_EQ(idp_->fetches(), 3);
}

TEST_F(JwksRefresh, FailedRefreshKeepsTheOldKeysAndLogsAWarning) {
  auto sink = std::make_shared<CaptureSink>();
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));

  idp_->publish({testing::jwk_of(k1_, "k1")});
  auto v = start();
  ASSERT_TRUE(v);

  idp_->set_failure(Error{Errc::io_error, "TLS handshake failed"});
  EXPECT_FALSE(v->refresh_now());
  EXPECT_TRUE(v->verify(token(k1_, "k1"), now));

  idp_->set_failure(std::nullopt);
  const std::string garbage = R"({"keys": "SECRET-LOOKING-GARBAGE"})";
  idp_->set_document(garbage);
  EXPECT_FALSE(v->refresh_now());
  EXPECT_TRUE(v->verify(token(k1_, "k1"), now));
  idp_->set_document(R"({"keys": []})");
  EXPECT_FALSE(v->refresh_now());
  EXPECT_TRUE(v->verify(token(k1_, "k1"), now));
  // An unknown kid with a failing IdP: refused, old keys still in place.
  idp_->set_failure(Error{Errc::unavailable, "timed out"});
  EXPECT_FALSE(v->verify(token(k2_, "k2"), now));
  EXPECT_TRUE(v->verify(token(k1_, "k1"), now));
  EXPECT_EQ(idp_->fetches(), 5);

  spdlog::set_default_logger(previous);
  const std::string log = sink->text();
  EXPECT_NE(log.find("JWKS idp.example.org refresh (on request) failed, keeping the previous keys: TLS handshake failed"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("unusable key set"), std::string::npos) << log;
  EXPECT_NE(log.find("timed out"), std::string::npos) << log;
  EXPECT_EQ(log.find("SECRET-LOOKING-GARBAGE"), std::string::npos) << "the document is never logged";
}

TEST_F(JwksRefresh, AnEarlyRefetchDoesNotHoldUpOtherVerifications) {
  idp_->publish({testing::jwk_of(k1_, "k1")});
  auto v = start();
  ASSERT_TRUE(v);
  idp_->publish({testing::jwk_of(k1_, "k1"), testing::jwk_of(k2_, "k2")});
  idp_->block();
  auto early = std::async(std::launch::async, [&] { return v->verify(token(k2_, "k2"), now); });
  ASSERT_TRUE(idp_->wait_inside(5s));

  // While that fetch hangs: known keys verify, other unknown kids are refused at once.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(v->verify(token(k1_, "k1"), now));
  EXPECT_FALSE(v->verify(token(k2_, "k2"), now));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(early.wait_for(0s), std::future_status::timeout);

  idp_->release();
  auto r = early.get();
  EXPECT_TRUE(r) << refusal(r);
  EXPECT_EQ(idp_->fetches(), 2);
}

TEST_F(JwksRefresh, StopIsPromptAndTheLastKeysStayUsable) {
  idp_->publish({testing::jwk_of(k1_, "k1")});
  auto v = start(24h);
  ASSERT_TRUE(v);
  const auto t0 = std::chrono::steady_clock::now();
  v->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  v->stop();  // idempotent
  EXPECT_TRUE(v->verify(token(k1_, "k1"), now));

  // The destructor stops a running verifier just as promptly.
  auto w = start(24h);
  ASSERT_TRUE(w);
  const auto t1 = std::chrono::steady_clock::now();
  w.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 500ms);
}

TEST(JwtFromJson, BuildsTheSameVerifierAsTheFileAndNamesTheSourceInErrors) {
  testing::Pkey key = testing::make_ec_key();
  const std::string doc = json{{"keys", {testing::jwk_of(key.get(), "k")}}}.dump();
  auto v = JwtVerifier::from_jwks_json(doc, kIssuer, kAudience, {"ES256"});
  ASSERT_TRUE(v) << v.error().message;
  auto claims = json{{"sub", "alice"}, {"iss", kIssuer}, {"aud", kAudience}, {"exp", kNow + 300}};
  EXPECT_TRUE((*v)->verify(make_token("ES256", key.get(), claims, "k"), now));

  auto bad = JwtVerifier::from_jwks_json("[]", kIssuer, kAudience, {"ES256"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind("JWKS: ", 0), 0u) << bad.error().message;
  EXPECT_FALSE(JwtVerifier::from_jwks_json(std::string(2u << 20, ' '), kIssuer, kAudience, {"ES256"}));
  EXPECT_FALSE(JwtVerifier::from_jwks_json(doc, kIssuer, kAudience, {"none"}));

  testing::TempDir dir;
  std::ofstream(dir / "jwks.json") << "{\"keys\": 1}";
  auto file = JwtVerifier::from_jwks_file(dir / "jwks.json", kIssuer, kAudience, {"ES256"});
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().message.find("jwks.json: no \"keys\" array"), std::string::npos) << file.error().message;
}

} // namespace
} // namespace tresor::security
