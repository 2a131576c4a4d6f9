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
//    with operations_for(user.roles)) and sees the user's scope if the user
//    has one, else the peer's; without a user it gets the peer's operations
//    and scope;
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
                                     FailureTracker& failures, const Clock& clock)
    : config_(config), accounts_(accounts), jwt_(jwt), failures_(failures), clock_(clock) {}

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

  // 1. A blocked source: nothing else is looked at.
  if (failures_.is_blocked(source, now)) return refuse("source address blocked after repeated failures");

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
  if (request.transport == Transport::plaintext) {
    if (!config_.dimse.plaintext_enabled) return refuse("plaintext listener is disabled");
    if (!peer.allow_plaintext) return refuse("plaintext transport not allowed for peer " + calling);
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
        if (!*u) {
          (void)verify_password(dummy_hash(), id.secondary);
          return refuse("unknown user (name not recorded: it may be a mistyped passcode)");
        }
        if (!verify_password((*u)->password_hash, id.secondary)) return refuse("wrong passcode for user " + id.primary);
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
  if (user_record) {
    // Both the device and the person must be allowed: the peer's operations
    // intersected with what the user's roles grant; the user's scope, when
    // the user has one, replaces the peer's.
    const std::set<Operation> granted = operations_for(user_record->roles);
    for (Operation op : peer.operations) {
      if (granted.contains(op)) d.principal.operations.insert(op);
    }
    d.principal.scope = user_record->scope ? user_record->scope : peer.scope;
  } else {
    d.principal.operations = peer.operations;
    d.principal.scope = peer.scope;
  }
  return d;
}

} // namespace tresor::security
