// `tresor check` and the findings shared with `tresor serve`.
#include <algorithm>
#include <array>
#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "commands.h"
#include "instance.h"
#include "security/passwords.h"

namespace tresor::app {
namespace {

// Passwords that scanners try first (vendor defaults of common archives). The
// user name itself is tried too.
constexpr std::array<std::string_view, 5> kDefaultPasswords{"admin", "orthanc", "password", "changeme", "dicoogle"};

// Each verification costs ~0.1-0.2 s and security/ runs at most two at once,
// so two threads do the work.
std::vector<config::Finding> default_password_findings(const std::vector<User>& users) {
  std::vector<const User*> todo;
  for (const User& u : users)
    if (u.enabled && u.password_hash.starts_with("$argon2id$")) todo.push_back(&u);

  std::vector<config::Finding> findings;
  std::mutex mutex;
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < todo.size(); i = next++) {
      const User& u = *todo[i];
      bool weak = security::verify_password(u.password_hash, u.username);
      for (std::string_view candidate : kDefaultPasswords)
        weak = weak || security::verify_password(u.password_hash, candidate);
      if (weak) {
        std::lock_guard lock(mutex);
        findings.push_back({"user " + u.username + " has a well-known default password",
                            "tresor user passwd " + u.username});
      }
    }
  };
  {
    std::jthread a(work), b(work);
  }
  std::ranges::sort(findings, {}, &config::Finding::what);
  return findings;
}

} // namespace

std::vector<config::Finding> all_findings(Instance& instance) {
  std::vector<config::Finding> findings = config::exposure_check(instance.config(), instance.accounts());
  if (auto users = instance.accounts().list_users(); users) {
    auto weak = default_password_findings(*users);
    findings.insert(findings.end(), weak.begin(), weak.end());
  }
  return findings;
}

int cmd_check(const Global& global) {
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  auto findings = all_findings(**instance);
  if (findings.empty()) {
    std::cout << "no findings\n";
    return kExitOk;
  }
  print_findings(std::cout, findings);
  return kExitFailed;
}

} // namespace tresor::app
