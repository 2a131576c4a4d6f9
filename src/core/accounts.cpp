#include "core/accounts.h"

#include <arpa/inet.h>

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
      case Role::researcher: break;
      case Role::auditor: ops.insert(Operation::audit); break;
    }
  }
  return ops;
}

} // namespace tresor
