// HTTP authentication (see http_auth.h for the contract).
//
// Choices made here, beyond the header:
//  - Authorization wins: when a request carries both an Authorization header
//    and a session cookie, only the header is looked at and the cookie is
//    ignored. A request with neither is refused (unauthenticated) without
//    being audited or counted: a browser's first request is not an attack.
//  - Basic (RFC 7617): scheme matched case-insensitively, then one or more
//    spaces, then canonical standard base64 with padding (anything else is
//    malformed); header at most 8 KiB, username (before the first ':') 1..128
//    bytes without control characters, password 1..1024 bytes.
//  - Every authenticated request re-reads the user record (one indexed
//    lookup): roles, scope and the enabled flag are current for Basic (cache
//    hits included), sessions, API tokens and JWTs. A user disabled or
//    removed, even by another process such as the CLI, is refused at the
//    next request and their sessions end. A Basic cache entry also keeps a
//    digest of the password hash it was verified against, so a password
//    change from any process invalidates it at once; forget_user() frees the
//    entries and ends the sessions immediately.
//  - Bearer JWT: `sub` is a local username (the same rule as the DIMSE type 5
//    identity in policy.cpp). The token's "roles" claim is ignored: the local
//    user record is authoritative for roles, scope and enabled, so an IdP
//    cannot grant more than an admin of this PACS did.
//  - API tokens: ApiToken::secret_sha256 is the lowercase hex SHA-256 of the
//    whole secret text, "tsr_" prefix included.
//  - Unknown user names are not written to the audit trail (actor "",
//    as in policy.cpp): people type their password into the user field.
//    Throttling still keys on the claimed name (in memory only), so an
//    unknown name is throttled exactly like a known one and 429s do not
//    reveal which users exist. Unknown users and disabled users cost one
//    Argon2id verification like a wrong password (a dummy hash for unknown
//    users), and "disabled" is only reported after a correct password.
//  - Password checks, in this order: the Basic cache (the exact right
//    password verified in the last 5 minutes is no guess: never throttled);
//    a blocked source (refused unless the pair is known good or a valid
//    device cookie of the account comes with the login); the single
//    flight; LoginThrottle::admit() (refused: 429, nothing verified); the
//    verification in the lane the admission says (a full shared lane: 503,
//    the guess not charged); LoginThrottle::settle(). A pair's failures are
//    not forgotten at a success (they leave the window with time), so
//    guesses cannot be interleaved with the owner's logins.
//  - Failures on the password path (malformed input excepted) also count
//    against the source address.
//  - Session failures (malformed, unknown or expired cookie) are audited but
//    NOT counted against the source: session ids carry 256 bits (guessing is
//    hopeless) and, sessions living in memory, a restart turns every open
//    browser tab into a stream of stale cookies that would otherwise block
//    whole sites behind one NAT address. CSRF failures are audited and not
//    counted either (the victim's own browser sends them).
//  - A repository failure yields Errc::unavailable ("authentication
//    temporarily unavailable"), audited, not counted: it says nothing about
//    the credential and happens for every name alike.
//  - Audit events never contain a password, a token, a session id or a CSRF
//    token; decoded Basic credentials are wiped after use.
#include "security/http_auth.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <unordered_set>
#include <utility>

#include "audit/aggregate.h"
#include "security/auth_crypto.h"
#include "security/bounded_map.h"
#include "security/login_throttle.h"
#include "security/passwords.h"
#include "security/rate_limit.h"

namespace tresor::security {
namespace {

using namespace std::chrono_literals;
using time_point = std::chrono::system_clock::time_point;

constexpr std::string_view kAuthRequired = "authentication required";
constexpr std::string_view kCsrfWrong = "CSRF token missing or wrong";
constexpr std::string_view kUnavailable = "authentication temporarily unavailable";
constexpr std::string_view kThrottled = "too many password attempts; retry later";
constexpr std::size_t kMaxAuthorizationBytes = 8 * 1024;
constexpr std::size_t kMaxUsernameBytes = 128;
constexpr std::size_t kMaxPasswordBytes = 1024;
constexpr std::size_t kMaxTokenNameBytes = 128;
constexpr std::size_t kSecretBytes = 32;         // session ids, CSRF tokens, API token secrets
constexpr std::size_t kEncodedSecretChars = 43;  // base64url of 32 bytes, no padding
constexpr std::string_view kTokenPrefix = "tsr_";
constexpr auto kCacheLifetime = 5min;
constexpr std::size_t kMaxCacheEntries = 10'000;
constexpr std::size_t kMaxSessions = 100'000;

// What a failure counts against (see the file comment).
enum class Count { none, source, account_and_source };

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

bool valid_username(std::string_view u) {
  return !u.empty() && u.size() <= kMaxUsernameBytes && !has_control(u);
}

bool is_secret_encoding(std::string_view s) {
  return s.size() == kEncodedSecretChars && detail::is_base64url(s);
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Principal principal_of(const User& user, const std::string& source) {
  Principal p;
  p.kind = Principal::Kind::user;
  p.name = user.username;
  p.source = source;
  p.operations = operations_for(user.roles);
  p.scope = effective_scope(user);
  return p;
}

// Overwrites a string holding a secret before it is freed.
class Wipe {
public:
  explicit Wipe(std::string& s) : s_(s) {}
  ~Wipe() { OPENSSL_cleanse(s_.data(), s_.size()); }
  Wipe(const Wipe&) = delete;
  Wipe& operator=(const Wipe&) = delete;

private:
  std::string& s_;
};

struct CachedVerification {
  std::string username;
  std::string hash_digest;  // SHA-256 of the PHC hash the password was verified against
  time_point expires{};
};

struct Session {
  std::string username;
  std::string csrf_token;
  std::string hash_digest;  // SHA-256 of the password hash at login: a password change ends the session
  time_point created{};
  time_point last_used{};
};

} // namespace

const char* to_string(AuthMethod method) noexcept {
  switch (method) {
    case AuthMethod::basic: return "basic";
    case AuthMethod::session: return "session";
    case AuthMethod::api_token: return "api_token";
    case AuthMethod::bearer_jwt: return "bearer_jwt";
  }
  return "basic";
}

struct HttpAuthenticator::Impl {
  Impl(const config::Config& config, AccountRepository& accounts_in, const JwtVerifier* jwt_in, const Clock& clock_in,
       audit::AuditSink& audit_in, LoginThrottle* shared_throttle, const DeviceCookies* devices_in)
      : http(config.http),
        login_limits(config.login),
        accounts(accounts_in),
        jwt(jwt_in),
        clock(clock_in),
        audit(audit_in),
        devices(devices_in),
        own_throttle(shared_throttle ? nullptr : std::make_unique<LoginThrottle>(config.login)),
        throttle(shared_throttle ? *shared_throttle : *own_throttle),
        source_failures(config.login.source_max_failures, std::chrono::seconds(config.login.source_window_s),
                        std::chrono::seconds(config.login.source_block_s)),
        failures(audit_in, clock_in, std::chrono::seconds(config.http.failure_audit_window_s)) {
    (void)init_crypto();
    // A valid Argon2id hash of a secret nobody knows: an unknown user costs
    // one verification like a known one. If hashing fails (out of memory),
    // verify_password() refuses the empty hash quickly: worse timing, still safe.
    auto h = hash_password(random_secret(32));
    if (h) dummy_hash = std::move(*h);
    cache_key = detail::random_bytes(32);
  }
  ~Impl() { OPENSSL_cleanse(cache_key.data(), cache_key.size()); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  const config::Http http;
  const config::Login login_limits;
  AccountRepository& accounts;
  const JwtVerifier* jwt;
  const Clock& clock;
  audit::AuditSink& audit;
  const DeviceCookies* devices;                 // null: no device cookies
  std::unique_ptr<LoginThrottle> own_throttle;  // when no shared one was given (tests)
  LoginThrottle& throttle;                     // per (account, address) and per account; shared with DIMSE
  FailureTracker source_failures;
  audit::FailureAggregator failures;  // denied authentications, aggregated per source (see the header)
  std::string dummy_hash;
  std::string cache_key;  // per-process HMAC key for the Basic cache
  std::mutex cache_mutex;
  BoundedMap<CachedVerification> cache{kMaxCacheEntries};
  // Single flight: cache keys whose Argon2id verification is running. Other
  // requests with the same credentials wait for it (bounded) and then use
  // the cache, instead of piling up verifications on the io threads.
  std::unordered_set<std::string> verifying;
  std::condition_variable verified;
  std::mutex session_mutex;
  BoundedMap<Session> sessions{kMaxSessions};

  void record(audit::Type type, audit::Outcome outcome, const std::string& actor, const std::string& source,
              std::string reason, std::string_view method) {
    audit::Event e;
    e.type = type;
    e.outcome = outcome;
    e.actor = actor;
    e.source = source;
    e.reason = std::move(reason);
    e.details = {{"protocol", "http"}, {"method", std::string(method)}};
    if (type == audit::Type::association && outcome == audit::Outcome::denied) failures.record(e);
    else audit.record(e);
  }

  // Audits and counts one failed authentication; the caller sees only the
  // uniform message. Password failures are counted per (account, address)
  // by the LoginThrottle (settle()), not here; Count::source counts against
  // the address.
  std::unexpected<Error> deny(const std::string& actor, const std::string& source, std::string reason,
                              std::string_view method, Count count, time_point now) {
    record(audit::Type::association, audit::Outcome::denied, actor, source, std::move(reason), method);
    if (count != Count::none && source_failures.record_failure(source, now)) {
      record(audit::Type::security_alert, audit::Outcome::denied, "", source,
             "source address blocked for " + std::to_string(login_limits.source_block_s) + " s after " +
                 std::to_string(login_limits.source_max_failures) + " failed authentications",
             method);
    }
    return std::unexpected(make_error(Errc::unauthenticated, std::string(kAuthRequired)));
  }

  std::unexpected<Error> unavailable(const std::string& actor, const std::string& source, const Error& why,
                                     std::string_view method) {
    record(audit::Type::association, audit::Outcome::denied, actor, source, "account store unavailable: " + why.message,
           method);
    return std::unexpected(make_error(Errc::unavailable, std::string(kUnavailable)));
  }

  // A password guess refused by the throttle without verification: 429 with
  // Retry-After; audited, not counted (it cost nothing).
  std::unexpected<Error> throttled(const std::string& actor, const std::string& source, const std::string& why,
                                   std::chrono::seconds retry_after, std::string_view method) {
    record(audit::Type::association, audit::Outcome::denied, actor, source, "throttled: " + why, method);
    Error e = make_error(Errc::rate_limited, std::string(kThrottled));
    e.retry_after_s = static_cast<int>(std::clamp<std::int64_t>(retry_after.count(), 1, 86400));
    return std::unexpected(std::move(e));
  }

  // The name to audit for a claimed user name: itself if such a user
  // exists, else "" (it may be a mistyped password).
  std::string known_name(const std::string& username) {
    auto u = accounts.find_user(username);
    return u && *u ? username : std::string{};
  }

  // Username + password with throttling, lock-out, cache and audit.
  // `device_cookie` (login only): see the header.
  Result<User> check_password(std::string_view username, std::string_view password, const std::string& source,
                              std::string_view method, time_point now, std::string_view device_cookie = {});
  Result<Authenticated> basic(std::string_view param, const std::string& source, time_point now);
  Result<Authenticated> api_token(std::string_view secret, const std::string& source, time_point now);
  Result<Authenticated> bearer_jwt(std::string_view token, const std::string& source, time_point now);
  Result<Authenticated> session(const HttpCredentials& credentials, time_point now);
};

Result<User> HttpAuthenticator::Impl::check_password(std::string_view username, std::string_view password,
                                                     const std::string& source, std::string_view method,
                                                     time_point now, std::string_view device_cookie) {
  if (!valid_username(username) || password.empty() || password.size() > kMaxPasswordBytes) {
    return deny("", source, "malformed user name or password", method, Count::source, now);
  }
  const std::string name(username);

  // The cache key: HMAC(per-process key, username NUL password). The user
  // name holds no control characters, so the encoding is unambiguous.
  std::string material;
  material.reserve(name.size() + 1 + password.size());
  material.append(name).push_back('\0');
  material.append(password);
  const std::string key = detail::hmac_sha256(cache_key, material);
  OPENSSL_cleanse(material.data(), material.size());

  std::optional<CachedVerification> hit;
  if (!key.empty()) {
    std::lock_guard lock(cache_mutex);
    if (CachedVerification* e = cache.find(key)) {
      if (now < e->expires && e->username == name) hit = *e;
      else cache.erase(key);
    }
  }

  auto found = accounts.find_user(name);
  if (!found) return unavailable("", source, found.error(), method);
  std::optional<User>& user = *found;

  if (hit) {
    if (user && user->enabled && detail::constant_time_equal(hit->hash_digest, detail::sha256(user->password_hash))) {
      return std::move(*user);
    }
    std::lock_guard lock(cache_mutex);  // stale: the slow path below decides
    cache.erase(key);
  }

  // From here on a password is verified (Argon2id): the throttle decides
  // whether now, and in which lane (login_throttle.h, verify_slots.h). An
  // unknown name is throttled and costs a verification like a known one.
  const std::string actor = user ? name : std::string{};
  // A valid device cookie of this account: the guess is that device's.
  // Anything else presented as one counts as no cookie.
  std::optional<std::string> device;
  if (devices && !device_cookie.empty()) device = devices->verify(device_cookie, name, now);
  if (auto until = source_failures.blocked_until(source, now);
      until && !device && !throttle.known_good(name, source, now)) {
    return throttled(actor, source, "source address blocked after repeated failures",
                     std::chrono::ceil<std::chrono::seconds>(*until - now), method);
  }
  // Single flight per cache key (see `verifying`): wait while the same
  // credentials are being verified, then take that verification's result
  // from the cache if it succeeded.
  struct Flight {
    Impl* self = nullptr;
    const std::string* key = nullptr;
    ~Flight() {
      if (!self) return;
      {
        std::lock_guard lock(self->cache_mutex);
        self->verifying.erase(*key);
      }
      self->verified.notify_all();
    }
  } flight;
  if (user && !key.empty()) {
    std::unique_lock lock(cache_mutex);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (verifying.contains(key) && verified.wait_until(lock, deadline) != std::cv_status::timeout) {
    }
    if (CachedVerification* e = cache.find(key);
        e && now < e->expires && e->username == name && user->enabled &&
        detail::constant_time_equal(e->hash_digest, detail::sha256(user->password_hash))) {
      return std::move(*user);
    }
    if (verifying.insert(key).second) {
      flight.self = this;  // from here on, ~Flight ends this verification's flight
      flight.key = &key;
    }
  }
  const LoginThrottle::Admission admission = throttle.admit(name, source, now, device ? *device : std::string_view{});
  // Where the throttle charged the guess: the device, or the address.
  const std::string charged = admission.device ? LoginThrottle::device_source(*device) : source;
  if (!admission.allowed) {
    if (admission.alert) {
      record(audit::Type::security_alert, audit::Outcome::denied, actor, source,
             "password guesses for this account throttled: ceiling of " +
                 std::to_string(login_limits.account_guesses_per_minute) + " a minute reached" +
                 (actor.empty() ? " (unknown user name, not recorded)" : ""),
             method);
    }
    return throttled(actor, source, admission.reason, admission.retry_after, method);
  }
  const Verification verdict = verify_password(user ? std::string_view(user->password_hash) : std::string_view(dummy_hash),
                                               password, admission.known_good ? VerifyLane::priority : VerifyLane::shared);
  if (verdict == Verification::busy) {
    throttle.settle(name, charged, admission.id, LoginThrottle::Outcome::not_checked, clock.now());
    record(audit::Type::association, audit::Outcome::denied, actor, source,
           "password verification refused: every verification slot busy", method);
    Error e = make_error(Errc::unavailable, std::string(kUnavailable));
    e.retry_after_s = 1;
    return std::unexpected(std::move(e));
  }
  if (verdict != Verification::match || !user) {
    if (throttle.settle(name, charged, admission.id, LoginThrottle::Outcome::failed, clock.now())) {
      record(audit::Type::security_alert, audit::Outcome::denied, actor, source,
             std::string("password guesses for this account from this ") +
                 (admission.device ? "device (device cookie)" : "address") + " refused after " +
                 std::to_string(login_limits.pair_max_failures) + " failures in " +
                 std::to_string(login_limits.pair_window_s) + " s" +
                 (actor.empty() ? " (unknown user name, not recorded)" : ""),
             method);
    }
    return deny(actor, source, user ? "wrong password" : "unknown user (name not recorded: it may be a mistyped password)",
                method, Count::source, now);
  }
  throttle.settle(name, charged, admission.id, LoginThrottle::Outcome::succeeded, clock.now());
  if (!user->enabled) return deny(name, source, "user is disabled", method, Count::source, now);

  if (!key.empty()) {
    std::lock_guard lock(cache_mutex);
    cache.put(key, CachedVerification{name, detail::sha256(user->password_hash), now + kCacheLifetime});
  }
  return std::move(*user);
}

Result<Authenticated> HttpAuthenticator::Impl::basic(std::string_view param, const std::string& source,
                                                     time_point now) {
  constexpr std::string_view method = "basic";
  auto decoded = detail::base64_decode_strict(param);
  if (!decoded) return deny("", source, "malformed Basic credentials (not canonical base64)", method, Count::source, now);
  Wipe wipe(*decoded);
  const std::size_t colon = decoded->find(':');
  if (colon == std::string::npos) {
    return deny("", source, "malformed Basic credentials (no ':')", method, Count::source, now);
  }
  const std::string_view all(*decoded);
  auto user = check_password(all.substr(0, colon), all.substr(colon + 1), source, method, now);
  if (!user) return std::unexpected(user.error());
  return Authenticated{principal_of(*user, source), AuthMethod::basic, {}, {}, std::nullopt};
}

Result<Authenticated> HttpAuthenticator::Impl::api_token(std::string_view secret, const std::string& source,
                                                         time_point now) {
  constexpr std::string_view method = "api_token";
  if (!secret.starts_with(kTokenPrefix) || !is_secret_encoding(secret.substr(kTokenPrefix.size()))) {
    return deny("", source, "malformed API token", method, Count::source, now);
  }
  const std::string digest = detail::sha256_hex(secret);
  if (digest.empty()) return deny("", source, "API token digest failed", method, Count::source, now);
  auto found = accounts.find_token_by_hash(digest);
  if (!found) return unavailable("", source, found.error(), method);
  if (!*found || !detail::constant_time_equal((*found)->secret_sha256, digest)) {
    return deny("", source, "unknown API token", method, Count::source, now);
  }
  const ApiToken& token = **found;
  if (token.revoked) return deny(token.username, source, "API token " + token.id + " is revoked", method, Count::source, now);
  if (now >= token.expires) {
    return deny(token.username, source, "API token " + token.id + " has expired", method, Count::source, now);
  }
  auto user = accounts.find_user(token.username);
  if (!user) return unavailable(token.username, source, user.error(), method);
  if (!*user) {
    return deny(token.username, source, "owner of API token " + token.id + " no longer exists", method, Count::source,
                now);
  }
  if (!(*user)->enabled) {
    return deny(token.username, source, "owner of API token " + token.id + " is disabled", method, Count::source, now);
  }
  return Authenticated{principal_of(**user, source), AuthMethod::api_token, {}, {}, std::nullopt};
}

Result<Authenticated> HttpAuthenticator::Impl::bearer_jwt(std::string_view token, const std::string& source,
                                                          time_point now) {
  constexpr std::string_view method = "bearer_jwt";
  if (!jwt) return deny("", source, "bearer JWT refused: no [oidc] issuer configured", method, Count::source, now);
  auto claims = jwt->verify(token, now);
  if (!claims) return deny("", source, claims.error().message, method, Count::source, now);
  // The claims' roles are deliberately ignored (see the file comment).
  auto user = accounts.find_user(claims->subject);
  if (!user) return unavailable(claims->subject, source, user.error(), method);
  if (!*user) return deny(claims->subject, source, "JWT subject is not a user", method, Count::source, now);
  if (!(*user)->enabled) return deny(claims->subject, source, "user is disabled", method, Count::source, now);
  return Authenticated{principal_of(**user, source), AuthMethod::bearer_jwt, {}, {}, claims->expires};
}

Result<Authenticated> HttpAuthenticator::Impl::session(const HttpCredentials& credentials, time_point now) {
  constexpr std::string_view method = "session";
  const std::string& source = credentials.source_ip;
  const std::string_view cookie = credentials.session_cookie;
  if (!is_secret_encoding(cookie)) return deny("", source, "malformed session cookie", method, Count::none, now);
  const std::string key = detail::sha256(cookie);
  if (key.empty()) return deny("", source, "session digest failed", method, Count::none, now);

  std::optional<Session> found;
  std::string expired_user;
  {
    std::lock_guard lock(session_mutex);
    if (Session* s = sessions.find(key)) {
      if (now - s->last_used >= std::chrono::minutes(http.session_idle_minutes) ||
          now - s->created >= std::chrono::hours(http.session_max_hours)) {
        expired_user = s->username;
        sessions.erase(key);
      } else {
        found = *s;
      }
    }
  }
  if (!found) {
    if (!expired_user.empty()) return deny(expired_user, source, "session expired", method, Count::none, now);
    return deny("", source, "unknown session (logged out, expired or from before a restart)", method, Count::none, now);
  }

  auto end_session = [&](std::string reason) {
    {
      std::lock_guard lock(session_mutex);
      sessions.erase(key);
    }
    return deny(found->username, source, std::move(reason), method, Count::none, now);
  };
  auto user = accounts.find_user(found->username);
  if (!user) return unavailable(found->username, source, user.error(), method);
  if (!*user) return end_session("user no longer exists; session ended");
  if (!(*user)->enabled) return end_session("user is disabled; session ended");
  if (!detail::constant_time_equal(found->hash_digest, detail::sha256((*user)->password_hash)))
    return end_session("password changed since login; session ended");

  if (credentials.state_changing && !detail::constant_time_equal(credentials.csrf_token, found->csrf_token)) {
    record(audit::Type::association, audit::Outcome::denied, found->username, source, std::string(kCsrfWrong), method);
    return std::unexpected(make_error(Errc::permission_denied, std::string(kCsrfWrong)));
  }

  {
    std::lock_guard lock(session_mutex);
    Session* s = sessions.find(key);
    if (!s) return deny(found->username, source, "session ended meanwhile", method, Count::none, now);
    s->last_used = std::max(s->last_used, now);
  }
  return Authenticated{principal_of(**user, source), AuthMethod::session, std::string(cookie), found->csrf_token, std::nullopt};
}

HttpAuthenticator::HttpAuthenticator(const config::Config& config, AccountRepository& accounts, const JwtVerifier* jwt,
                                     const Clock& clock, audit::AuditSink& audit, const DeviceCookies* devices)
    : impl_(std::make_unique<Impl>(config, accounts, jwt, clock, audit, nullptr, devices)) {}

HttpAuthenticator::HttpAuthenticator(const config::Config& config, AccountRepository& accounts, const JwtVerifier* jwt,
                                     const Clock& clock, audit::AuditSink& audit, LoginThrottle& throttle,
                                     const DeviceCookies* devices)
    : impl_(std::make_unique<Impl>(config, accounts, jwt, clock, audit, &throttle, devices)) {}

HttpAuthenticator::~HttpAuthenticator() = default;

Result<Authenticated> HttpAuthenticator::authenticate(const HttpCredentials& credentials) {
  Impl& m = *impl_;
  const auto now = m.clock.now();
  const std::string& source = credentials.source_ip;
  const bool has_authorization = !credentials.authorization.empty();
  if (!has_authorization && credentials.session_cookie.empty()) {
    return fail(Errc::unauthenticated, std::string(kAuthRequired));  // no credential at all: not a failure
  }
  const std::string_view method = has_authorization ? "authorization" : "session";
  // A blocked source is not refused here: its sessions, API tokens and JWTs
  // still work; only its password guesses are refused (check_password).
  if (!has_authorization) return m.session(credentials, now);

  const std::string_view header = credentials.authorization;
  if (header.size() > kMaxAuthorizationBytes) {
    return m.deny("", source, "Authorization header too large", method, Count::source, now);
  }
  const std::size_t space = header.find(' ');
  const std::string_view scheme = header.substr(0, space);
  const std::string_view param = space == std::string_view::npos ? std::string_view{} : trim_ows(header.substr(space));
  if (param.empty()) return m.deny("", source, "malformed Authorization header", method, Count::source, now);
  if (iequals(scheme, "Basic")) return m.basic(param, source, now);
  if (iequals(scheme, "Bearer")) {
    if (param.starts_with(kTokenPrefix)) return m.api_token(param, source, now);
    return m.bearer_jwt(param, source, now);
  }
  return m.deny("", source, "unsupported Authorization scheme", method, Count::source, now);
}

Result<LoginResult> HttpAuthenticator::login(std::string_view username, std::string_view password,
                                             const std::string& source_ip, std::string_view device_cookie) {
  Impl& m = *impl_;
  constexpr std::string_view method = "password";
  const auto now = m.clock.now();
  auto user = m.check_password(username, password, source_ip, method, now, device_cookie);
  if (!user) return std::unexpected(user.error());

  LoginResult out;
  out.session_id = detail::base64url(detail::random_bytes(kSecretBytes));
  out.csrf_token = detail::base64url(detail::random_bytes(kSecretBytes));
  const std::string key = detail::sha256(out.session_id);
  if (!is_secret_encoding(out.session_id) || !is_secret_encoding(out.csrf_token) || key.empty()) {
    return fail(Errc::internal, "session creation failed");
  }
  {
    std::lock_guard lock(m.session_mutex);
    m.sessions.put(key, Session{user->username, out.csrf_token, detail::sha256(user->password_hash), now, now});
  }
  out.max_age = std::chrono::hours(m.http.session_max_hours);
  out.principal = principal_of(*user, source_ip);
  if (m.devices) {
    out.device_max_age = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::days(std::max(m.login_limits.known_good_days, 1)));
    out.device_cookie = m.devices->issue(user->username, now, out.device_max_age);
  }
  m.record(audit::Type::authentication, audit::Outcome::success, user->username, source_ip, "login", method);
  return out;
}

void HttpAuthenticator::logout(const std::string& session_id) {
  Impl& m = *impl_;
  if (!is_secret_encoding(session_id)) return;
  const std::string key = detail::sha256(session_id);
  std::string username;
  {
    std::lock_guard lock(m.session_mutex);
    if (Session* s = m.sessions.find(key)) {
      username = s->username;
      m.sessions.erase(key);
    }
  }
  if (!username.empty())
    m.record(audit::Type::authentication, audit::Outcome::success, username, "", "logout", "session");
}

void HttpAuthenticator::forget_user(const std::string& username) {
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.session_mutex);
    m.sessions.erase_if([&](const Session& s) { return s.username == username; });
  }
  std::lock_guard lock(m.cache_mutex);
  m.cache.erase_if([&](const CachedVerification& c) { return c.username == username; });
}

Result<IssuedToken> HttpAuthenticator::issue_token(const std::string& owner, std::string name, std::chrono::seconds ttl) {
  Impl& m = *impl_;
  if (name.empty() || name.size() > kMaxTokenNameBytes || has_control(name)) {
    return fail(Errc::invalid_argument, "token name must be 1..128 characters without control characters");
  }
  if (ttl <= std::chrono::seconds::zero()) return fail(Errc::invalid_argument, "token lifetime must be positive");
  const auto cap = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::days(std::max(m.http.token_max_days, 1)));
  ttl = std::min(ttl, cap);
  auto user = m.accounts.find_user(owner);
  if (!user) return std::unexpected(user.error());
  if (!*user || !(*user)->enabled) return fail(Errc::not_found, "no enabled user " + owner);

  IssuedToken out;
  const std::string raw = detail::random_bytes(kSecretBytes);
  out.secret = std::string(kTokenPrefix) + detail::base64url(raw);
  const std::string id_raw = detail::random_bytes(8);
  if (raw.size() != kSecretBytes || id_raw.size() != 8 || !is_secret_encoding(out.secret.substr(kTokenPrefix.size()))) {
    return fail(Errc::internal, "token generation failed");
  }
  const auto now = m.clock.now();
  out.token.id = "tok_" + detail::to_hex(id_raw);
  out.token.username = owner;
  out.token.name = std::move(name);
  out.token.secret_sha256 = detail::sha256_hex(out.secret);
  out.token.created = now;
  out.token.expires = now + ttl;
  out.token.revoked = false;
  if (out.token.secret_sha256.empty()) return fail(Errc::internal, "token digest failed");
  if (auto st = m.accounts.put_token(out.token); !st) return std::unexpected(st.error());
  return out;
}

bool HttpAuthenticator::source_blocked(const std::string&) const {
  // Never: closing a blocked address before the handshake would lock out
  // every session, token and known-good login behind it (a NAT, a VPN).
  return false;
}

std::vector<HttpAuthenticator::Blocked> HttpAuthenticator::blocked() const {
  const auto now = impl_->clock.now();
  std::vector<Blocked> out;
  for (auto& [key, until] : impl_->source_failures.blocked(now)) out.push_back({key, false, until, {}});
  // Only existing accounts: a claimed name may be a password typed into the wrong field.
  for (auto& t : impl_->throttle.throttled(now)) {
    auto user = impl_->accounts.find_user(t.account);
    if (user && *user) out.push_back({t.account, true, t.until, t.source});
  }
  return out;
}

} // namespace tresor::security
