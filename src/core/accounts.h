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

namespace tresor {

// What a principal may do. DIMSE operations map onto these.
enum class Operation { echo, store, find, get, move, commit };
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
  bool unlimited_find = false;          // may exceed the C-FIND result cap
};

enum class Role { admin, clinician, technologist, researcher, auditor };
const char* to_string(Role role) noexcept;
std::optional<Role> parse_role(std::string_view text) noexcept;

struct User {
  std::string username;
  std::string password_hash;  // Argon2id PHC string from libsodium; never a plain password
  std::set<Role> roles;
  bool enabled = true;
};

// Who is acting, as decided by security/. Services trust it.
struct Principal {
  enum class Kind { peer, user, system } kind = Kind::system;
  std::string name;        // AE title for a peer, username for a user, "system" for CLI/import
  std::string user;        // the authenticated user behind a peer association, if any
  std::string source;      // remote IP address ("" for local CLI)
  std::set<Operation> operations;
  bool unlimited_find = false;

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
  virtual Status put_user(const User& user) = 0;            // insert or replace
  virtual Result<bool> remove_user(const std::string& username) = 0;
};

} // namespace tresor
