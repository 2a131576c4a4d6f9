// `tresor init`: a new instance directory with its PKI, config, index, store,
// audit log and an admin user whose random password is printed once.
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>

#include "commands.h"
#include "instance.h"
#include "security/device_cookie.h"
#include "security/passwords.h"
#include "security/pki.h"

namespace tresor::app {
namespace fs = std::filesystem;
namespace {

std::string generated_ae_title() {
  std::random_device rd;  // not a secret: only needs to differ between installations
  char buf[16];
  std::snprintf(buf, sizeof buf, "TRESOR_%04X", static_cast<unsigned>(rd() & 0xffffu));
  return buf;
}

bool is_dns_name(const std::string& name) {
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.front() == '-' || name.back() == '.')
    return false;
  for (char ch : name)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
          ch == '.'))
      return false;
  return name.find("..") == std::string::npos;
}

Status make_private_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(Errc::io_error, "cannot create " + dir.string() + ": " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0) return fail(Errc::io_error, "cannot chmod 0700 " + dir.string());
  return {};
}

Status write_private_file(const fs::path& file, const std::string& text) {
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return fail(Errc::io_error, "cannot write " + file.string());
  }
  if (::chmod(file.c_str(), 0600) != 0) return fail(Errc::io_error, "cannot chmod 0600 " + file.string());
  return {};
}

// Everything after argument validation; the config file appears last (renamed
// into place), so a failed init can simply be run again.
Result<std::string> initialise(const fs::path& var, const std::string& ae, const InitOptions& options,
                               fs::path& key_file_created) {
  const fs::path pki = var / "pki";
  if (auto s = make_private_dir(var); !s) return std::unexpected(s.error());
  if (auto s = make_private_dir(pki); !s) return std::unexpected(s.error());

  if (auto s = security::create_ca(pki / "ca.crt", pki / "ca.key", "Tresor CA " + ae); !s)
    return fail(s.error().code, "creating the CA: " + s.error().message);
  std::vector<std::string> dns{"localhost"};
  dns.insert(dns.end(), options.dns.begin(), options.dns.end());
  std::vector<std::string> ips{"127.0.0.1"};
  ips.insert(ips.end(), options.ip.begin(), options.ip.end());
  auto server = security::issue_server_cert(pki / "ca.crt", pki / "ca.key", ae, dns, ips, pki / "server.crt",
                                            pki / "server.key");
  if (!server) return fail(server.error().code, "issuing the server certificate: " + server.error().message);
  if (auto devices = security::DeviceCookies::load_or_create(var / "device_cookie.key"); !devices)
    return fail(devices.error().code, "creating the device-cookie key: " + devices.error().message);

  const fs::path final_file = var / "tresor.toml";
  const fs::path temp_file = var / "tresor.toml.new";
  std::string toml = config::sample_toml(ae);
  if (!options.web_root.empty()) {
    // The sample writes `web_root = ""`; point it at the given directory (absolute, TOML-escaped).
    const std::string from = "web_root = \"\"";
    std::string path = fs::absolute(options.web_root).lexically_normal().string(), escaped;
    for (char ch : path) {
      if (ch == '"' || ch == '\\') escaped += '\\';
      escaped += ch;
    }
    if (auto at = toml.find(from); at != std::string::npos) toml.replace(at, from.size(), "web_root = \"" + escaped + "\"");
  }
  if (options.no_encryption) {
    // The sample's [encryption] table says `enabled = true`: the one line after the header.
    const std::string header = "\n[encryption]\n";
    const auto table = toml.find(header);
    const auto line = table == std::string::npos ? table : toml.find("\nenabled = true\n", table);
    if (line == std::string::npos) return fail(Errc::internal, "the sample configuration has no [encryption] enabled line");
    toml.replace(line, std::string("\nenabled = true\n").size(), "\nenabled = false\n");
  }
  if (auto s = write_private_file(temp_file, toml); !s) return std::unexpected(s.error());
  auto config = config::load(temp_file);
  if (!config) return fail(config.error().code, "the generated configuration does not load: " + config.error().message);
  config->config_file = fs::absolute(final_file).lexically_normal();

  // Encryption at rest: the KEK file (outside var/, unless it exists: an
  // operator-provided key, or a re-run after a failed init) and the keyring.
  const config::Encryption& enc = config->encryption;
  if (enc.enabled) {
    std::error_code kec;
    if (!enc.key_file.empty() && !fs::exists(enc.key_file, kec)) {
      if (auto s = crypto::Keyring::create_key_file(enc.key_file); !s) return std::unexpected(s.error());
      key_file_created = enc.key_file;
    }
    if (!fs::exists(crypto::Keyring::file_of(config->var_dir), kec)) {
      auto ring = crypto::Keyring::create({enc.key_file, enc.key_command}, config->var_dir);
      if (!ring) return fail(ring.error().code, "creating the keyring: " + ring.error().message);
    }
  }

  auto instance = Instance::open(std::move(*config));
  if (!instance) return std::unexpected(instance.error());
  Instance& inst = **instance;

  std::string password = security::random_secret();
  auto hash = security::hash_password(password);
  if (!hash) return fail(hash.error().code, "hashing the admin password: " + hash.error().message);
  if (auto s = inst.accounts().put_user(User{"admin", *hash, {Role::admin}, true, std::nullopt}); !s)
    return fail(s.error().code, "creating the admin user: " + s.error().message);

  std::error_code ec;
  fs::rename(temp_file, final_file, ec);
  if (ec) return fail(Errc::io_error, "cannot rename " + temp_file.string() + ": " + ec.message());

  inst.record_admin("init", ae, audit::Outcome::success, {{"server_cert_sha256", server->sha256}});
  inst.record_admin("user add", "admin", audit::Outcome::success, {{"roles", "admin"}});
  return password;
}

} // namespace

int cmd_init(const Global& global, const InitOptions& options) {
  const fs::path var = global.var;
  std::error_code ec;
  if (fs::exists(var / "tresor.toml", ec)) {
    print_error((var / "tresor.toml").string() + " already exists; refusing to initialise over an instance");
    return kExitFailed;
  }
  std::string ae = options.ae_title.empty() ? generated_ae_title() : options.ae_title;
  if (!config::is_valid_ae_title(ae)) {
    print_error("--ae-title must be 1..16 chars of A-Z a-z 0-9 _ . -");
    return kExitUsage;
  }
  for (const std::string& name : options.dns)
    if (!is_dns_name(name)) {
      print_error("--dns " + name + ": not a DNS name");
      return kExitUsage;
    }
  for (const std::string& ip : options.ip)
    if (!is_ipv4(ip)) {
      print_error("--ip " + ip + ": not an IPv4 address");
      return kExitUsage;
    }

  fs::path key_file_created;
  auto password = initialise(var, ae, options, key_file_created);
  if (!password) {
    std::error_code ignored;
    fs::remove(var / "tresor.toml.new", ignored);
    print_error("init failed: " + password.error().message);
    return kExitFailed;
  }
  std::cout << "AE title: " << ae << '\n' << "admin password: " << *password << '\n';
  std::cout.flush();
  std::cerr << "Instance created in " << var.string() << ". The admin password is shown only now.\n";
  if (!key_file_created.empty())
    std::cerr << "Encryption key: " << key_file_created.string()
              << " (outside var/). Back it up separately from var/: without it nothing stored can be read.\n";
  return kExitOk;
}

} // namespace tresor::app
