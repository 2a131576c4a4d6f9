// Authentication of HTTP requests: passwords (login form, HTTP Basic),
// session cookies with CSRF tokens, personal API tokens, and OIDC bearer
// JWTs. Protocol-neutral (no HTTP library types): http/ extracts the header
// values and calls authenticate().
//
// Contract:
//  - authenticate() accepts exactly one credential: "Authorization: Basic",
//    "Authorization: Bearer <api token>" (secrets start with "tsr_"),
//    "Authorization: Bearer <JWT>" (only when [oidc] is configured; the
//    token's `sub` must be a known, enabled user, whose roles and scope then
//    apply), or the session cookie. Anything else, a disabled or unknown
//    user, a wrong password, an expired/revoked token, an expired session ->
//    Errc::unauthenticated with the SAME message ("authentication required"),
//    so a caller cannot tell an unknown user from a wrong password.
//  - a session cookie on a state-changing request (credentials.state_changing)
//    must come with the session's CSRF token in `csrf_token`, compared in
//    constant time -> else Errc::permission_denied ("CSRF token missing or
//    wrong"). Basic, API tokens and JWTs are not ambient credentials and need
//    no CSRF token.
//  - throttling, never a hard account lock (login_throttle.h): every password
//    check (login or Basic, cache hits excepted) is a guess admitted or
//    refused by the LoginThrottle shared with DIMSE user identity, per
//    (account, address) with growing delays then refusal, and per account
//    with a ceiling on guesses per minute that does not apply to addresses
//    the account logged in from before. A refused guess is not verified and
//    fails with Errc::rate_limited ("too many password attempts; retry
//    later", HTTP 429) and Error::retry_after_s, never by sleeping. Every
//    failed authentication (passwords included) also counts against the
//    source address; a blocked source's password guesses are refused the
//    same way, except for accounts known good at that address, while its
//    sessions, API tokens and JWTs keep working. A shared Argon2id lane that
//    is full gives Errc::unavailable with retry_after_s = 1. The transitions
//    into a pair refusal or a source block are audited as security_alert
//    events; every failed authentication is
//    audited as a Type::association event with outcome denied, actor = the
//    claimed username ("" if none), source = address, reason = the real
//    reason (never the password or token), detail protocol=http, in
//    aggregate (audit/aggregate.h): the first failure of a source in each
//    http.failure_audit_window_s in full, the rest as one summary with its
//    count, so a flood writes O(windows) lines.
//  - device cookies (device_cookie.h, login() only): a successful login
//    returns a fresh device cookie for the account; a login presenting a
//    valid one for the claimed account is judged as that device
//    (LoginThrottle: exempt from the account ceiling and from a source
//    block, priority lane, its own pair delays and refusal). A forged,
//    expired, other-account or oversized cookie is ignored (no cookie).
//  - Argon2id is slow by design (about 0.2 s; 2 shared slots and 1
//    reserved, see verify_slots.h): a successful
//    Basic verification is cached for 5 minutes under an HMAC of
//    username:password with a per-process random key (never the plain
//    password), invalidated when the user changes (put_user through the
//    admin API calls forget_user()).
//  - login() returns a fresh 256-bit session id and a separate 256-bit CSRF
//    token; sessions live in memory (a restart logs everybody out), end after
//    http.session_idle_minutes without use or http.session_max_hours after
//    login, at logout(), and at the first request after the user's password
//    changed (from any process). At most 100,000 sessions (oldest evicted).
//  - the principal's operations come from operations_for(user.roles), its
//    scope from user.scope; kind = user, name = username, source = address.
//  - thread-safe.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include "audit/audit.h"
#include "config/config.h"
#include "core/accounts.h"
#include "core/clock.h"
#include "core/error.h"
#include "security/device_cookie.h"
#include "security/jwt.h"
#include "security/login_throttle.h"

namespace tresor::security {

struct HttpCredentials {
  std::string_view authorization;   // value of the Authorization header ("" = none)
  std::string_view session_cookie;  // value of the `__Host-tresor_session` cookie ("" = none)
  std::string_view csrf_token;      // value of the X-CSRF-Token header ("" = none)
  bool state_changing = false;      // method is not GET, HEAD or OPTIONS
  std::string source_ip;
};

enum class AuthMethod { basic, session, api_token, bearer_jwt };
const char* to_string(AuthMethod method) noexcept;

struct Authenticated {
  Principal principal;
  AuthMethod method = AuthMethod::basic;
  std::string session_id;           // for AuthMethod::session (logout)
  std::string csrf_token;           // for AuthMethod::session: lets a new tab of the same session act (GET /api/me)
  // When the credential itself ends, if it says so (a JWT's exp); a token it
  // creates may outlive it by at most http.jwt_token_max_days.
  std::optional<std::chrono::system_clock::time_point> expires;
};

struct LoginResult {
  std::string session_id;           // cookie value: 43 chars base64url
  std::string csrf_token;           // the client sends it back in X-CSRF-Token
  std::chrono::seconds max_age{};   // cookie Max-Age (= absolute session lifetime)
  Principal principal;
  // A fresh device cookie for this account ("" when no DeviceCookies were
  // given): `__Host-tresor_device`, Max-Age = device_max_age (login.known_good_days).
  std::string device_cookie;
  std::chrono::seconds device_max_age{};
};

struct IssuedToken {
  std::string secret;               // "tsr_" + 43 chars base64url; shown once, never stored
  ApiToken token;
};

// What the HTTP transport needs (tests substitute their own).
class RequestAuthenticator {
public:
  virtual ~RequestAuthenticator() = default;
  virtual Result<Authenticated> authenticate(const HttpCredentials& credentials) = 0;
  // True when the server must close the address's connections before the
  // TLS handshake. HttpAuthenticator: never (a blocked address keeps its
  // sessions, tokens and known-good logins; see the throttling contract).
  virtual bool source_blocked(const std::string& source_ip) const = 0;
};

class HttpAuthenticator final : public RequestAuthenticator {
public:
  // `devices` (may be null: no device cookies) must outlive the authenticator.
  HttpAuthenticator(const config::Config& config, AccountRepository& accounts, const JwtVerifier* jwt,
                    const Clock& clock, audit::AuditSink& audit,
                    const DeviceCookies* devices = nullptr);  // with a throttle of its own
  // With the process's throttle, shared with DIMSE user identity (composition root).
  HttpAuthenticator(const config::Config& config, AccountRepository& accounts, const JwtVerifier* jwt,
                    const Clock& clock, audit::AuditSink& audit, LoginThrottle& throttle,
                    const DeviceCookies* devices = nullptr);
  ~HttpAuthenticator();
  HttpAuthenticator(const HttpAuthenticator&) = delete;
  HttpAuthenticator& operator=(const HttpAuthenticator&) = delete;

  Result<Authenticated> authenticate(const HttpCredentials& credentials) override;
  // `device_cookie`: the request's `__Host-tresor_device` value ("" = none);
  // a valid one for `username` makes the guess a device's (see the contract).
  Result<LoginResult> login(std::string_view username, std::string_view password, const std::string& source_ip,
                            std::string_view device_cookie = {});
  void logout(const std::string& session_id);
  // Ends every session of the user and drops its cached Basic verification
  // (after a password change, role change, disable or removal).
  void forget_user(const std::string& username);

  // Personal API tokens of `owner` (a user). ttl is capped at http.token_max_days.
  Result<IssuedToken> issue_token(const std::string& owner, std::string name, std::chrono::seconds ttl);
  bool source_blocked(const std::string& source_ip) const override;
  // Source addresses blocked now and throttled accounts, with the end of the block.
  struct Blocked {
    std::string key;       // an address, or a user name
    bool account = false;  // true: a throttled account (from `source` only, or at its ceiling when source is "")
    std::chrono::system_clock::time_point until{};
    std::string source;    // account throttled from this address only
  };
  std::vector<Blocked> blocked() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace tresor::security
