// `tresor check` and the findings shared with `tresor serve`.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
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

// A password hash found not to be a default is remembered (var/checked-passwords:
// one 64-bit FNV-1a digest of the PHC string per line, mode 0600), so start-up
// costs Argon2id work only for hashes not seen before. A changed password has
// a new salt, hence a new PHC string, and is checked again. (Every setter
// already refuses weak passwords; this catches hashes written by other means.)
std::string phc_digest(std::string_view phc) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : phc) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::set<std::string> read_checked(const std::filesystem::path& file) {
  std::set<std::string> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line) && out.size() < 1000000;)
    if (line.size() == 16) out.insert(line);
  return out;
}

void write_checked(const std::filesystem::path& file, const std::set<std::string>& digests) {
  const std::filesystem::path tmp = file.string() + ".new";
  {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return;
    std::string text;
    for (const auto& d : digests) text += d + "\n";
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ok = ::close(fd) == 0 && ok;
    if (!ok) return;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
}

// Each verification costs ~0.1-0.2 s and security/ runs at most two at once,
// so two threads do the work.
std::vector<config::Finding> default_password_findings(const std::vector<User>& users,
                                                       const std::filesystem::path& memo) {
  std::set<std::string> checked = read_checked(memo);
  std::vector<const User*> todo;
  for (const User& u : users)
    if (u.enabled && u.password_hash.starts_with("$argon2id$") && !checked.contains(phc_digest(u.password_hash)))
      todo.push_back(&u);
  if (todo.empty()) return {};

  std::vector<config::Finding> findings;
  std::mutex mutex;
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < todo.size(); i = next++) {
      const User& u = *todo[i];
      bool weak = security::verify_password(u.password_hash, u.username);
      for (std::string_view candidate : kDefaultPasswords)
        weak = weak || security::verify_password(u.password_hash, candidate);
      std::lock_guard lock(mutex);
      if (weak)
        findings.push_back({"user " + u.username + " has a well-known default password",
                            "tresor user passwd " + u.username});
      else
        checked.insert(phc_digest(u.password_hash));
    }
  };
  {
    std::jthread a(work), b(work);
  }
  write_checked(memo, checked);
  std::ranges::sort(findings, {}, &config::Finding::what);
  return findings;
}

} // namespace

std::vector<config::Finding> all_findings(Instance& instance) {
  std::vector<config::Finding> findings = config::exposure_check(instance.config(), instance.accounts());
  if (auto users = instance.accounts().list_users(); users) {
    auto weak = default_password_findings(*users, instance.config().var_dir / "checked-passwords");
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
  // Only warnings (risks enabled on purpose): reported, exit status 0 like `serve` starting.
  return std::ranges::all_of(findings, [](const config::Finding& f) { return f.warning; }) ? kExitOk : kExitFailed;
}

} // namespace tresor::app
