// The exposure check: configurations and registrations that would expose the
// archive or its patient data. `tresor serve` refuses to start on any finding.
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "config/config.h"

namespace tresor::config {
namespace fs = std::filesystem;

namespace {

bool parse_ipv4(const std::string& text, unsigned char (&b)[4]) {
  in_addr addr{};
  if (inet_pton(AF_INET, text.c_str(), &addr) != 1) return false;
  static_assert(sizeof addr.s_addr == 4);
  std::memcpy(b, &addr.s_addr, 4);  // network byte order: b[0] is the first octet
  return true;
}

bool is_loopback(const std::string& host) {
  unsigned char b[4];
  return host == "localhost" || (parse_ipv4(host, b) && b[0] == 127);
}

std::string config_name(const Config& c) {
  return c.config_file.empty() ? std::string("tresor.toml") : c.config_file.string();
}

void check_file(std::vector<Finding>& out, const fs::path& file, const char* what, const Config& c, bool secret) {
  struct stat st{};
  if (file.empty() || ::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(file.c_str(), R_OK) != 0) {
    out.push_back({std::string("the TLS ") + what + " (" + file.string() + ") is missing or unreadable",
                   "restore the file, or point [tls] in " + config_name(c) + " at a readable one"});
    return;
  }
  if (secret && (st.st_mode & 077) != 0)
    out.push_back({std::string("the ") + what + " (" + file.string() + ") is readable by group or others",
                   "chmod 600 " + file.string()});
}

} // namespace

bool is_loopback_or_private(const std::string& ipv4) noexcept { return is_loopback_or_private_ipv4(ipv4); }

std::vector<Finding> exposure_check(const Config& c, AccountRepository& accounts) {
  std::vector<Finding> out;
  const Dimse& d = c.dimse;
  const std::string file = config_name(c);

  if (d.plaintext_enabled && d.tls_port == 0 && !is_loopback(d.plaintext_bind))
    out.push_back({"the TLS listener is off (tls_port = 0) while the plaintext listener serves " + d.plaintext_bind +
                       " beyond this host",
                   "in " + file + " [dimse], set tls_port = 2762 and either plaintext_enabled = false or "
                                  "plaintext_bind = \"127.0.0.1\""});
  if (d.plaintext_enabled && !is_loopback_or_private(d.plaintext_bind))
    out.push_back({"the plaintext listener is bound to " + d.plaintext_bind +
                       ", which is not a loopback or private address",
                   "in " + file + " [dimse], set plaintext_bind = \"127.0.0.1\" (or a private address) or "
                                  "plaintext_enabled = false"});

  // Deliberately disabled (benchmarks): a warning, so `serve` starts, never silent.
  if (!c.encryption.enabled)
    out.push_back({"encryption at rest is off: stored objects lie in the clear under " + c.store_dir().string() +
                       " (whoever copies the disk reads them)",
                   "set enabled = true in " + file + " [encryption] (objects stored meanwhile stay unencrypted)",
                   true});

  if (d.legacy_tls_enabled && !is_loopback_or_private(d.legacy_tls_bind))
    out.push_back({"the legacy-TLS listener is bound to " + d.legacy_tls_bind +
                       ", which is not a loopback or private address",
                   "in " + file + " [dimse], set legacy_tls_bind to a private address or legacy_tls_enabled = false"});

  if (d.tls_port != 0 || d.legacy_tls_enabled) {
    check_file(out, c.tls.cert_file, "server certificate", c, false);
    check_file(out, c.tls.key_file, "server private key", c, true);
    check_file(out, c.tls.ca_file, "client CA certificate", c, false);
  }
  // The CA key is optional (it may be kept offline) but must be private when present.
  std::error_code ec;
  // An unreadable CRL makes the DIMSE listeners refuse every certificate it covers.
  if (!c.tls.crl_file.empty() && fs::exists(c.tls.crl_file, ec))
    check_file(out, c.tls.crl_file, "certificate revocation list", c, false);
  if (!c.tls.ca_key_file.empty() && fs::exists(c.tls.ca_key_file, ec))
    check_file(out, c.tls.ca_key_file, "CA private key", c, true);
  // The device-cookie key (created by init or the first serve): anyone reading it can mint device cookies.
  if (fs::exists(c.device_key_file(), ec)) check_file(out, c.device_key_file(), "device-cookie key", c, true);

  if (auto peers = accounts.list_peers(); !peers) {
    out.push_back({"the registered peers cannot be read: " + peers.error().message,
                   "check that " + (c.var_dir / "index.db").string() + " is readable by this user"});
  } else {
    std::string legacy_peers;
    for (const Peer& p : *peers) {
      if (p.legacy_tls) legacy_peers += (legacy_peers.empty() ? "" : ", ") + p.ae_title;
      if (p.legacy_tls)
        for (const std::string& h : p.hosts)
          if (!is_loopback_or_private(h))
            out.push_back({"peer " + p.ae_title + " may use the legacy-TLS listener from " + h +
                               ", which is not a loopback or private address",
                           "re-register " + p.ae_title + " without --legacy-tls (BCP 195 TLS only)"});
      if (p.hosts.empty()) {
        if (p.allow_plaintext && d.plaintext_enabled)
          out.push_back({"peer " + p.ae_title + " may use the plaintext listener from any address (no host pinned)",
                         "tresor peer add " + p.ae_title + " --host <its IPv4 address> ... (re-register with hosts)"});
        else
          out.push_back({"peer " + p.ae_title + " has no registered host address",
                         "tresor peer add " + p.ae_title + " --host <its IPv4 address> ... (re-register with hosts)"});
      }
      if (p.allow_plaintext)
        for (const std::string& h : p.hosts)
          if (!is_loopback_or_private(h))
            out.push_back({"peer " + p.ae_title + " may use the plaintext listener from " + h +
                               ", which is not a loopback or private address",
                           "re-register " + p.ae_title + " without --plaintext (TLS only)"});
    }
    // Deliberately enabled and restricted by the validation above: a warning,
    // so that `serve` starts, but never silent.
    if (d.legacy_tls_enabled)
      out.push_back({"the legacy-TLS listener (" + d.legacy_tls_bind + ":" + std::to_string(d.legacy_tls_port) +
                         ") accepts retired cipher suites (TLS 1.2 with RSA key exchange and CBC/SHA-1: no forward "
                         "secrecy, so whoever records the traffic and later obtains the server key reads every "
                         "image sent; weaker integrity) for " +
                         (legacy_peers.empty() ? std::string("no peer yet") : "the peers " + legacy_peers),
                     "upgrade those peers to TLS 1.2 ECDHE with AES-GCM (or TLS 1.3), then set "
                     "legacy_tls_enabled = false in " + file + " [dimse]",
                     true});
  }

  if (auto users = accounts.list_users(); !users) {
    out.push_back({"the registered users cannot be read: " + users.error().message,
                   "check that " + (c.var_dir / "index.db").string() + " is readable by this user"});
  } else {
    for (const User& u : *users) {
      if (!u.enabled) continue;
      if (u.password_hash.empty())
        out.push_back({"user " + u.username + " has no password", "tresor user passwd " + u.username});
      else if (!u.password_hash.starts_with("$argon2id$"))
        out.push_back({"user " + u.username + "'s password is not stored as an Argon2id hash",
                       "tresor user passwd " + u.username});
    }
  }
  return out;
}

} // namespace tresor::config
