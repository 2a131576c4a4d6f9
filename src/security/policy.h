// The association policy: decided here, applied by net/ before any data set
// is read. Contract for AssociationPolicy::decide():
//  - a blocked source is refused before anything else is looked at;
//  - the called AE must be ours; the calling AE must be a registered peer and
//    the source address one of its hosts (an AE title alone is never a credential);
//  - over TLS the client certificate (already verified against the CA by the
//    TLS layer) must be bound to the peer: SHA-256 pin if the peer has one,
//    else certificate CN == AE title;
//  - over the plaintext listener only peers with allow_plaintext are served;
//  - a user identity (type 2 username+passcode against users, type 5 JWT
//    against the configured issuer) is checked when present and required when
//    the peer says so, or when the TLS connection carries no client
//    certificate; type 1 (username only) and type 3/4 never authenticate;
//  - the accepted principal carries the peer's operations and scope; with an
//    authenticated user (type 2, or type 5 whose `sub` is a local username)
//    its operations are peer.operations intersected with
//    operations_for(user.roles), and its scope is the user's if the user has
//    one, else the peer's;
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
#include "security/rate_limit.h"

namespace tresor::security {

enum class Transport { tls, plaintext };

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
};

class AssociationPolicy {
public:
  AssociationPolicy(const config::Config& config, AccountRepository& accounts, const JwtVerifier* jwt,
                    FailureTracker& failures, const Clock& clock);
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
};

} // namespace tresor::security
