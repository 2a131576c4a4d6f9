#include "core/accounts.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace tresor {

const char* to_string(Operation op) noexcept {
  switch (op) {
    case Operation::echo: return "echo";
    case Operation::store: return "store";
    case Operation::find: return "find";
    case Operation::get: return "get";
    case Operation::move: return "move";
    case Operation::commit: return "commit";
    case Operation::remove: return "delete";
    case Operation::admin: return "admin";
    case Operation::audit: return "audit";
  }
  return "echo";
}

std::optional<Operation> parse_operation(std::string_view t) noexcept {
  if (t == "echo") return Operation::echo;
  if (t == "store") return Operation::store;
  if (t == "find") return Operation::find;
  if (t == "get") return Operation::get;
  if (t == "move") return Operation::move;
  if (t == "commit") return Operation::commit;
  if (t == "delete") return Operation::remove;
  if (t == "admin") return Operation::admin;
  if (t == "audit") return Operation::audit;
  return std::nullopt;
}

const char* to_string(Role role) noexcept {
  switch (role) {
    case Role::admin: return "admin";
    case Role::clinician: return "clinician";
    case Role::technologist: return "technologist";
    case Role::researcher: return "researcher";
    case Role::auditor: return "auditor";
  }
  return "auditor";
}

std::optional<Role> parse_role(std::string_view t) noexcept {
  if (t == "admin") return Role::admin;
  if (t == "clinician") return Role::clinician;
  if (t == "technologist") return Role::technologist;
  if (t == "researcher") return Role::researcher;
  if (t == "auditor") return Role::auditor;
  return std::nullopt;
}

bool is_valid_peer_ae(std::string_view ae) noexcept {
  if (ae.empty() || ae.size() > 16 || ae.front() == ' ' || ae.back() == ' ') return false;
  for (char ch : ae)
    if (ch < 0x20 || ch > 0x7e || ch == '\\') return false;
  return true;
}

bool is_valid_username(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64) return false;
  for (char ch : name)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
          ch == '.' || ch == '@' || ch == '-'))
      return false;
  return true;
}

bool is_ipv4(const std::string& text) noexcept {
  in_addr addr{};
  return ::inet_pton(AF_INET, text.c_str(), &addr) == 1;
}

bool is_loopback_or_private_ipv4(const std::string& text) noexcept {
  if (text == "localhost") return true;
  in_addr addr{};
  if (::inet_pton(AF_INET, text.c_str(), &addr) != 1) return false;
  unsigned char b[4];
  std::memcpy(b, &addr.s_addr, 4);  // network byte order: b[0] is the first octet
  return b[0] == 127 || b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168);
}

std::optional<std::string> validate_peer(const Peer& p) {
  if (!is_valid_peer_ae(p.ae_title))
    return "the AE title must be 1..16 printable characters without backslash or surrounding spaces";
  if (p.hosts.empty() || p.hosts.size() > 16) return "a peer needs 1..16 host addresses (IPv4)";
  for (std::size_t i = 0; i < p.hosts.size(); ++i) {
    if (!is_ipv4(p.hosts[i])) return "host " + p.hosts[i] + " is not an IPv4 address";
    if (std::find(p.hosts.begin(), p.hosts.begin() + static_cast<std::ptrdiff_t>(i), p.hosts[i]) !=
        p.hosts.begin() + static_cast<std::ptrdiff_t>(i))
      return "host " + p.hosts[i] + " is listed twice";
  }
  if (p.operations.empty()) return "a peer needs at least one operation (echo, store, find, get, move, commit)";
  for (Operation op : p.operations)
    if (op == Operation::admin || op == Operation::audit || op == Operation::remove)
      return std::string("operation '") + to_string(op) + "' cannot be granted to a peer (echo, store, find, get, move, commit)";
  if (!p.cert_sha256.empty() &&
      (p.cert_sha256.size() != 64 || !std::all_of(p.cert_sha256.begin(), p.cert_sha256.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })))
    return "the certificate pin must be 64 lower-case hex digits (SHA-256 of the certificate)";
  if (p.allow_plaintext || p.legacy_tls) {
    const char* what = p.allow_plaintext ? "plaintext" : "legacy TLS";
    for (const std::string& h : p.hosts)
      if (!is_loopback_or_private_ipv4(h))
        return std::string(what) + " is only allowed for loopback or private hosts, and " + h +
               " is neither (register it for TLS only)";
  }
  return std::nullopt;
}

std::optional<Scope> intersect_scopes(const std::optional<Scope>& a, const std::optional<Scope>& b) {
  if (!a) return b;
  if (!b) return a;
  auto common = [](const std::vector<std::string>& x, const std::vector<std::string>& y) {
    std::vector<std::string> out;
    for (const std::string& v : x)
      if (std::find(y.begin(), y.end(), v) != y.end() && std::find(out.begin(), out.end(), v) == out.end())
        out.push_back(v);
    return out;
  };
  Scope s;
  s.institutions = common(a->institutions, b->institutions);
  s.referring_physicians = common(a->referring_physicians, b->referring_physicians);
  s.labels = common(a->labels, b->labels);
  return s;
}

std::set<Operation> operations_for(const std::set<Role>& roles) {
  std::set<Operation> ops;
  for (Role role : roles) {
    switch (role) {
      case Role::admin:
        ops.insert({Operation::echo, Operation::store, Operation::find, Operation::get, Operation::move,
                    Operation::commit, Operation::remove, Operation::admin, Operation::audit});
        break;
      case Role::clinician: ops.insert({Operation::echo, Operation::find, Operation::get, Operation::move}); break;
      case Role::technologist: ops.insert({Operation::echo, Operation::store, Operation::commit}); break;
      case Role::researcher: ops.insert({Operation::find, Operation::get}); break;
      case Role::auditor: ops.insert(Operation::audit); break;
    }
  }
  return ops;
}

std::optional<Scope> effective_scope(const User& user) {
  if (user.roles.contains(Role::researcher) && !user.scope) return Scope{};
  return user.scope;
}

} // namespace tresor
