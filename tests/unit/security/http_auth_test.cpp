// HttpAuthenticator: Basic, API tokens, bearer JWTs, sessions with CSRF,
// throttling and audit. Every Argon2id verification costs ~0.2 s, so the
// tests keep their number small (account_max_failures = 3) and rely on the
// success cache where a repeated correct password is enough.
#include "security/http_auth.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "security/auth_crypto.h"
#include "security/passwords.h"
#include "test_support.h"

namespace tresor::security {
namespace {

using namespace std::chrono_literals;
using testing::MemoryAccounts;
using testing::TestClock;

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kIssuer = "https://idp.example.org";
const std::string kAudience = "tresor";
const std::string kPassword = "correct horse battery staple";
const std::string kWrong = "Tr0ub4dor&3-guess";
const std::string kSource = "10.1.2.3";

std::string std_base64(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string basic(const std::string& user, const std::string& password) {
  return "Basic " + std_base64(user + ":" + password);
}

Scope north() {
  Scope s;
  s.institutions = {"North Hospital"};
  return s;
}

class HttpAuth : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(init_crypto().has_value());
    auto h = hash_password(kPassword);  // one Argon2id hash for the whole suite
    ASSERT_TRUE(h.has_value());
    hash_ = *h;
    ec_ = testing::make_ec_key().release();
  }
  static void TearDownTestSuite() { EVP_PKEY_free(ec_); }

  void SetUp() override {
    // Small figures: every verification costs ~0.2 s of Argon2id.
    config_.login.pair_free_failures = 2;
    config_.login.pair_max_failures = 4;
    config_.login.pair_window_s = 900;
    config_.login.account_burst = 5;
    config_.login.account_guesses_per_minute = 1;
    config_.login.source_max_failures = 10;
    config_.login.source_window_s = 60;
    config_.login.source_block_s = 900;
    config_.http.session_idle_minutes = 30;
    config_.http.session_max_hours = 12;
    config_.http.token_max_days = 30;

    accounts_.put_user(User{"alice", hash_, {Role::clinician}, true, north()});
    accounts_.put_user(User{"bob", hash_, {Role::technologist}, false, std::nullopt});
    accounts_.put_user(User{"carol", hash_, {Role::admin}, true, std::nullopt});

    testing::write_jwks(dir_ / "jwks.json", {testing::jwk_of(ec_, "k1")});
    auto v = JwtVerifier::from_jwks_file(dir_ / "jwks.json", kIssuer, kAudience, {"ES256"});
    ASSERT_TRUE(v.has_value()) << v.error().message;
    jwt_ = std::move(*v);
    auth_ = std::make_unique<HttpAuthenticator>(config_, accounts_, jwt_.get(), clock_, audit_);
  }

  Result<Authenticated> with_header(const std::string& authorization, const std::string& source = kSource,
                                    bool state_changing = false) {
    HttpCredentials c;
    c.authorization = authorization;
    c.state_changing = state_changing;
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

  std::string jwt_for(const std::string& sub, nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json c = {{"sub", sub}, {"iss", kIssuer}, {"aud", kAudience}, {"exp", kNow + 300}};
    c.update(extra);
    return testing::make_token("ES256", ec_, c, "k1");
  }

  static void expect_unauthenticated(const Result<Authenticated>& r) {
    ASSERT_FALSE(r.has_value()) << "unexpectedly authenticated as " << r->principal.name;
    EXPECT_EQ(r.error().code, Errc::unauthenticated);
    EXPECT_EQ(r.error().message, "authentication required");
  }
  bool source_listed(const std::string& ip) const {
    for (const auto& b : auth_->blocked())
      if (!b.account && b.key == ip) return true;
    return false;
  }
  static void expect_csrf_refused(const Result<Authenticated>& r) {
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Errc::permission_denied);
    EXPECT_EQ(r.error().message, "CSRF token missing or wrong");
  }

  std::vector<audit::Event> events_of(audit::Type type) const {
    std::vector<audit::Event> out;
    for (const auto& e : audit_.events()) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }

  static std::string detail(const audit::Event& e, const std::string& key) {
    for (const auto& [k, v] : e.details) {
      if (k == key) return v;
    }
    return "<absent>";
  }

  // No audit field anywhere contains `secret`.
  void expect_not_in_audit(const std::string& secret) const {
    for (const auto& e : audit_.events()) {
      for (const std::string* f : {&e.actor, &e.user, &e.source, &e.patient_id, &e.study_uid, &e.series_uid, &e.sop_uid,
                                   &e.reason}) {
        EXPECT_EQ(f->find(secret), std::string::npos) << "secret found in audit field: " << *f;
      }
      for (const auto& [k, v] : e.details) {
        EXPECT_EQ(k.find(secret), std::string::npos);
        EXPECT_EQ(v.find(secret), std::string::npos);
      }
    }
  }

  testing::TempDir dir_;
  config::Config config_;
  MemoryAccounts accounts_;
  TestClock clock_{kNow};
  audit::MemorySink audit_;
  std::unique_ptr<JwtVerifier> jwt_;
  std::unique_ptr<HttpAuthenticator> auth_;
  static inline std::string hash_;
  static inline EVP_PKEY* ec_ = nullptr;
};

// --- Basic ---------------------------------------------------------------------

TEST_F(HttpAuth, BasicWithTheRightPasswordGivesTheUsersRolesAndScope) {
  auto r = with_header(basic("alice", kPassword));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->method, AuthMethod::basic);
  EXPECT_EQ(r->principal.kind, Principal::Kind::user);
  EXPECT_EQ(r->principal.name, "alice");
  EXPECT_EQ(r->principal.source, kSource);
  EXPECT_EQ(r->principal.operations, operations_for({Role::clinician}));
  EXPECT_EQ(r->principal.scope, north());
  EXPECT_TRUE(r->session_id.empty());
  // The scheme name is case-insensitive (RFC 7235); this one is a cache hit.
  auto lower = with_header("basic " + std_base64("alice:" + kPassword));
  ASSERT_TRUE(lower.has_value());
  EXPECT_EQ(lower->principal.name, "alice");
}

TEST_F(HttpAuth, BasicWithAWrongPasswordIsRefusedWithTheUniformMessage) {
  expect_unauthenticated(with_header(basic("alice", kWrong)));
  auto denied = events_of(audit::Type::association);
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(denied[0].outcome, audit::Outcome::denied);
  EXPECT_EQ(denied[0].actor, "alice");
  EXPECT_EQ(denied[0].source, kSource);
  EXPECT_EQ(denied[0].reason, "wrong password");
  EXPECT_EQ(detail(denied[0], "protocol"), "http");
  EXPECT_EQ(detail(denied[0], "method"), "basic");
  expect_not_in_audit(kWrong);
}

TEST_F(HttpAuth, UnknownUserGetsExactlyTheSameErrorAsAWrongPassword) {
  auto unknown = with_header(basic("mallory-" + kPassword, kPassword));
  auto wrong = with_header(basic("alice", kWrong), "10.1.2.4");  // another source: its first failure is audited in full
  ASSERT_FALSE(unknown.has_value());
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(unknown.error().code, wrong.error().code);
  EXPECT_EQ(unknown.error().message, wrong.error().message);
  // The unknown name is not recorded: it may be a mistyped password.
  auto denied = events_of(audit::Type::association);
  ASSERT_EQ(denied.size(), 2u);
  EXPECT_EQ(denied[0].actor, "");
  EXPECT_NE(denied[0].reason.find("unknown user"), std::string::npos);
  expect_not_in_audit("mallory");
  expect_not_in_audit(kPassword);
}

TEST_F(HttpAuth, DisabledUserIsRefusedEvenWithTheRightPassword) {
  expect_unauthenticated(with_header(basic("bob", kPassword)));
  auto denied = events_of(audit::Type::association);
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(denied[0].actor, "bob");
  EXPECT_EQ(denied[0].reason, "user is disabled");
}

TEST_F(HttpAuth, MalformedBasicCredentialsAreRefusedWithoutAnyPasswordCheck) {
  const std::string good = std_base64("alice:" + kPassword);
  std::string unpadded = good;
  while (unpadded.back() == '=') unpadded.pop_back();
  const std::vector<std::string> bad = {
      "Basic",                                         // no credentials
      "Basic " + std_base64("alice" + kPassword),      // no ':'
      "Basic " + unpadded + "A",                       // wrong length
      "Basic YWxpY2U6eA=!",                            // not base64
      "Basic YR==",                                    // non-zero trailing bits
      "Basic " + good.substr(0, 4) + " " + good.substr(4),  // embedded space
      "Basic " + std_base64(std::string(129, 'a') + ":" + kPassword),  // user name too long
      "Basic " + std_base64(":" + kPassword),          // empty user name
      "Basic " + std_base64("alice:"),                 // empty password
      "Digest username=\"alice\"",                     // unsupported scheme
      "Basic " + std::string(9000, 'A'),               // header too large
  };
  // One source each: the first failure of a source is audited in full (the rest in aggregate, audit/aggregate.h).
  for (std::size_t i = 0; i < bad.size(); ++i) expect_unauthenticated(with_header(bad[i], "10.9.0." + std::to_string(i)));
  for (const auto& e : events_of(audit::Type::association)) {
    EXPECT_EQ(e.outcome, audit::Outcome::denied);
    EXPECT_EQ(e.actor, "");
  }
  EXPECT_EQ(events_of(audit::Type::association).size(), bad.size());
}

TEST_F(HttpAuth, ARequestWithoutAnyCredentialIsRefusedButNotAuditedOrCounted) {
  for (int i = 0; i < 20; ++i) expect_unauthenticated(with_header(""));
  EXPECT_TRUE(audit_.events().empty());
  EXPECT_FALSE(source_listed(kSource));
}

TEST_F(HttpAuth, ForgetUserAfterAPasswordChangeRefusesTheOldPassword) {
  ASSERT_TRUE(with_header(basic("alice", kPassword)).has_value());  // now cached
  const std::string new_password = "a much better passphrase 42";
  auto h = hash_password(new_password);
  ASSERT_TRUE(h.has_value());
  User alice = accounts_.users.at("alice");
  alice.password_hash = *h;
  accounts_.put_user(alice);
  auth_->forget_user("alice");
  expect_unauthenticated(with_header(basic("alice", kPassword)));
  auto ok = with_header(basic("alice", new_password));
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->principal.name, "alice");
}

TEST_F(HttpAuth, CachedBasicVerificationStillFollowsTheCurrentUserRecord) {
  ASSERT_TRUE(with_header(basic("carol", kPassword)).has_value());
  // Role and scope changes apply at the next request, without forget_user.
  User carol = accounts_.users.at("carol");
  carol.roles = {Role::auditor};
  carol.scope = north();
  accounts_.put_user(carol);
  auto r = with_header(basic("carol", kPassword));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->principal.operations, std::set<Operation>{Operation::audit});
  EXPECT_EQ(r->principal.scope, north());
  // Disabling (e.g. from the CLI, a process that cannot call forget_user) too.
  carol.enabled = false;
  accounts_.put_user(carol);
  expect_unauthenticated(with_header(basic("carol", kPassword)));
}

TEST_F(HttpAuth, ConcurrentFirstRequestsWithTheSameCredentialsAllSucceedAndAWrongPasswordStillFails) {
  // The first verification runs once; the others wait for it and use the cache.
  std::atomic<int> ok{0}, denied{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      if (with_header(basic("carol", kPassword)).has_value()) ++ok;
    });
  threads.emplace_back([&] {
    if (!with_header(basic("carol", kWrong)).has_value()) ++denied;
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(denied.load(), 1);
  expect_unauthenticated(with_header(basic("carol", kWrong)));
}

TEST_F(HttpAuth, RepositoryFailureIsReportedAsUnavailableNotAsBadCredentials) {
  accounts_.fail_lookups = true;
  auto r = with_header(basic("alice", kPassword));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_FALSE(source_listed(kSource));
  expect_not_in_audit(kPassword);
}

// --- API tokens ---------------------------------------------------------------

TEST_F(HttpAuth, IssuedTokenAuthenticatesAsItsOwnerAndOnlyItsHashIsStored) {
  auto issued = auth_->issue_token("alice", "backup script", 24h);
  ASSERT_TRUE(issued.has_value()) << issued.error().message;
  const std::string& secret = issued->secret;
  ASSERT_EQ(secret.size(), 4u + 43u);
  EXPECT_TRUE(secret.starts_with("tsr_"));
  EXPECT_TRUE(detail::is_base64url(secret.substr(4)));
  EXPECT_TRUE(issued->token.id.starts_with("tok_"));
  EXPECT_EQ(issued->token.id.size(), 4u + 16u);
  EXPECT_EQ(issued->token.id.find_first_not_of("0123456789abcdef", 4), std::string::npos);
  EXPECT_EQ(issued->token.username, "alice");
  EXPECT_EQ(issued->token.name, "backup script");
  EXPECT_EQ(issued->token.created, clock_.t);
  EXPECT_EQ(issued->token.expires, clock_.t + 24h);

  ASSERT_EQ(accounts_.tokens.size(), 1u);
  const ApiToken& stored = accounts_.tokens.begin()->second;
  EXPECT_EQ(stored.secret_sha256, detail::sha256_hex(secret));
  EXPECT_EQ(stored.secret_sha256.find(secret.substr(4)), std::string::npos);

  auto r = with_header("Bearer " + secret);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->method, AuthMethod::api_token);
  EXPECT_EQ(r->principal.name, "alice");
  EXPECT_EQ(r->principal.operations, operations_for({Role::clinician}));
  EXPECT_EQ(r->principal.scope, north());
  // Two tokens never share a secret or an id.
  auto second = auth_->issue_token("alice", "another", 24h);
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(second->secret, secret);
  EXPECT_NE(second->token.id, issued->token.id);
}

TEST_F(HttpAuth, TokenLifetimeIsCappedAtTokenMaxDays) {
  auto issued = auth_->issue_token("alice", "long", std::chrono::days(1000));
  ASSERT_TRUE(issued.has_value());
  EXPECT_EQ(issued->token.expires, clock_.t + std::chrono::days(30));
}

TEST_F(HttpAuth, RevokedTokenIsRefused) {
  auto issued = auth_->issue_token("alice", "ci", 24h);
  ASSERT_TRUE(issued.has_value());
  ASSERT_TRUE(with_header("Bearer " + issued->secret).has_value());
  ASSERT_TRUE(*accounts_.revoke_token(issued->token.id));
  expect_unauthenticated(with_header("Bearer " + issued->secret));
  auto denied = events_of(audit::Type::association);
  ASSERT_FALSE(denied.empty());
  EXPECT_NE(denied.back().reason.find("revoked"), std::string::npos);
  EXPECT_EQ(detail(denied.back(), "method"), "api_token");
  expect_not_in_audit(issued->secret.substr(4));
}

TEST_F(HttpAuth, ExpiredTokenIsRefused) {
  auto issued = auth_->issue_token("alice", "ci", 1h);
  ASSERT_TRUE(issued.has_value());
  clock_.t += 59min;
  ASSERT_TRUE(with_header("Bearer " + issued->secret).has_value());
  clock_.t += 1min;
  expect_unauthenticated(with_header("Bearer " + issued->secret));
  EXPECT_NE(events_of(audit::Type::association).back().reason.find("expired"), std::string::npos);
}

TEST_F(HttpAuth, TokenOfADisabledOrRemovedOwnerIsRefused) {
  auto issued = auth_->issue_token("alice", "ci", 24h);
  ASSERT_TRUE(issued.has_value());
  User alice = accounts_.users.at("alice");
  alice.enabled = false;
  accounts_.put_user(alice);
  expect_unauthenticated(with_header("Bearer " + issued->secret));
  accounts_.remove_user("alice");
  expect_unauthenticated(with_header("Bearer " + issued->secret));
  alice.enabled = true;
  accounts_.put_user(alice);
  EXPECT_TRUE(with_header("Bearer " + issued->secret).has_value());
}

TEST_F(HttpAuth, MalformedOrUnknownTokensAreRefused) {
  auto issued = auth_->issue_token("alice", "ci", 24h);
  ASSERT_TRUE(issued.has_value());
  std::string altered = issued->secret;
  altered[10] = altered[10] == 'A' ? 'B' : 'A';
  expect_unauthenticated(with_header("Bearer " + altered));                          // unknown
  expect_unauthenticated(with_header("Bearer tsr_short"));                           // wrong length
  expect_unauthenticated(with_header("Bearer " + issued->secret + "A"));             // too long
  expect_unauthenticated(with_header("Bearer tsr_" + std::string(42, 'A') + "+"));   // not base64url
  expect_unauthenticated(with_header("Bearer"));                                     // nothing
}

TEST_F(HttpAuth, IssueTokenRefusesBadOwnersNamesAndLifetimes) {
  EXPECT_EQ(auth_->issue_token("mallory", "x", 1h).error().code, Errc::not_found);
  EXPECT_EQ(auth_->issue_token("bob", "x", 1h).error().code, Errc::not_found);  // disabled
  EXPECT_EQ(auth_->issue_token("alice", "", 1h).error().code, Errc::invalid_argument);
  EXPECT_EQ(auth_->issue_token("alice", std::string(129, 'n'), 1h).error().code, Errc::invalid_argument);
  EXPECT_EQ(auth_->issue_token("alice", "line\nbreak", 1h).error().code, Errc::invalid_argument);
  EXPECT_EQ(auth_->issue_token("alice", "x", 0s).error().code, Errc::invalid_argument);
  EXPECT_EQ(auth_->issue_token("alice", "x", -5s).error().code, Errc::invalid_argument);
  EXPECT_TRUE(accounts_.tokens.empty());
}

// --- Bearer JWT ------------------------------------------------------------------

TEST_F(HttpAuth, ValidJwtActsAsTheLocalUserAndItsRolesClaimIsIgnored) {
  const std::string token = jwt_for("alice", {{"roles", {"admin"}}});
  auto claims = jwt_->verify(token, clock_.t);  // the token really claims admin
  ASSERT_TRUE(claims.has_value());
  ASSERT_EQ(claims->roles, std::vector<std::string>{"admin"});
  auto r = with_header("Bearer " + token);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->method, AuthMethod::bearer_jwt);
  EXPECT_EQ(r->principal.name, "alice");
  EXPECT_EQ(r->principal.operations, operations_for({Role::clinician}));
  EXPECT_FALSE(r->principal.may(Operation::admin));
  EXPECT_EQ(r->principal.scope, north());
}

TEST_F(HttpAuth, JwtWithAlgNoneIsRefused) {
  nlohmann::json claims = {{"sub", "alice"}, {"iss", kIssuer}, {"aud", kAudience}, {"exp", kNow + 300}};
  const std::string unsigned_token =
      testing::b64url(R"({"alg":"none","typ":"JWT"})") + "." + testing::b64url(claims.dump()) + ".";
  expect_unauthenticated(with_header("Bearer " + unsigned_token));
  expect_unauthenticated(with_header("Bearer " + testing::hs256_token("guessable", claims)));
  expect_not_in_audit(unsigned_token);
}

TEST_F(HttpAuth, JwtForAnUnknownOrDisabledSubjectIsRefused) {
  expect_unauthenticated(with_header("Bearer " + jwt_for("mallory")));
  EXPECT_EQ(events_of(audit::Type::association).back().reason, "JWT subject is not a user");
  expect_unauthenticated(with_header("Bearer " + jwt_for("bob"), "10.1.2.4"));  // another source: audited in full
  EXPECT_EQ(events_of(audit::Type::association).back().reason, "user is disabled");
}

TEST_F(HttpAuth, ExpiredJwtIsRefused) {
  expect_unauthenticated(with_header("Bearer " + jwt_for("alice", {{"exp", kNow - 3600}})));
}

TEST_F(HttpAuth, BearerJwtIsRefusedWhenOidcIsNotConfigured) {
  HttpAuthenticator no_oidc(config_, accounts_, nullptr, clock_, audit_);
  HttpCredentials c;
  const std::string header = "Bearer " + jwt_for("alice");
  c.authorization = header;
  c.source_ip = kSource;
  expect_unauthenticated(no_oidc.authenticate(c));
}

// --- Sessions --------------------------------------------------------------------

TEST_F(HttpAuth, LoginReturnsFreshRandomSessionAndCsrfTokens) {
  auto a = auth_->login("alice", kPassword, kSource);
  ASSERT_TRUE(a.has_value()) << a.error().message;
  auto b = auth_->login("alice", kPassword, kSource);  // cache hit
  ASSERT_TRUE(b.has_value());
  for (const auto* s : {&a->session_id, &a->csrf_token, &b->session_id, &b->csrf_token}) {
    EXPECT_EQ(s->size(), 43u);
    EXPECT_TRUE(detail::is_base64url(*s));
  }
  EXPECT_NE(a->session_id, a->csrf_token);
  EXPECT_NE(a->session_id, b->session_id);
  EXPECT_NE(a->csrf_token, b->csrf_token);
  EXPECT_EQ(a->max_age, std::chrono::seconds(12 * 3600));
  EXPECT_EQ(a->principal.name, "alice");
  EXPECT_EQ(a->principal.operations, operations_for({Role::clinician}));

  auto r = with_cookie(a->session_id);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->method, AuthMethod::session);
  EXPECT_EQ(r->session_id, a->session_id);
  EXPECT_EQ(r->principal.name, "alice");
  EXPECT_EQ(r->principal.scope, north());

  auto logins = events_of(audit::Type::authentication);  // PS3.15 User Authentication
  ASSERT_EQ(logins.size(), 2u);
  EXPECT_EQ(logins[0].reason, "login");
  EXPECT_EQ(logins[0].outcome, audit::Outcome::success);
  EXPECT_EQ(logins[0].actor, "alice");
  EXPECT_EQ(detail(logins[0], "protocol"), "http");
  EXPECT_EQ(detail(logins[0], "method"), "password");
  expect_not_in_audit(a->session_id);
  expect_not_in_audit(a->csrf_token);
  expect_not_in_audit(kPassword);
}

TEST_F(HttpAuth, LoginWithAWrongPasswordIsRefusedAndAudited) {
  auto r = auth_->login("alice", kWrong, kSource);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::unauthenticated);
  EXPECT_EQ(r.error().message, "authentication required");
  auto denied = events_of(audit::Type::association);
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(denied[0].outcome, audit::Outcome::denied);
  EXPECT_EQ(detail(denied[0], "method"), "password");
  expect_not_in_audit(kWrong);
}

TEST_F(HttpAuth, StateChangingSessionRequestsNeedTheRightCsrfToken) {
  auto s = auth_->login("alice", kPassword, kSource);
  ASSERT_TRUE(s.has_value());
  expect_csrf_refused(with_cookie(s->session_id, true));
  std::string wrong = s->csrf_token;
  wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
  expect_csrf_refused(with_cookie(s->session_id, true, wrong));
  expect_csrf_refused(with_cookie(s->session_id, true, s->csrf_token.substr(1)));
  auto other = auth_->login("alice", kPassword, kSource);  // another session's token does not fit
  ASSERT_TRUE(other.has_value());
  expect_csrf_refused(with_cookie(s->session_id, true, other->csrf_token));
  auto ok = with_cookie(s->session_id, true, s->csrf_token);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->principal.name, "alice");
  // Safe methods need none; Basic is not ambient and needs none either.
  EXPECT_TRUE(with_cookie(s->session_id, false).has_value());
  EXPECT_TRUE(with_header(basic("alice", kPassword), kSource, true).has_value());
  expect_not_in_audit(s->csrf_token);
}

TEST_F(HttpAuth, LogoutEndsTheSession) {
  auto s = auth_->login("alice", kPassword, kSource);
  ASSERT_TRUE(s.has_value());
  ASSERT_TRUE(with_cookie(s->session_id).has_value());
  auth_->logout(s->session_id);
  expect_unauthenticated(with_cookie(s->session_id));
  auth_->logout(s->session_id);  // twice is harmless
  auth_->logout("not a session id");
  auto events = events_of(audit::Type::authentication);
  ASSERT_EQ(events.size(), 2u);  // the login and ONE logout
  EXPECT_EQ(events[1].reason, "logout");
  EXPECT_EQ(events[1].actor, "alice");
}

TEST_F(HttpAuth, SessionExpiresAfterTheIdleTimeButActivityKeepsItAlive) {
  auto s = auth_->login("alice", kPassword, kSource);
  ASSERT_TRUE(s.has_value());
  clock_.t += 29min;
  ASSERT_TRUE(with_cookie(s->session_id).has_value());
  clock_.t += 29min;
  ASSERT_TRUE(with_cookie(s->session_id).has_value());
  clock_.t += 30min;
  expect_unauthenticated(with_cookie(s->session_id));
  clock_.t -= 30min;  // the session is gone, not merely out of date
  expect_unauthenticated(with_cookie(s->session_id));
}

TEST_F(HttpAuth, SessionEndsAtItsAbsoluteLifetimeDespiteActivity) {
  auto s = auth_->login("alice", kPassword, kSource);
  ASSERT_TRUE(s.has_value());
  const auto login_time = clock_.t;
  while (clock_.t + 20min < login_time + 12h) {
    clock_.t += 20min;
    ASSERT_TRUE(with_cookie(s->session_id).has_value()) << "at " << (clock_.t - login_time) / 1min << " min";
  }
  clock_.t = login_time + 12h;
  expect_unauthenticated(with_cookie(s->session_id));
}

TEST_F(HttpAuth, SessionOfAUserWhoIsDisabledEndsForGood) {
  auto s = auth_->login("alice", kPassword, kSource);
  ASSERT_TRUE(s.has_value());
  User alice = accounts_.users.at("alice");
  alice.enabled = false;
  accounts_.put_user(alice);
  expect_unauthenticated(with_cookie(s->session_id));
  alice.enabled = true;
  accounts_.put_user(alice);
  expect_unauthenticated(with_cookie(s->session_id));
}

TEST_F(HttpAuth, ForgetUserEndsEverySessionOfThatUserOnly) {
  auto a1 = auth_->login("alice", kPassword, kSource);
  auto a2 = auth_->login("alice", kPassword, "10.1.2.4");
  auto c = auth_->login("carol", kPassword, kSource);
  ASSERT_TRUE(a1 && a2 && c);
  auth_->forget_user("alice");
  expect_unauthenticated(with_cookie(a1->session_id));
  expect_unauthenticated(with_cookie(a2->session_id));
  EXPECT_TRUE(with_cookie(c->session_id).has_value());
}

TEST_F(HttpAuth, SessionRolesFollowTheUserRecord) {
  auto s = auth_->login("carol", kPassword, kSource);
  ASSERT_TRUE(s.has_value());
  User carol = accounts_.users.at("carol");
  carol.roles = {Role::technologist};
  accounts_.put_user(carol);
  auto r = with_cookie(s->session_id);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->principal.operations, operations_for({Role::technologist}));
}

TEST_F(HttpAuth, MalformedAndUnknownSessionCookiesAreRefused) {
  expect_unauthenticated(with_cookie("short"));
  expect_unauthenticated(with_cookie(std::string(43, '*')));
  expect_unauthenticated(with_cookie(std::string(43, 'A')));  // well-formed, not a session
}

TEST_F(HttpAuth, StaleSessionCookiesDoNotBlockTheSource) {
  // After a restart every open browser tab sends a cookie nobody knows.
  for (int i = 0; i < 3 * config_.login.source_max_failures; ++i) {
    expect_unauthenticated(with_cookie(std::string(43, 'A')));
  }
  EXPECT_FALSE(source_listed(kSource));
  EXPECT_TRUE(events_of(audit::Type::security_alert).empty());
}

TEST_F(HttpAuth, TheAuthorizationHeaderWinsOverTheSessionCookie) {
  auto s = auth_->login("alice", kPassword, kSource);
  ASSERT_TRUE(s.has_value());
  auto token = auth_->issue_token("carol", "ci", 1h);
  ASSERT_TRUE(token.has_value());
  HttpCredentials c;
  c.session_cookie = s->session_id;
  c.source_ip = kSource;
  const std::string header = "Bearer " + token->secret;
  c.authorization = header;
  auto r = auth_->authenticate(c);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->principal.name, "carol");
  EXPECT_EQ(r->method, AuthMethod::api_token);
  // A bad header is not rescued by a good cookie.
  const std::string bad = "Bearer tsr_" + std::string(43, 'A');
  c.authorization = bad;
  expect_unauthenticated(auth_->authenticate(c));
}

// --- Throttling: see http_auth_throttle_test.cpp ---------------------------------

// --- Concurrency -------------------------------------------------------------------

TEST_F(HttpAuth, ConcurrentSessionsAndTokensAreSafe) {
  auto s = auth_->login("alice", kPassword, kSource);
  auto t = auth_->issue_token("carol", "ci", 1h);
  ASSERT_TRUE(s && t);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 200; ++k) {
        if (i % 2 == 0) {
          if (with_cookie(s->session_id, true, s->csrf_token)) ++ok;
        } else {
          const std::string header = "Bearer " + t->secret;
          if (with_header(header)) ++ok;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 800);
}

// A password changed by another process (the CLI writes the index) ends the
// sessions opened with the old one at their next request.
TEST_F(HttpAuth, APasswordChangeEndsTheSessionsOpenedWithTheOldOne) {
  auto s = auth_->login("alice", kPassword, kSource);
  ASSERT_TRUE(s.has_value());
  ASSERT_TRUE(with_cookie(s->session_id).has_value());
  auto other = hash_password("another correct horse battery");
  ASSERT_TRUE(other.has_value());
  accounts_.put_user(User{"alice", *other, {Role::clinician}, true, north()});
  expect_unauthenticated(with_cookie(s->session_id));
  EXPECT_EQ(events_of(audit::Type::association).back().reason, "password changed since login; session ended");
}

// A flood of failed requests from one source writes O(windows) audit lines,
// and the summary carries the count.
TEST_F(HttpAuth, FailedAuthenticationsAreAuditedInAggregatePerSource) {
  const std::size_t before = events_of(audit::Type::association).size();
  for (int i = 0; i < 10000; ++i) {
    char secret[48];
    std::snprintf(secret, sizeof secret, "tsr_%043d", i);
    expect_unauthenticated(with_header(std::string("Bearer ") + secret, "10.7.7.7"));
  }
  auth_.reset();  // flushes the open window
  auto events = events_of(audit::Type::association);
  ASSERT_EQ(events.size() - before, 2u);
  EXPECT_EQ(events[before].reason, "unknown API token");
  EXPECT_EQ(events[before + 1].source, "10.7.7.7");
  bool counted = false;
  for (const auto& [k, v] : events[before + 1].details) counted = counted || (k == "count" && v == "9999");
  EXPECT_TRUE(counted);
}

// A JWT says when it ends: a token it may create is bounded by that (api.cpp).
TEST_F(HttpAuth, AJwtCarriesItsExpiryForTheTokenItMayCreate) {
  auto who = with_header("Bearer " + jwt_for("alice"));
  ASSERT_TRUE(who.has_value());
  ASSERT_TRUE(who->expires.has_value());
  EXPECT_EQ(*who->expires, std::chrono::system_clock::time_point(std::chrono::seconds(kNow + 300)));
  auto basic_who = with_header(basic("alice", kPassword));
  ASSERT_TRUE(basic_who.has_value());
  EXPECT_FALSE(basic_who->expires.has_value());
}

} // namespace
} // namespace tresor::security
