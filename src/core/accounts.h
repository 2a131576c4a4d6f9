// Principals, peers and users: plain data shared by security, index (which
// persists them), services and the front ends.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include "core/error.h"
#include "core/model.h"

namespace tresor {

// What a principal may do. DIMSE operations map onto these; the HTTP
// permissions of the issue map as: query = find, retrieve = get (WADO) and
// move, store = store (+ commit), delete = remove, admin = admin, and
// audit = reading the audit trail. Text forms: echo store find get move
// commit delete admin audit.
enum class Operation { echo, store, find, get, move, commit, remove, admin, audit };
const char* to_string(Operation op) noexcept;
std::optional<Operation> parse_operation(std::string_view text) noexcept;

// A registered DICOM peer (modality, workstation, other PACS).
struct Peer {
  std::string ae_title;                 // 1..16 chars, the calling AE it uses
  std::vector<std::string> hosts;       // IPv4 addresses it may connect from; also C-MOVE target host = hosts[0]
  std::uint16_t port = 0;               // its SCP port for C-MOVE destinations (0 = not a destination)
  std::set<Operation> operations;       // allowed operations; nothing else, not even echo
  std::string cert_sha256;              // hex SHA-256 of the client certificate DER bound to it ("" = CN must equal AE)
  bool require_user_identity = false;   // a user identity (type 2 or 5) is required in addition
  bool allow_plaintext = false;         // may use the plaintext listener (pinned hosts only)
  bool legacy_tls = false;              // may use the legacy-TLS listener (retired cipher suites; private hosts only)
  bool unlimited_find = false;          // may exceed the C-FIND result cap
  bool unlimited_retrieve = false;      // may exceed the C-GET/C-MOVE/WADO instance cap (dimse.retrieve_cap)
  std::optional<Scope> scope;           // studies it may see (nullopt = all)
};

enum class Role { admin, clinician, technologist, researcher, auditor };
const char* to_string(Role role) noexcept;

// Name rules shared by the CLI and the REST API.
// A peer's AE title: 1..16 printable ASCII characters, no backslash, no leading/trailing space.
bool is_valid_peer_ae(std::string_view ae) noexcept;
// A user name: 1..64 chars of [A-Za-z0-9_.@-].
bool is_valid_username(std::string_view name) noexcept;
// A dotted-quad IPv4 address (inet_pton).
bool is_ipv4(const std::string& text) noexcept;
std::optional<Role> parse_role(std::string_view text) noexcept;
// 127/8, 10/8, 172.16/12, 192.168/16 (dotted-quad IPv4 only) and "localhost".
bool is_loopback_or_private_ipv4(const std::string& text) noexcept;

// The one validation of a peer registration, shared by `tresor peer add` and
// POST /api/peers: AE title, 1..16 distinct IPv4 hosts, at least one
// operation among echo store find get move commit, a pin of 64 lower-case hex
// digits or none, and the transport rules: a peer marked plaintext or
// legacy_tls may only have loopback or private hosts (it is also a C-MOVE
// destination at hosts[0], reached the same way). Returns the first problem,
// phrased for the operator, or nullopt.
std::optional<std::string> validate_peer(const Peer& peer);

// The scope that admits only studies both `a` and `b` admit (nullopt = every
// study). A Scope is a disjunction of criteria, so the exact intersection of
// two of them is not always one Scope: the result keeps the criteria both
// name (institutions, referring physicians, labels present in both), which
// admits a subset of the intersection; it never admits a study one of them
// refuses.
std::optional<Scope> intersect_scopes(const std::optional<Scope>& a, const std::optional<Scope>& b);

// The operations a set of roles grants: admin = everything; clinician =
// echo find get move; technologist = echo store commit; researcher = find
// get, always under a scope (effective_scope); auditor = audit.
std::set<Operation> operations_for(const std::set<Role>& roles);

struct User {
  std::string username;
  std::string password_hash;  // Argon2id PHC string from libsodium; never a plain password
  std::set<Role> roles;
  bool enabled = true;
  std::optional<Scope> scope; // studies the user may see (nullopt = all)
};

// The scope a user acts under: user.scope, except that a researcher never
// acts without one (no scope = an empty scope: nothing). A researcher's scope
// is its research projects' labels (`tresor user set-project`), which only
// the de-identified copies of an export carry (services/export.h), so a
// researcher sees de-identified studies only.
std::optional<Scope> effective_scope(const User& user);

// A personal API token. The secret is shown once at creation and stored only
// as the hex SHA-256 of the secret (it has 256 bits of entropy, so a fast
// hash is enough and lookup by hash is constant time in the database).
struct ApiToken {
  std::string id;             // public identifier ("tok_" + 16 hex), used to list and revoke
  std::string username;       // owner; the token acts with the owner's current roles and scope
  std::string name;           // label chosen by the owner
  std::string secret_sha256;  // hex SHA-256 of the secret
  std::chrono::system_clock::time_point created{};
  std::chrono::system_clock::time_point expires{};
  bool revoked = false;
};

// Who is acting, as decided by security/. Services trust it.
struct Principal {
  enum class Kind { peer, user, system } kind = Kind::system;
  std::string name;        // AE title for a peer, username for a user, "system" for CLI/import
  std::string user;        // the authenticated user behind a peer association, if any
  std::string source;      // remote IP address ("" for local CLI)
  std::set<Operation> operations;
  bool unlimited_find = false;
  bool unlimited_retrieve = false;  // past dimse.retrieve_cap (a peer's flag, never a user's)
  std::optional<Scope> scope;  // nullopt = every study

  bool may(Operation op) const { return operations.contains(op); }
};

// Persistence of peers and users. Implemented by index/ (SQLite); used by
// security/ and app/. Every call is thread-safe.
class AccountRepository {
public:
  virtual ~AccountRepository() = default;
  virtual Result<std::optional<Peer>> find_peer(const std::string& ae_title) = 0;
  virtual Result<std::vector<Peer>> list_peers() = 0;
  virtual Status put_peer(const Peer& peer) = 0;            // insert or replace
  virtual Result<bool> remove_peer(const std::string& ae_title) = 0;

  virtual Result<std::optional<User>> find_user(const std::string& username) = 0;
  virtual Result<std::vector<User>> list_users() = 0;
  virtual Status put_user(const User& user) = 0;            // insert or replace; a changed password_hash revokes the user's API tokens
  virtual Result<bool> remove_user(const std::string& username) = 0;

  virtual Status put_token(const ApiToken& token) = 0;      // insert or replace (by id)
  virtual Result<std::optional<ApiToken>> find_token_by_hash(const std::string& secret_sha256) = 0;
  virtual Result<std::vector<ApiToken>> list_tokens(const std::string& username) = 0;  // "" = all users
  virtual Result<bool> revoke_token(const std::string& id) = 0;  // true if it existed
};

} // namespace tresor
