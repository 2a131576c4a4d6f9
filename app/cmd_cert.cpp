// `tresor cert issue`: a node certificate from the local CA (EKU serverAuth and
// clientAuth), recorded in var/pki/issued/ and optionally pinned to a peer.
// `tresor cert revoke`: adds a certificate to the CA's CRL, which the DIMSE
// TLS listeners check from their next handshake on.
#include <sys/stat.h>

#include <iostream>

#include "commands.h"
#include "instance.h"
#include "security/pki.h"

namespace tresor::app {
namespace fs = std::filesystem;
namespace {

// The CN also names the output files, so it must be a safe file name.
bool is_valid_cn(const std::string& cn) {
  if (cn.empty() || cn.size() > 64 || cn.front() == '.' || cn.front() == ' ' || cn.back() == ' ') return false;
  for (char ch : cn)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
          ch == '.' || ch == '-' || ch == ' '))
      return false;
  return true;
}

} // namespace

int cmd_cert_issue(const Global& global, const CertIssueOptions& o) {
  if (!is_valid_cn(o.cn)) {
    print_error("--cn must be 1..64 chars of A-Z a-z 0-9 _ . - and space, not starting with '.'");
    return kExitUsage;
  }
  if (o.days < 1 || o.days > security::kMaxClientDays) {
    print_error("--days must be between 1 and " + std::to_string(security::kMaxClientDays));
    return kExitUsage;
  }
  const fs::path cert_file = o.out / (o.cn + ".crt");
  const fs::path key_file = o.out / (o.cn + ".key");
  std::error_code ec;
  if (fs::exists(cert_file, ec) || fs::exists(key_file, ec)) {
    print_error(cert_file.string() + " or " + key_file.string() + " already exists; remove it first");
    return kExitFailed;
  }

  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  std::optional<Peer> peer;
  if (!o.peer.empty()) {
    auto found = inst.accounts().find_peer(o.peer);
    if (!found) {
      print_error(found.error().message);
      return kExitFailed;
    }
    if (!*found) {
      print_error("no peer " + o.peer + " (register it first with `tresor peer add`)");
      return kExitFailed;
    }
    peer = **found;
  }

  if (!fs::exists(o.out, ec)) {
    fs::create_directories(o.out, ec);
    if (ec) {
      print_error("cannot create " + o.out.string() + ": " + ec.message());
      return kExitFailed;
    }
    ::chmod(o.out.c_str(), 0700);
  }
  const config::Tls& tls = inst.config().tls;
  auto issued = security::issue_client_cert(tls.ca_file, tls.ca_key_file, o.cn, o.days, cert_file, key_file);
  if (!issued) {
    inst.record_admin("cert issue", o.cn, audit::Outcome::failure);
    print_error("issuing the certificate: " + issued.error().message);
    return kExitFailed;
  }
  // The CA's record of what it issued, so that the certificate can be revoked
  // with its peer (`tresor peer remove`).
  if (auto st = security::record_issued(issued->cert_file, security::issued_dir_for(tls.crl_file)); !st)
    print_error("warning: the certificate was issued but not recorded (" + st.error().message +
                "); revoke it by file if needed");
  auto info = security::cert_file_info(issued->cert_file);
  inst.record_admin("cert issue", o.cn, audit::Outcome::success,
                    {{"sha256", issued->sha256}, {"serial", info ? info->serial : ""}, {"days", std::to_string(o.days)}});

  if (peer) {
    peer->cert_sha256 = issued->sha256;
    if (auto s = inst.accounts().put_peer(*peer); !s) {
      inst.record_admin("peer pin", peer->ae_title, audit::Outcome::failure, {{"cert_sha256", issued->sha256}});
      print_error("the certificate was issued but pinning it to " + peer->ae_title + " failed: " + s.error().message);
      return kExitFailed;
    }
    inst.record_admin("peer pin", peer->ae_title, audit::Outcome::success, {{"cert_sha256", issued->sha256}});
  }
  std::cout << "certificate: " << issued->cert_file.string() << '\n'
            << "key: " << issued->key_file.string() << '\n'
            << "sha256: " << issued->sha256 << '\n';
  if (info) std::cout << "serial: " << info->serial << '\n';
  if (peer) std::cout << "pinned to peer " << peer->ae_title << '\n';
  return kExitOk;
}

int cmd_cert_revoke(const Global& global, const std::string& serial, const fs::path& file) {
  std::string target;
  if (!file.empty()) {
    auto info = security::cert_file_info(file);
    if (!info) {
      print_error(info.error().message);
      return kExitUsage;
    }
    target = info->serial;
  } else {
    target = security::normalise_serial(serial);
    if (target.empty()) {
      print_error("--serial must be a hexadecimal serial number (colons allowed)");
      return kExitUsage;
    }
  }
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  const config::Tls& tls = inst.config().tls;
  auto revoked = security::revoke_serials(tls.ca_file, tls.ca_key_file, tls.crl_file, {target});
  if (!revoked) {
    inst.record_admin("cert revoke", target, audit::Outcome::failure, {{"reason", revoked.error().message}});
    print_error("revoking: " + revoked.error().message);
    return kExitFailed;
  }
  inst.record_admin("cert revoke", target, audit::Outcome::success, {{"crl", tls.crl_file.string()}});
  std::cout << (revoked->empty() ? "already revoked: " : "revoked: ") << target << '\n'
            << "crl: " << tls.crl_file.string() << '\n';
  return kExitOk;
}

} // namespace tresor::app
