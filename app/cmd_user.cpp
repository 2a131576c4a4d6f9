// `tresor user add | list | passwd | remove`.
#include <iostream>
#include <sstream>

#include "commands.h"
#include "instance.h"
#include "security/passwords.h"
#include "services/export.h"

namespace tresor::app {
namespace {

std::string join_roles(const std::set<Role>& roles) {
  std::string out;
  for (Role r : roles) {
    if (!out.empty()) out += ',';
    out += to_string(r);
  }
  return out.empty() ? "-" : out;
}

// The new password: one line from stdin, or a generated one (printed later).
// Returns "" after printing the reason when it is refused.
std::string choose_password(bool from_stdin, bool& generated) {
  generated = !from_stdin;
  if (!from_stdin) return security::random_secret();
  std::string line;
  if (!std::getline(std::cin, line)) {
    print_error("--password-stdin: no password on stdin");
    return "";
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (security::is_weak_password(line)) {
    print_error("refused: the password is too short, too simple or a well-known default");
    return "";
  }
  return line;
}

} // namespace

int cmd_user_add(const Global& global, const UserAddOptions& o) {
  if (!is_valid_username(o.name)) {
    print_error("user name must be 1..64 chars of A-Z a-z 0-9 _ . @ -");
    return kExitUsage;
  }
  User user;
  user.username = o.name;
  std::stringstream roles(o.roles);
  for (std::string item; std::getline(roles, item, ',');) {
    auto role = parse_role(item);
    if (!role) {
      print_error("--role: unknown role '" + item + "' (use admin,clinician,technologist,researcher,auditor)");
      return kExitUsage;
    }
    user.roles.insert(*role);
  }
  if (user.roles.empty()) {
    print_error("--role must name at least one role");
    return kExitUsage;
  }

  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  auto existing = inst.accounts().find_user(user.username);
  if (!existing) {
    print_error(existing.error().message);
    return kExitFailed;
  }
  if (*existing) {
    print_error("user " + user.username + " already exists (use `tresor user passwd` or `user remove`)");
    return kExitFailed;
  }
  bool generated = false;
  std::string password = choose_password(o.password_stdin, generated);
  if (password.empty()) return kExitFailed;
  auto hash = security::hash_password(password);
  if (!hash) {
    print_error(hash.error().message);
    return kExitFailed;
  }
  user.password_hash = *hash;
  if (auto s = inst.accounts().put_user(user); !s) {
    inst.record_admin("user add", user.username, audit::Outcome::failure);
    print_error(s.error().message);
    return kExitFailed;
  }
  inst.record_admin("user add", user.username, audit::Outcome::success, {{"roles", join_roles(user.roles)}});
  if (generated) std::cout << "password: " << password << '\n';
  std::cout << "added user " << user.username << '\n';
  return kExitOk;
}

int cmd_user_list(const Global& global) {
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  auto users = (*instance)->accounts().list_users();
  if (!users) {
    print_error(users.error().message);
    return kExitFailed;
  }
  for (const User& u : *users)
    std::cout << u.username << "  roles=" << join_roles(u.roles) << "  " << (u.enabled ? "enabled" : "disabled")
              << '\n';
  return kExitOk;
}

int cmd_user_passwd(const Global& global, const std::string& name, bool password_stdin) {
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  auto existing = inst.accounts().find_user(name);
  if (!existing) {
    print_error(existing.error().message);
    return kExitFailed;
  }
  if (!*existing) {
    print_error("no user " + name);
    return kExitFailed;
  }
  bool generated = false;
  std::string password = choose_password(password_stdin, generated);
  if (password.empty()) return kExitFailed;
  auto hash = security::hash_password(password);
  if (!hash) {
    print_error(hash.error().message);
    return kExitFailed;
  }
  User user = **existing;
  user.password_hash = *hash;
  if (auto s = inst.accounts().put_user(user); !s) {
    inst.record_admin("user passwd", name, audit::Outcome::failure);
    print_error(s.error().message);
    return kExitFailed;
  }
  inst.record_admin("user passwd", name, audit::Outcome::success);
  if (generated) std::cout << "password: " << password << '\n';
  return kExitOk;
}

int cmd_user_remove(const Global& global, const std::string& name) {
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  auto removed = inst.accounts().remove_user(name);
  if (!removed) {
    print_error(removed.error().message);
    return kExitFailed;
  }
  if (!*removed) {
    print_error("no user " + name);
    return kExitFailed;
  }
  inst.record_admin("user remove", name, audit::Outcome::success);
  std::cout << "removed user " << name << '\n';
  return kExitOk;
}

// `tresor user set-project NAME --project P...`: the user's scope becomes
// the labels of these research projects (services::research_label), which
// only the de-identified copies of exports to them carry.
int cmd_user_set_project(const Global& global, const std::string& name, const std::vector<std::string>& projects) {
  Scope scope;
  for (const std::string& p : projects) {
    if (!services::is_valid_project(p)) {
      print_error("--project: a project name is 1..55 characters of [A-Za-z0-9_.-]");
      return kExitUsage;
    }
    scope.labels.push_back(services::research_label(p));
  }
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  auto existing = inst.accounts().find_user(name);
  if (!existing) {
    print_error(existing.error().message);
    return kExitFailed;
  }
  if (!*existing) {
    print_error("no user " + name);
    return kExitFailed;
  }
  User user = **existing;
  user.scope = scope;
  std::string labels;
  for (const auto& l : scope.labels) labels += (labels.empty() ? "" : ",") + l;
  if (auto s = inst.accounts().put_user(user); !s) {
    inst.record_admin("user set-project", name, audit::Outcome::failure);
    print_error(s.error().message);
    return kExitFailed;
  }
  inst.record_admin("user set-project", name, audit::Outcome::success, {{"labels", labels}});
  std::cout << "user " << name << " now sees only studies labelled " << labels << '\n';
  return kExitOk;
}

} // namespace tresor::app
