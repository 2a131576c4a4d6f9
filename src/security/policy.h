// The association policy: decided here, applied by net/ before any data set
// is read. Contract for AssociationPolicy::decide():
//  - a source blocked after repeated failures goes through every check below
//    and is admitted only with a credential: a client certificate bound to
//    the registered peer at that host, or (for a peer whose method it is) a
//    valid user identity; everything else from it is refused (the block is
//    not extended by failures during it);
//  - a type 2 passcode is a guess for the shared LoginThrottle (the one HTTP
//    uses): a throttled account is refused here too; DIMSE verifies in the
//    priority Argon2id lane (verify_slots.h);
//  - the called AE must be ours; the calling AE must be a registered peer and
//    the source address one of its hosts (an AE title alone is never a credential);
//  - over TLS the client certificate (already verified against the CA by the
//    TLS layer) must be bound to the peer: SHA-256 pin if the peer has one,
//    else certificate CN == AE title;
//  - over the plaintext listener only peers with allow_plaintext are served,
//    and a user identity carrying a passcode (type 2) is refused there (the
//    passcode crossed the wire in clear); over the legacy-TLS listener only
//    peers marked legacy_tls (and only while it is enabled);
//  - a peer registered with a certificate pin must present that certificate
//    over TLS; a user identity never replaces it;
//  - a user identity (type 2 username+passcode against users, type 5 JWT
//    against the configured issuer) is checked when present and required when
//    the peer says so, or when the TLS connection carries no client
//    certificate; type 1 (username only) and type 3/4 never authenticate;
//  - the accepted principal carries the peer's operations and scope; with an
//    authenticated user (type 2, or type 5 whose `sub` is a local username)
//    its operations are peer.operations intersected with
//    operations_for(user.roles), its scope is the intersection of the
//    user's and the peer's (intersect_scopes: never wider than either), and
//    unlimited_find needs both the peer and the user to have it (users carry
//    no such right, exactly as over HTTP, so a user association never has it);
//  - every refusal returns accepted=false with the real reason (for the
//    audit) and counts as one failure for the source address; the caller
//    shows nothing of the reason to the remote side.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include "config/config.h"
#include "core/accounts.h"
#include "core/clock.h"
#include "security/jwt.h"
#include "security/login_throttle.h"
#include "security/rate_limit.h"

namespace tresor::security {

// tls: the BCP 195 listener; legacy_tls: the opt-in listener with retired
// cipher suites (only peers marked legacy_tls); plaintext: no TLS.
enum class Transport { tls, plaintext, legacy_tls };

struct UserIdentity {
  int type = 0;              // PS3.7 D.3.3.7: 1 username, 2 username+passcode, 3 Kerberos, 4 SAML, 5 JWT
  std::string primary;       // username or token
  std::string secondary;     // passcode
};

struct AssociationRequest {
  std::string calling_ae;
  std::string called_ae;
  std::string source_ip;
  Transport transport = Transport::tls;
  bool client_cert_present = false;
  std::string client_cert_sha256;   // hex of DER
  std::string client_cert_cn;
  std::optional<UserIdentity> identity;
};

struct Decision {
  bool accepted = false;
  std::string reason;        // audit only
  Principal principal;       // valid when accepted
  bool source_now_blocked = false;  // this refusal tripped the brute-force block
  // Non-empty: audit a security_alert with this reason besides the refusal (a
  // user identity's account reached its guess ceiling, the first time in 15
  // minutes: LoginThrottle::Admission::alert, the same alert as over HTTP).
  std::string alert;
};

class AssociationPolicy {
public:
  AssociationPolicy(const config::Config& config, AccountRepository& accounts, const JwtVerifier* jwt,
                    FailureTracker& failures, const Clock& clock, LoginThrottle* throttle = nullptr);
  Decision decide(const AssociationRequest& request) const;
  // True while the source address is blocked after repeated failures; lets
  // the front end drop its connections before any handshake.
  bool source_blocked(const std::string& source_ip) const;

private:
  const config::Config& config_;
  AccountRepository& accounts_;
  const JwtVerifier* jwt_;
  FailureTracker& failures_;
  const Clock& clock_;
  LoginThrottle* throttle_;  // shared with HTTP; null = passcodes not throttled (tests only)
};

} // namespace tresor::security
