// Device cookies (issue 11, "a session that has succeeded before"): the
// cookie itself (DeviceCookies), how the throttle judges a device
// (LoginThrottle), and the login path (HttpAuthenticator). Argon2id costs
// ~0.2 s a verification: the figures are kept small.
#include "security/device_cookie.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "security/http_auth.h"
#include "security/login_throttle.h"
#include "security/passwords.h"
#include "test_support.h"

namespace tresor::security {
namespace {

using namespace std::chrono_literals;
using testing::MemoryAccounts;
using testing::TempDir;
using testing::TestClock;
using Outcome = LoginThrottle::Outcome;
using time_point = LoginThrottle::time_point;

const time_point t0 = time_point{} + std::chrono::seconds(1'800'000'000);
const std::string kPassword = "correct horse battery staple";
const std::string kWrong = "Tr0ub4dor&3-guess";

DeviceCookies make_devices(char fill = 'k') { return DeviceCookies(std::string(DeviceCookies::kKeyBytes, fill)); }

TEST(DeviceCookies, AnIssuedCookieVerifiesForItsAccountOnlyAndUntilItExpires) {
  const DeviceCookies devices = make_devices();
  const std::string cookie = devices.issue("alice", t0, std::chrono::days(30));
  ASSERT_FALSE(cookie.empty());
  EXPECT_LE(cookie.size(), DeviceCookies::kMaxCookieChars);
  const auto nonce = devices.verify(cookie, "alice", t0 + 1h);
  ASSERT_TRUE(nonce.has_value());
  EXPECT_EQ(nonce->size(), 22u);
  EXPECT_EQ(cookie.find("alice"), std::string::npos) << "the account is bound by the MAC, not carried";
  EXPECT_FALSE(devices.verify(cookie, "bob", t0 + 1h).has_value()) << "a cookie of alice admitted for bob";
  EXPECT_FALSE(devices.verify(cookie, "alice", t0 + std::chrono::days(30)).has_value()) << "expired cookie admitted";
  // Two logins, two devices.
  const auto other = devices.verify(devices.issue("alice", t0, 1h), "alice", t0);
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(*other, *nonce);
}

TEST(DeviceCookies, ForgedTamperedOrOversizedCookiesAreIgnored) {
  const DeviceCookies devices = make_devices();
  const std::string cookie = devices.issue("alice", t0, std::chrono::days(30));
  ASSERT_TRUE(devices.verify(cookie, "alice", t0).has_value());
  // Another server's key.
  EXPECT_FALSE(make_devices('x').verify(cookie, "alice", t0).has_value());
  // A flipped MAC character, a flipped nonce character, a later expiry.
  std::string bad_mac = cookie;
  bad_mac.back() = bad_mac.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(devices.verify(bad_mac, "alice", t0).has_value());
  std::string bad_nonce = cookie;
  bad_nonce[3] = bad_nonce[3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(devices.verify(bad_nonce, "alice", t0).has_value());
  const std::size_t e1 = cookie.find('.', 3) + 1, e2 = cookie.find('.', e1);
  std::string later = cookie;
  later.replace(e1, e2 - e1, "9999999999");
  EXPECT_FALSE(devices.verify(later, "alice", t0).has_value());
  // Malformed and oversized input.
  for (const std::string& junk :
       {std::string(), std::string("v1"), std::string("v1..."), cookie + ".x", "v2" + cookie.substr(2),
        std::string(DeviceCookies::kMaxCookieChars + 1, 'a'), cookie + std::string(200, 'A'), std::string(100000, '.')})
    EXPECT_FALSE(devices.verify(junk, "alice", t0).has_value()) << junk.substr(0, 40);
}

TEST(DeviceCookies, TheKeyIsCreatedOnceWithMode0600AndSurvivesARestart) {
  TempDir dir;
  const auto file = dir / "device_cookie.key";
  auto first = DeviceCookies::load_or_create(file);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  struct stat st{};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, static_cast<off_t>(DeviceCookies::kKeyBytes));
  const std::string cookie = first->issue("alice", t0, 24h);
  // A restart reads the same key: the cookie still verifies.
  auto second = DeviceCookies::load_or_create(file);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_TRUE(second->verify(cookie, "alice", t0).has_value());
  // A damaged key file is an error, never silently replaced.
  { std::ofstream(file, std::ios::trunc) << "short"; }
  EXPECT_FALSE(DeviceCookies::load_or_create(file).has_value());
}

TEST(LoginThrottle, ADeviceIsExemptFromTheAccountCeilingButHasItsOwnPairThrottle) {
  config::Login l;  // defaults: 3 free failures, 10 per pair window, burst 10
  LoginThrottle t(l);
  // Guessers from many addresses empty alice's bucket.
  for (int i = 0; i < 50; ++i) {
    auto a = t.admit("alice", "203.0.113." + std::to_string(i), t0);
    if (a.allowed) t.settle("alice", "203.0.113." + std::to_string(i), a.id, Outcome::failed, t0);
  }
  EXPECT_FALSE(t.admit("alice", "192.0.2.1", t0).allowed) << "ceiling not reached";
  // A device of alice, from any address, is admitted at once, in the priority lane.
  auto a = t.admit("alice", "192.0.2.1", t0, "nonce-1");
  ASSERT_TRUE(a.allowed) << a.reason;
  EXPECT_TRUE(a.device);
  EXPECT_TRUE(a.known_good);
  const std::string dev = LoginThrottle::device_source("nonce-1");
  t.settle("alice", dev, a.id, Outcome::failed, t0);
  // Its failures count against the device: delays, then refusal.
  auto now = t0;
  int admitted = 1;
  for (int i = 0; i < 200 && admitted < l.pair_max_failures; ++i) {
    auto g = t.admit("alice", "192.0.2.1", now, "nonce-1");
    if (g.allowed) {
      ASSERT_TRUE(g.device);
      t.settle("alice", dev, g.id, Outcome::failed, now);
      ++admitted;
    } else {
      EXPECT_NE(g.reason.find("device"), std::string::npos) << g.reason;
      now += g.retry_after;
    }
  }
  ASSERT_EQ(admitted, l.pair_max_failures);
  EXPECT_GT(now - t0, 60s) << "no growing delays for the device";
  // A device refused for failures counts as no cookie: the account's
  // ceiling applies to it again (its failures took no token: the bucket
  // refilled only with time).
  now += std::chrono::seconds(l.pair_max_delay_s);
  auto burnt = t.admit("alice", "192.0.2.1", now, "nonce-1");
  EXPECT_FALSE(burnt.device);
  // Another device of alice is unaffected.
  auto fresh = t.admit("alice", "192.0.2.1", now, "nonce-2");
  EXPECT_TRUE(fresh.allowed && fresh.device) << fresh.reason;
  // A device's success does not make its address known good.
  t.settle("alice", LoginThrottle::device_source("nonce-2"), fresh.id, Outcome::succeeded, now);
  EXPECT_FALSE(t.known_good("alice", "192.0.2.1", now));
}

class HttpAuthDevice : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(init_crypto().has_value());
    auto h = hash_password(kPassword);
    ASSERT_TRUE(h.has_value());
    hash_ = *h;
  }
  void SetUp() override {
    config_.login.pair_free_failures = 2;
    config_.login.pair_max_failures = 4;
    config_.login.account_burst = 4;
    config_.login.account_guesses_per_minute = 1;
    config_.login.known_good_days = 30;
    config_.login.source_max_failures = 1000;
    accounts_.put_user(User{"alice", hash_, {Role::clinician}, true, std::nullopt});
    accounts_.put_user(User{"carol", hash_, {Role::admin}, true, std::nullopt});
    auth_ = std::make_unique<HttpAuthenticator>(config_, accounts_, nullptr, clock_, audit_, &devices_);
  }
  // Guessers from fresh addresses until alice's ceiling refuses them.
  void exhaust_ceiling(const std::string& account) {
    for (int i = 0; i < config_.login.account_burst + 2; ++i)
      (void)auth_->login(account, kWrong, "203.0.113." + std::to_string(i));
    auto r = auth_->login(account, kPassword, "198.51.100.200");
    ASSERT_FALSE(r.has_value());
    ASSERT_EQ(r.error().code, Errc::rate_limited) << "ceiling not reached";
  }

  config::Config config_;
  MemoryAccounts accounts_;
  TestClock clock_{1'800'000'000};
  audit::MemorySink audit_;
  DeviceCookies devices_ = make_devices();
  std::unique_ptr<HttpAuthenticator> auth_;
  static inline std::string hash_;
};

TEST_F(HttpAuthDevice, ALoginIssuesADeviceCookieThatAdmitsTheOwnerPastTheCeilingFromANewAddress) {
  auto first = auth_->login("alice", kPassword, "10.0.0.5");
  ASSERT_TRUE(first.has_value()) << first.error().message;
  ASSERT_FALSE(first->device_cookie.empty());
  EXPECT_EQ(first->device_max_age, std::chrono::days(30));
  EXPECT_TRUE(devices_.verify(first->device_cookie, "alice", clock_.t).has_value());
  auto carol = auth_->login("carol", kPassword, "10.0.0.6");
  ASSERT_TRUE(carol.has_value());
  clock_.t += 6min;  // past the cache of verified passwords: every login below is a guess

  exhaust_ceiling("alice");
  const std::string fresh = "192.0.2.50";  // alice never logged in from here
  auto without = auth_->login("alice", kPassword, fresh);
  ASSERT_FALSE(without.has_value());
  EXPECT_EQ(without.error().code, Errc::rate_limited);
  // carol's cookie, a forged one, an oversized one: no cookie.
  for (const std::string& other :
       {carol->device_cookie, make_devices('x').issue("alice", clock_.t, 24h), first->device_cookie + "AAAA",
        std::string(5000, 'v')}) {
    auto r = auth_->login("alice", kPassword, fresh, other);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Errc::rate_limited);
  }
  // alice's own cookie: in at once, with a new cookie.
  auto with = auth_->login("alice", kPassword, fresh, first->device_cookie);
  ASSERT_TRUE(with.has_value()) << with.error().message;
  EXPECT_FALSE(with->device_cookie.empty());
  // Expired (past known_good_days): no cookie again.
  clock_.t += std::chrono::days(31);  // (the owner's last success is out of the cache too)
  exhaust_ceiling("alice");
  auto expired = auth_->login("alice", kPassword, fresh, first->device_cookie);
  ASSERT_FALSE(expired.has_value());
  EXPECT_EQ(expired.error().code, Errc::rate_limited);
}

TEST_F(HttpAuthDevice, WrongPasswordsWithADeviceCookieCountAgainstTheDeviceNotTheAccount) {
  auto first = auth_->login("alice", kPassword, "10.0.0.5");
  ASSERT_TRUE(first.has_value());
  clock_.t += 10min;  // the bucket is full again
  const std::string stolen = first->device_cookie;
  // A thief with the cookie: delays, then the device is refused ...
  int verified = 0, throttled = 0;
  for (int i = 0; i < 40 && verified < config_.login.pair_max_failures; ++i) {
    auto r = auth_->login("alice", kWrong, "198.51.100.9", stolen);
    ASSERT_FALSE(r.has_value());
    if (r.error().code == Errc::rate_limited) {
      ++throttled;
      clock_.t += std::chrono::seconds(r.error().retry_after_s);
    } else {
      ++verified;
    }
  }
  EXPECT_EQ(verified, config_.login.pair_max_failures);
  EXPECT_GT(throttled, 0) << "the device's guesses were not delayed";
  bool alerted = false;
  for (const auto& e : audit_.events())
    alerted |= e.type == audit::Type::security_alert && e.reason.find("device") != std::string::npos;
  EXPECT_TRUE(alerted) << "no alert when the device was refused";
  // ... and none of this touched alice's ceiling: a full burst of guesses
  // from fresh addresses is still verified (wrong password, not 429).
  for (int i = 0; i < config_.login.account_burst; ++i) {
    auto r = auth_->login("alice", kWrong, "203.0.113." + std::to_string(100 + i));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Errc::unauthenticated) << "guess " << i << " refused: the device used the ceiling";
  }
}

TEST_F(HttpAuthDevice, ADeviceCookieGetsPastABlockedSource) {
  config_.login.source_max_failures = 3;
  auth_ = std::make_unique<HttpAuthenticator>(config_, accounts_, nullptr, clock_, audit_, &devices_);
  auto first = auth_->login("alice", kPassword, "10.0.0.5");
  ASSERT_TRUE(first.has_value());
  clock_.t += 6min;  // past the cache of verified passwords
  const std::string nat = "192.0.2.99";  // shared with a guesser who got it blocked
  for (const char* name : {"carol", "mallory", "eve"}) (void)auth_->login(name, kWrong, nat);
  auto blocked = auth_->login("alice", kPassword, nat);
  ASSERT_FALSE(blocked.has_value());
  EXPECT_EQ(blocked.error().code, Errc::rate_limited);
  auto with = auth_->login("alice", kPassword, nat, first->device_cookie);
  ASSERT_TRUE(with.has_value()) << with.error().message;
}

TEST_F(HttpAuthDevice, WithoutDeviceCookiesConfiguredNoCookieIsIssued) {
  HttpAuthenticator plain(config_, accounts_, nullptr, clock_, audit_);
  auto r = plain.login("alice", kPassword, "10.0.0.5");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->device_cookie.empty());
}

} // namespace
} // namespace tresor::security
