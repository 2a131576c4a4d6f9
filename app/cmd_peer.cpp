// `tresor peer add | list | remove`. Registrations are validated by
// validate_peer() (core/accounts.h), exactly as POST /api/peers does.
// Removing a peer also revokes the certificates the local CA issued for it.
#include <algorithm>
#include <cctype>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "instance.h"
#include "security/pki.h"

namespace tresor::app {
namespace {

std::string join_ops(const std::set<Operation>& ops) {
  std::string out;
  for (Operation op : ops) {
    if (!out.empty()) out += ',';
    out += to_string(op);
  }
  return out.empty() ? "-" : out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += ',';
    out += s;
  }
  return out.empty() ? "-" : out;
}

// "aa:BB:..." or "aabb..." -> 64 lowercase hex chars, or "" if not a SHA-256.
std::string normalise_sha256(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(ch))) return "";
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return out.size() == 64 ? out : "";
}

} // namespace

int cmd_peer_add(const Global& global, const PeerAddOptions& o) {
  if (!is_valid_peer_ae(o.ae_title)) {
    print_error("AE title must be 1..16 printable characters without backslash or surrounding spaces");
    return kExitUsage;
  }
  Peer peer;
  peer.ae_title = o.ae_title;
  for (const std::string& host : o.hosts) {
    if (!is_ipv4(host)) {
      print_error("--host " + host + ": not an IPv4 address");
      return kExitUsage;
    }
    if (std::ranges::find(peer.hosts, host) == peer.hosts.end()) peer.hosts.push_back(host);
  }
  if (peer.hosts.empty()) {
    print_error("at least one --host is required");
    return kExitUsage;
  }
  std::stringstream ops(o.ops);
  for (std::string item; std::getline(ops, item, ',');) {
    auto op = parse_operation(item);
    if (!op) {
      print_error("--ops: unknown operation '" + item + "' (use echo,store,find,get,move,commit)");
      return kExitUsage;
    }
    peer.operations.insert(*op);
  }
  if (peer.operations.empty()) {
    print_error("--ops must name at least one operation");
    return kExitUsage;
  }
  if (!o.cert_sha256.empty()) {
    peer.cert_sha256 = normalise_sha256(o.cert_sha256);
    if (peer.cert_sha256.empty()) {
      print_error("--cert-sha256 must be 64 hex digits (colons allowed)");
      return kExitUsage;
    }
  }
  peer.port = o.port;
  peer.require_user_identity = o.require_user;
  peer.allow_plaintext = o.plaintext;
  peer.legacy_tls = o.legacy_tls;
  peer.unlimited_find = o.unlimited_find;
  peer.unlimited_retrieve = o.unlimited_retrieve;
  if (auto problem = validate_peer(peer)) {
    print_error("refused: " + *problem);
    return kExitFailed;
  }

  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  auto existing = inst.accounts().find_peer(peer.ae_title);
  if (!existing) {
    print_error(existing.error().message);
    return kExitFailed;
  }
  // Re-registering keeps a pinned certificate unless a new one is given.
  if (*existing && peer.cert_sha256.empty()) peer.cert_sha256 = (*existing)->cert_sha256;

  std::vector<std::pair<std::string, std::string>> details{
      {"hosts", join(peer.hosts)}, {"port", std::to_string(peer.port)}, {"ops", join_ops(peer.operations)},
      {"require_user", peer.require_user_identity ? "true" : "false"},
      {"plaintext", peer.allow_plaintext ? "true" : "false"}, {"legacy_tls", peer.legacy_tls ? "true" : "false"},
      {"unlimited_find", peer.unlimited_find ? "true" : "false"},
      {"unlimited_retrieve", peer.unlimited_retrieve ? "true" : "false"}, {"cert_sha256", peer.cert_sha256}};
  if (auto s = inst.accounts().put_peer(peer); !s) {
    inst.record_admin("peer add", peer.ae_title, audit::Outcome::failure, details);
    print_error(s.error().message);
    return kExitFailed;
  }
  inst.record_admin(*existing ? "peer replace" : "peer add", peer.ae_title, audit::Outcome::success, details);
  std::cout << (*existing ? "replaced" : "added") << " peer " << peer.ae_title << '\n';
  return kExitOk;
}

int cmd_peer_list(const Global& global) {
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  auto peers = (*instance)->accounts().list_peers();
  if (!peers) {
    print_error(peers.error().message);
    return kExitFailed;
  }
  for (const Peer& p : *peers) {
    std::cout << p.ae_title << "  hosts=" << join(p.hosts) << "  port=" << p.port
              << "  ops=" << join_ops(p.operations);
    std::vector<std::string> flags;
    if (!p.cert_sha256.empty()) flags.push_back("cert-sha256=" + p.cert_sha256);
    if (p.require_user_identity) flags.push_back("require-user");
    if (p.allow_plaintext) flags.push_back("plaintext");
    if (p.legacy_tls) flags.push_back("legacy-tls");
    if (p.unlimited_find) flags.push_back("unlimited-find");
    if (p.unlimited_retrieve) flags.push_back("unlimited-retrieve");
    std::cout << "  flags=" << join(flags) << '\n';
  }
  return kExitOk;
}

int cmd_peer_remove(const Global& global, const std::string& ae_title) {
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  auto before = inst.accounts().find_peer(ae_title);
  if (!before) {
    print_error(before.error().message);
    return kExitFailed;
  }
  auto removed = inst.accounts().remove_peer(ae_title);
  if (!removed) {
    print_error(removed.error().message);
    return kExitFailed;
  }
  if (!*removed) {
    print_error("no peer " + ae_title);
    return kExitFailed;
  }
  inst.record_admin("peer remove", ae_title, audit::Outcome::success);
  std::cout << "removed peer " << ae_title << '\n';
  // Its certificates stop working at once (the listeners re-read the CRL on
  // the next handshake), also for a later peer registered under that name.
  const config::Tls& tls = inst.config().tls;
  const std::string pin = *before ? (*before)->cert_sha256 : std::string{};
  auto revoked = security::revoke_peer_certificates(tls.ca_file, tls.ca_key_file, tls.crl_file, ae_title, pin);
  if (!revoked) {
    inst.record_admin("cert revoke", ae_title, audit::Outcome::failure, {{"reason", revoked.error().message}});
    print_error("the peer was removed but its certificates could not be revoked: " + revoked.error().message +
                " (revoke them with `tresor cert revoke --file`)");
    return kExitFailed;
  }
  for (const std::string& serial : *revoked) {
    inst.record_admin("cert revoke", serial, audit::Outcome::success, {{"peer", ae_title}});
    std::cout << "revoked certificate " << serial << '\n';
  }
  return kExitOk;
}

} // namespace tresor::app
