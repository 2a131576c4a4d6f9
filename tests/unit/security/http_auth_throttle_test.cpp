// HttpAuthenticator throttling (issue 11): no hard account lock; per
// (account, address) delays then refusal, a per-account ceiling that spares
// known-good addresses, 429 + Retry-After, a source block that spares
// sessions, tokens and known-good logins, one throttle shared with DIMSE.
// Every Argon2id verification costs ~0.2 s: the figures are kept small.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "security/http_auth.h"
#include "security/passwords.h"
#include "security/policy.h"
#include "test_support.h"

namespace tresor::security {
namespace {

using namespace std::chrono_literals;
using testing::MemoryAccounts;
using testing::TestClock;

const std::string kPassword = "correct horse battery staple";
const std::string kWrong = "Tr0ub4dor&3-guess";
const std::string kSource = "10.1.2.3";

std::string basic(const std::string& user, const std::string& password) {
  const std::string raw = user + ":" + password;
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<std::size_t>(n));
  return "Basic " + out;
}

class HttpAuthThrottle : public ::testing::Test {
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
    config_.login.pair_window_s = 900;
    config_.login.account_burst = 5;
    config_.login.account_guesses_per_minute = 1;
    config_.login.source_max_failures = 10;
    config_.login.source_window_s = 60;
    config_.login.source_block_s = 900;
    accounts_.put_user(User{"alice", hash_, {Role::clinician}, true, std::nullopt});
    accounts_.put_user(User{"carol", hash_, {Role::admin}, true, std::nullopt});
    auth_ = std::make_unique<HttpAuthenticator>(config_, accounts_, nullptr, clock_, audit_);
  }

  Result<Authenticated> with_header(const std::string& authorization, const std::string& source = kSource) {
    HttpCredentials c;
    c.authorization = authorization;
    c.source_ip = source;
    return auth_->authenticate(c);
  }
  Result<Authenticated> with_cookie(const std::string& cookie, bool state_changing = false,
                                    const std::string& csrf = "", const std::string& source = kSource) {
    HttpCredentials c;
    c.session_cookie = cookie;
    c.csrf_token = csrf;
    c.state_changing = state_changing;
    c.source_ip = source;
    return auth_->authenticate(c);
  }
  static void expect_unauthenticated(const Result<Authenticated>& r) {
    ASSERT_FALSE(r.has_value()) << "unexpectedly authenticated as " << r->principal.name;
    EXPECT_EQ(r.error().code, Errc::unauthenticated);
    EXPECT_EQ(r.error().message, "authentication required");
  }
  static void expect_throttled(const Result<Authenticated>& r) {
    ASSERT_FALSE(r.has_value()) << "unexpectedly authenticated as " << r->principal.name;
    EXPECT_EQ(r.error().code, Errc::rate_limited);
    EXPECT_EQ(r.error().message, "too many password attempts; retry later");
    EXPECT_GE(r.error().retry_after_s, 1);
  }
  bool source_listed(const std::string& ip) const {
    for (const auto& b : auth_->blocked())
      if (!b.account && b.key == ip) return true;
    return false;
  }
  std::vector<audit::Event> events_of(audit::Type type) const {
    std::vector<audit::Event> out;
    for (const auto& e : audit_.events())
      if (e.type == type) out.push_back(e);
    return out;
  }
  void expect_not_in_audit(const std::string& secret) const {
    for (const auto& e : audit_.events()) {
      EXPECT_EQ(e.reason.find(secret), std::string::npos) << e.reason;
      EXPECT_EQ(e.actor.find(secret), std::string::npos) << e.actor;
      for (const auto& [k, v] : e.details) EXPECT_EQ(v.find(secret), std::string::npos) << k;
    }
  }

  config::Config config_;
  MemoryAccounts accounts_;
  TestClock clock_{1'800'000'000};
  audit::MemorySink audit_;
  std::unique_ptr<HttpAuthenticator> auth_;
  static inline std::string hash_;
};

TEST_F(HttpAuthThrottle, WrongPasswordsFromOneAddressAreDelayedThenRefusedWith429AndRetryAfter) {
  // pair_free_failures = 2: two verified wrong passwords, then a wait.
  for (int i = 0; i < 2; ++i) expect_unauthenticated(with_header(basic("alice", kWrong)));
  auto throttled = with_header(basic("alice", kPassword));  // even the right one: not verified now
  expect_throttled(throttled);
  EXPECT_EQ(throttled.error().retry_after_s, 1);
  // The owner waits as told and gets in.
  clock_.t += 1s;
  auto ok = with_header(basic("alice", kPassword));
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  // pair_max_failures (4) within the window: refused for the rest of it, with
  // a security alert; other accounts from the same address are unaffected.
  for (int i = 0; i < 2; ++i) {
    expect_unauthenticated(with_header(basic("carol", kWrong), "203.0.113.9"));
  }
  clock_.t += 1s;
  expect_unauthenticated(with_header(basic("carol", kWrong), "203.0.113.9"));
  clock_.t += 2s;
  expect_unauthenticated(with_header(basic("carol", kWrong), "203.0.113.9"));
  auto alerts = events_of(audit::Type::security_alert);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].actor, "carol");
  EXPECT_EQ(alerts[0].source, "203.0.113.9");
  clock_.t += 10min;
  auto refused = auth_->login("carol", kPassword, "203.0.113.9");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, Errc::rate_limited);
  EXPECT_GT(refused.error().retry_after_s, 200);  // until the first failure leaves the 900 s window
  EXPECT_LE(refused.error().retry_after_s, 300);
  EXPECT_TRUE(auth_->login("alice", kPassword, "203.0.113.9").has_value());
  expect_not_in_audit(kWrong);
  expect_not_in_audit(kPassword);
}

TEST_F(HttpAuthThrottle, AGuesserCannotLockTheOwnerOut) {
  // carol logged in from 10.0.0.5 before; then a guesser (many addresses)
  // exhausts carol's ceiling. The right password from 10.0.0.5 still works
  // at once, by login and by Basic; from a new address it is 429.
  ASSERT_TRUE(auth_->login("carol", kPassword, "10.0.0.5").has_value());
  int verified = 0, throttled = 0;
  for (int i = 0; i < 40; ++i) {
    auto r = auth_->login("carol", kWrong + std::to_string(i), "203.0.113." + std::to_string(i));
    ASSERT_FALSE(r.has_value());
    if (r.error().code == Errc::rate_limited) ++throttled;
    else ++verified;
  }
  // carol's own login took one token of the burst.
  EXPECT_EQ(verified, config_.login.account_burst - 1);
  EXPECT_EQ(throttled, 40 - verified);
  auto owner = auth_->login("carol", kPassword, "10.0.0.5");
  ASSERT_TRUE(owner.has_value()) << owner.error().message;
  clock_.t += 6min;  // past the Basic cache: a real verification
  auto basic_owner = with_header(basic("carol", kPassword), "10.0.0.5");
  ASSERT_TRUE(basic_owner.has_value()) << basic_owner.error().message;
  for (int i = 0; i < 6; ++i) (void)auth_->login("carol", kWrong, "198.51.100." + std::to_string(i));
  expect_throttled(with_header(basic("carol", kWrong), "192.0.2.77"));
  // The admin page lists carol as throttled (at her ceiling).
  bool listed = false;
  for (const auto& b : auth_->blocked()) listed |= b.account && b.key == "carol" && b.source.empty();
  EXPECT_TRUE(listed);
}

TEST_F(HttpAuthThrottle, ThrottlingOfAnUnknownNameLooksLikeThatOfAKnownOne) {
  std::vector<Errc> known, unknown;
  for (int i = 0; i < 4; ++i) {
    auto k = auth_->login("alice", kWrong, kSource);
    auto u = auth_->login("mallory", kWrong, kSource);
    known.push_back(k.error().code);
    unknown.push_back(u.error().code);
  }
  EXPECT_EQ(known, unknown);
  EXPECT_EQ(known.back(), Errc::rate_limited);
  expect_not_in_audit("mallory");
}

TEST_F(HttpAuthThrottle, ABlockedSourceKeepsItsTokensSessionsAndKnownGoodLoginsButNotItsGuesses) {
  const std::string nat = "203.0.113.9";
  auto session = auth_->login("alice", kPassword, nat);  // alice is known good at the NAT
  ASSERT_TRUE(session.has_value());
  auto token = auth_->issue_token("alice", "ci", 24h);
  ASSERT_TRUE(token.has_value());
  for (int i = 0; i < 9; ++i) expect_unauthenticated(with_header("Bearer tsr_" + std::string(43, 'A'), nat));
  EXPECT_FALSE(source_listed(nat));
  expect_unauthenticated(with_header("Negotiate abc", nat));
  EXPECT_TRUE(source_listed(nat));
  EXPECT_FALSE(auth_->source_blocked(nat)) << "the HTTPS server must not close the NAT's connections";
  auto alerts = events_of(audit::Type::security_alert);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].source, nat);
  EXPECT_NE(alerts[0].reason.find("blocked"), std::string::npos);

  EXPECT_TRUE(with_header("Bearer " + token->secret, nat).has_value());
  EXPECT_TRUE(with_cookie(session->session_id, false, "", nat).has_value());
  EXPECT_TRUE(auth_->login("alice", kPassword, nat).has_value());
  auto guess = auth_->login("carol", kPassword, nat);  // carol never logged in from there
  ASSERT_FALSE(guess.has_value());
  EXPECT_EQ(guess.error().code, Errc::rate_limited);
  EXPECT_GE(guess.error().retry_after_s, 899);
  EXPECT_TRUE(auth_->login("carol", kPassword, kSource).has_value());  // others are fine

  clock_.t += 901s;
  EXPECT_FALSE(source_listed(nat));
  EXPECT_TRUE(auth_->login("carol", kPassword, nat).has_value());
  expect_not_in_audit(token->secret.substr(4));
}

TEST_F(HttpAuthThrottle, WrongPasswordsCountAgainstTheSourceToo) {
  config_.login.source_max_failures = 2;
  HttpAuthenticator strict(config_, accounts_, nullptr, clock_, audit_);
  EXPECT_FALSE(strict.login("alice", kWrong, kSource).has_value());
  EXPECT_FALSE(strict.login("carol", kWrong, kSource).has_value());
  auto r = strict.login("carol", kPassword, kSource);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::rate_limited);
}

TEST_F(HttpAuthThrottle, AThrottleSharedWithDimseRefusesTheAccountOnBothProtocols) {
  LoginThrottle shared(config_.login);
  HttpAuthenticator http(config_, accounts_, nullptr, clock_, audit_, shared);
  FailureTracker dimse_failures(1000, 60s, 60s);
  config_.dimse.ae_title = "TRESOR";
  AssociationPolicy dimse(config_, accounts_, nullptr, dimse_failures, clock_, &shared);
  Peer ws;
  ws.ae_title = "WS";
  ws.hosts = {"10.9.9.9"};
  ws.operations = {Operation::echo};
  ws.require_user_identity = true;
  accounts_.put_peer(ws);
  AssociationRequest rq;
  rq.calling_ae = "WS";
  rq.called_ae = "TRESOR";
  rq.source_ip = "10.9.9.9";
  rq.identity = UserIdentity{2, "carol", kPassword};

  // Guesses over HTTP from many addresses exhaust carol's ceiling ...
  for (int i = 0; i < config_.login.account_burst; ++i)
    EXPECT_FALSE(http.login("carol", kWrong, "203.0.113." + std::to_string(i)).has_value());
  // ... and the right passcode over DIMSE, from an address carol never used, is refused.
  auto refused = dimse.decide(rq);
  EXPECT_FALSE(refused.accepted);
  EXPECT_NE(refused.reason.find("throttle"), std::string::npos) << refused.reason;
  // A DIMSE success from a pair makes it known good for HTTP too.
  clock_.t += 1min;
  auto accepted = dimse.decide(rq);
  ASSERT_TRUE(accepted.accepted) << accepted.reason;
  for (int i = 0; i < config_.login.account_burst; ++i)
    EXPECT_FALSE(http.login("carol", kWrong, "198.51.100." + std::to_string(i)).has_value());
  EXPECT_TRUE(http.login("carol", kPassword, "10.9.9.9").has_value());
  EXPECT_TRUE(dimse.decide(rq).accepted) << "known-good DIMSE pair refused";
}

TEST_F(HttpAuthThrottle, ADimseIdentityStoppedByTheAccountCeilingIsAuditedAsAnAlertLikeHttp) {
  LoginThrottle shared(config_.login);
  HttpAuthenticator http(config_, accounts_, nullptr, clock_, audit_, shared);
  FailureTracker dimse_failures(1000, 60s, 60s);
  config_.dimse.ae_title = "TRESOR";
  AssociationPolicy dimse(config_, accounts_, nullptr, dimse_failures, clock_, &shared);
  Peer ws;
  ws.ae_title = "WS";
  ws.hosts = {"10.9.9.9"};
  ws.operations = {Operation::echo};
  ws.require_user_identity = true;
  accounts_.put_peer(ws);
  AssociationRequest rq;
  rq.calling_ae = "WS";
  rq.called_ae = "TRESOR";
  rq.source_ip = "10.9.9.9";
  rq.identity = UserIdentity{2, "carol", kWrong};
  for (int i = 0; i < config_.login.account_burst; ++i)
    EXPECT_FALSE(http.login("carol", kWrong, "203.0.113." + std::to_string(i)).has_value());
  // The first DIMSE refusal by the ceiling carries the alert (net/ audits it
  // as a security_alert), naming the account; the next ones in 15 min do not.
  const Decision first = dimse.decide(rq);
  EXPECT_FALSE(first.accepted);
  EXPECT_NE(first.alert.find("ceiling"), std::string::npos) << first.alert;
  EXPECT_NE(first.alert.find("carol"), std::string::npos) << first.alert;
  const Decision second = dimse.decide(rq);
  EXPECT_FALSE(second.accepted);
  EXPECT_TRUE(second.alert.empty()) << second.alert;
  // An unknown name is not recorded (it may be a mistyped passcode).
  rq.identity = UserIdentity{2, "nobody", kWrong};
  for (int i = 0; i < config_.login.account_burst; ++i)
    EXPECT_FALSE(http.login("nobody", kWrong, "198.51.100." + std::to_string(i)).has_value());
  const Decision unknown = dimse.decide(rq);
  EXPECT_FALSE(unknown.alert.empty());
  EXPECT_EQ(unknown.alert.find("nobody"), std::string::npos) << unknown.alert;
}

TEST_F(HttpAuthThrottle, AFloodThatFillsTheSharedVerifierCannotStarveKnownGoodLoginsOrDimse) {
  ASSERT_TRUE(auth_->login("carol", kPassword, "10.0.0.5").has_value());  // known good from now on
  clock_.t += 6min;                                                        // past the Basic cache
  // The flood holds every shared Argon2id slot.
  auto a = verification_slots().acquire(VerifySlots::Lane::shared);
  auto b = verification_slots().acquire(VerifySlots::Lane::shared);
  ASSERT_TRUE(a && b);
  // A guess from an address that is not known good: refused after a short
  // bounded wait (503 + Retry-After), not queued without end.
  const auto start = std::chrono::steady_clock::now();
  auto busy = auth_->login("alice", kPassword, "203.0.113.9");
  ASSERT_FALSE(busy.has_value());
  EXPECT_EQ(busy.error().code, Errc::unavailable);
  EXPECT_EQ(busy.error().retry_after_s, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  // The owner's known-good login and a DIMSE passcode get the reserved slot.
  auto owner = auth_->login("carol", kPassword, "10.0.0.5");
  ASSERT_TRUE(owner.has_value()) << owner.error().message;
  config_.dimse.ae_title = "TRESOR";
  FailureTracker dimse_failures(1000, 60s, 60s);
  AssociationPolicy dimse(config_, accounts_, nullptr, dimse_failures, clock_);
  Peer ws;
  ws.ae_title = "WS";
  ws.hosts = {"10.9.9.9"};
  ws.operations = {Operation::echo};
  ws.require_user_identity = true;
  accounts_.put_peer(ws);
  AssociationRequest rq;
  rq.calling_ae = "WS";
  rq.called_ae = "TRESOR";
  rq.source_ip = "10.9.9.9";
  rq.identity = UserIdentity{2, "alice", kPassword};
  auto d = dimse.decide(rq);
  EXPECT_TRUE(d.accepted) << d.reason;
  // The guess refused as busy was not charged to its pair.
  a.reset();
  b.reset();
  EXPECT_TRUE(auth_->login("alice", kPassword, "203.0.113.9").has_value());
}

} // namespace
} // namespace tresor::security
