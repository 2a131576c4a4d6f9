// Association policy (see policy.h for the contract).
//
// Choices made here, beyond the header:
//  - AE titles are compared exactly (case-sensitive) after trimming the
//    leading/trailing spaces that DICOM treats as insignificant;
//  - the plaintext transport is also refused when the configuration has the
//    plaintext listener disabled (defence in depth);
//  - certificate pins are compared case-insensitively, ':' separators ignored;
//  - a user identity that is present is always checked, even when not
//    required; types 1, 3, 4 and unknown types refuse the association;
//  - type 2: the password is verified even for an unknown user (against a
//    throw-away hash) so that timing does not reveal which users exist; a
//    disabled user is only reported as such after a correct passcode;
//  - type 5: the JWT subject must name an existing, enabled user account (the
//    token proves who the person is; the account says they may use the PACS);
//    the token's own "roles" claim is ignored, the local user record is
//    authoritative (the same rule as HTTP Bearer JWTs in http_auth.cpp);
//  - with an authenticated user (type 2 or 5) the principal may do only what
//    both the peer and the user's roles allow (peer.operations intersected
//    with operations_for(user.roles)) and sees only studies both scopes
//    admit; without a user it gets the peer's operations, scope and
//    unlimited_find;
//  - a successful association does not reset the failure count of the source,
//    so valid and invalid attempts cannot be interleaved to guess forever;
//  - reasons may contain AE titles, addresses and user names (they go to the
//    audit trail) but never a passcode or a token.
#include "security/policy.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include "security/passwords.h"

namespace tresor::security {
namespace {

constexpr std::size_t kMaxUsernameBytes = 256;
constexpr std::size_t kMaxPasscodeBytes = 1024;
constexpr std::size_t kMaxTokenBytes = 8192;

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

std::string normalise_fingerprint(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == ':' || c == ' ') continue;
    out.push_back(static_cast<char>(std::tolower(c)));
  }
  return out;
}

// A valid Argon2id hash of a random secret nobody knows, computed once: lets
// an unknown user cost the same as a known one. Immutable after creation.
const std::string& dummy_hash() {
  static const std::string hash = [] {
    auto h = hash_password(random_secret(32));
    return h ? *h : std::string{};
  }();
  return hash;
}

} // namespace

AssociationPolicy::AssociationPolicy(const config::Config& config, AccountRepository& accounts, const JwtVerifier* jwt,
                                     FailureTracker& failures, const Clock& clock, LoginThrottle* throttle)
    : config_(config), accounts_(accounts), jwt_(jwt), failures_(failures), clock_(clock), throttle_(throttle) {}

bool AssociationPolicy::source_blocked(const std::string& source_ip) const {
  return failures_.is_blocked(source_ip, clock_.now());
}

Decision AssociationPolicy::decide(const AssociationRequest& request) const {
  const auto now = clock_.now();
  const std::string& source = request.source_ip;

  auto refuse = [&](std::string reason) {
    Decision d;
    d.accepted = false;
    d.reason = std::move(reason);
    d.source_now_blocked = failures_.record_failure(source, now);
    return d;
  };

  // 1. A blocked source goes through the same checks, but only a bound
  //    client certificate or a user identity admits it (after step 4).
  const bool blocked = failures_.is_blocked(source, now);

  // 2. Called AE must be ours.
  const std::string_view called = trim_spaces(request.called_ae);
  if (called.empty() || called != trim_spaces(config_.dimse.ae_title)) return refuse("called AE title is not ours");

  // 3. Calling AE must be a registered peer, connecting from one of its hosts.
  const std::string calling(trim_spaces(request.calling_ae));
  if (calling.empty()) return refuse("empty calling AE title");
  auto found = accounts_.find_peer(calling);
  if (!found) return refuse("peer lookup failed: " + found.error().message);
  if (!*found) return refuse("calling AE not registered: " + calling);
  const Peer& peer = **found;
  if (std::find(peer.hosts.begin(), peer.hosts.end(), source) == peer.hosts.end()) {
    return refuse("source address not allowed for peer " + calling);
  }

  // 4. Transport and certificate binding.
  bool identity_required = peer.require_user_identity;
  if (request.transport == Transport::legacy_tls) {
    if (!config_.dimse.legacy_tls_enabled) return refuse("legacy TLS listener is disabled");
    if (!peer.legacy_tls) return refuse("legacy TLS transport not allowed for peer " + calling);
  }
  if (request.transport == Transport::plaintext) {
    if (!config_.dimse.plaintext_enabled) return refuse("plaintext listener is disabled");
    if (!peer.allow_plaintext) return refuse("plaintext transport not allowed for peer " + calling);
    if (request.identity && request.identity->type == 2)
      return refuse("user identity with a passcode refused on the plaintext listener (sent in clear)");
  } else if (!request.client_cert_present && !peer.cert_sha256.empty()) {
    // The pin names the one certificate this peer uses; a user identity
    // proves a person, not the device, and does not replace it.
    return refuse("peer " + calling + " is registered with a certificate pin and presented no certificate");
  } else if (request.client_cert_present) {
    if (!peer.cert_sha256.empty()) {
      if (normalise_fingerprint(peer.cert_sha256) != normalise_fingerprint(request.client_cert_sha256)) {
        return refuse("client certificate not bound to peer " + calling + " (fingerprint mismatch)");
      }
    } else if (request.client_cert_cn != calling) {
      return refuse("client certificate not bound to peer " + calling + " (CN differs from AE title)");
    }
  } else {
    // Server-authenticated TLS only: the peer must prove itself with a user identity.
    identity_required = true;
  }

  // A blocked source: only a credential proves this is the registered peer
  // and not the guesser sharing its address (the AE title and the address
  // are not credentials). Past step 4 a presented certificate is bound.
  const bool cert_bound = request.transport != Transport::plaintext && request.client_cert_present;
  if (blocked && !cert_bound && !identity_required) {
    return refuse("source address blocked after repeated failures (only a bound client certificate or user identity "
                  "is admitted from it)");
  }

  // 5. User identity.
  std::string user;
  std::optional<User> user_record;
  if (request.identity) {
    const UserIdentity& id = *request.identity;
    switch (id.type) {
      case 2: {
        if (id.primary.empty() || id.primary.size() > kMaxUsernameBytes) return refuse("bad username in user identity");
        if (id.secondary.empty()) return refuse("empty passcode for user " + id.primary);
        if (id.secondary.size() > kMaxPasscodeBytes) return refuse("passcode too long for user " + id.primary);
        auto u = accounts_.find_user(id.primary);
        if (!u) return refuse("user lookup failed: " + u.error().message);
        // The same per-account throttle as HTTP (login_throttle.h); DIMSE
        // verifies in the priority lane (it comes only from registered peers
        // at their hosts, so a login flood over HTTP cannot starve it).
        const std::string shown = *u ? "user " + id.primary : std::string("an unknown user");
        LoginThrottle::Admission admission;
        if (throttle_) {
          admission = throttle_->admit(id.primary, source, now);
          if (!admission.allowed) {
            Decision d = refuse("passcode guess for " + shown + " refused by the throttle: " + admission.reason);
            if (admission.alert)
              d.alert = "passcode guesses for " + shown + " throttled: ceiling of " +
                        std::to_string(config_.login.account_guesses_per_minute) + " a minute reached";
            return d;
          }
        }
        const Verification verdict =
            verify_password(*u ? std::string_view((*u)->password_hash) : std::string_view(dummy_hash()), id.secondary,
                            VerifyLane::priority);
        auto settle = [&](LoginThrottle::Outcome outcome) {
          if (throttle_) (void)throttle_->settle(id.primary, source, admission.id, outcome, clock_.now());
        };
        if (verdict == Verification::busy) {
          settle(LoginThrottle::Outcome::not_checked);
          return refuse("passcode verification busy for " + shown);
        }
        if (verdict != Verification::match || !*u) {
          settle(LoginThrottle::Outcome::failed);
          if (!*u) return refuse("unknown user (name not recorded: it may be a mistyped passcode)");
          return refuse("wrong passcode for user " + id.primary);
        }
        settle(LoginThrottle::Outcome::succeeded);
        if (!(*u)->enabled) return refuse("user " + id.primary + " is disabled");
        user = id.primary;
        user_record = std::move(**u);
        break;
      }
      case 5: {
        if (!jwt_) return refuse("JWT user identity is not configured");
        if (id.primary.empty() || id.primary.size() > kMaxTokenBytes) return refuse("bad JWT user identity size");
        auto claims = jwt_->verify(id.primary, now);
        if (!claims) return refuse(claims.error().message);
        auto u = accounts_.find_user(claims->subject);
        if (!u) return refuse("user lookup failed: " + u.error().message);
        if (!*u) return refuse("JWT subject " + claims->subject + " is not a user");
        if (!(*u)->enabled) return refuse("user " + claims->subject + " is disabled");
        user = claims->subject;
        user_record = std::move(**u);
        break;
      }
      case 1: return refuse("user identity type 1 (username only) does not authenticate");
      case 3: return refuse("user identity type 3 (Kerberos) not supported");
      case 4: return refuse("user identity type 4 (SAML) not supported");
      default: return refuse("unknown user identity type " + std::to_string(id.type));
    }
  } else if (identity_required) {
    return refuse(peer.require_user_identity ? "user identity required by peer " + calling
                                             : "user identity required (TLS without client certificate)");
  }

  Decision d;
  d.accepted = true;
  d.reason = user.empty() ? "accepted" : "accepted with user " + user;
  d.principal.kind = Principal::Kind::peer;
  d.principal.name = calling;
  d.principal.user = std::move(user);
  d.principal.source = source;
  d.principal.unlimited_find = peer.unlimited_find;
  d.principal.unlimited_retrieve = peer.unlimited_retrieve;
  if (user_record) {
    // Both the device and the person must be allowed: the peer's operations
    // intersected with what the user's roles grant, the intersection of both
    // scopes, and unlimited_find only if both have it (users never do).
    const std::set<Operation> granted = operations_for(user_record->roles);
    for (Operation op : peer.operations) {
      if (granted.contains(op)) d.principal.operations.insert(op);
    }
    d.principal.scope = intersect_scopes(peer.scope, effective_scope(*user_record));
    d.principal.unlimited_find = false;
    d.principal.unlimited_retrieve = false;
  } else {
    d.principal.operations = peer.operations;
    d.principal.scope = peer.scope;
  }
  return d;
}

} // namespace tresor::security
