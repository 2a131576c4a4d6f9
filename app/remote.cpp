// `tresor --server URL ...`: the admin verbs over the REST API (remote.h).
#include "remote.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/fetch.h"
#include "instance.h"

namespace tresor::app {
namespace {

using nlohmann::json;

struct Answer {
  unsigned status = 0;
  json body;  // null when the answer had no JSON body
};

// The token: $TRESOR_TOKEN, or the first line of the token file.
std::string token_of(const Remote& r) {
  std::string token;
  if (!r.token_file.empty()) {
    std::ifstream in(r.token_file);
    if (!in) return "";
    std::getline(in, token);
  } else if (const char* env = std::getenv("TRESOR_TOKEN")) {
    token = env;
  }
  while (!token.empty() && (token.back() == '\r' || token.back() == '\n' || token.back() == ' ')) token.pop_back();
  return token;
}

// Percent-encodes one path segment (AE titles may contain spaces).
std::string segment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~' || c == '@') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// One API call. Prints the reason and returns nullopt on a transport error,
// a missing token or an error status (the server's "error" text if any).
std::optional<Answer> call(const Remote& r, const std::string& method, const std::string& path,
                           const json* body = nullptr) {
  const std::string token = token_of(r);
  if (token.empty()) {
    print_error(r.token_file.empty() ? "no API token: set TRESOR_TOKEN (or use --token-file FILE)"
                                     : "no API token in " + r.token_file.string());
    return std::nullopt;
  }
  http::HttpsRequest req;
  req.method = method;
  std::string base = r.server;
  while (!base.empty() && base.back() == '/') base.pop_back();
  req.url = base + path;
  req.ca_file = r.ca_file;
  req.headers.emplace_back("Authorization", "Bearer " + token);
  req.headers.emplace_back("Accept", "application/json");
  if (body) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = body->dump();
  }
  auto rsp = http::https_request(req);
  if (!rsp) {
    print_error(rsp.error().message);
    return std::nullopt;
  }
  Answer a;
  a.status = rsp->status;
  if (!rsp->body.empty()) a.body = json::parse(rsp->body, nullptr, false);
  if (a.body.is_discarded()) a.body = nullptr;
  if (a.status >= 200 && a.status < 300) return a;
  std::string reason = "HTTP " + std::to_string(a.status);
  if (a.body.is_object() && a.body.contains("error") && a.body["error"].is_string())
    reason += ": " + a.body["error"].get<std::string>();
  else if (a.status == 401)
    reason += ": the token was refused (expired, revoked or unknown)";
  else if (a.status == 403)
    reason += ": the token's user is not allowed to do this";
  print_error(reason);
  return std::nullopt;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string joined(const json& arr) {
  std::string out;
  if (arr.is_array())
    for (const json& v : arr) {
      if (!out.empty()) out += ',';
      out += v.is_string() ? v.get<std::string>() : v.dump();
    }
  return out.empty() ? "-" : out;
}

std::string str(const json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_string() ? obj[key].get<std::string>() : std::string();
}

bool flag(const json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_boolean() && obj[key].get<bool>();
}

// A password from stdin (the server applies the weak-password check).
std::optional<std::string> password_from_stdin() {
  std::string line;
  if (!std::getline(std::cin, line)) {
    print_error("--password-stdin: no password on stdin");
    return std::nullopt;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

} // namespace

int remote_peer_add(const Remote& r, const PeerAddOptions& o) {
  json body{{"ae_title", o.ae_title},
            {"hosts", o.hosts},
            {"port", o.port},
            {"operations", split_list(o.ops)},
            {"require_user_identity", o.require_user},
            {"allow_plaintext", o.plaintext},
            {"legacy_tls", o.legacy_tls},
            {"unlimited_find", o.unlimited_find},
            {"unlimited_retrieve", o.unlimited_retrieve}};
  if (!o.cert_sha256.empty()) body["cert_sha256"] = o.cert_sha256;
  auto a = call(r, "POST", "/api/peers", &body);
  if (!a) return kExitFailed;
  std::cout << "registered peer " << o.ae_title << '\n';
  return kExitOk;
}

int remote_peer_list(const Remote& r) {
  auto a = call(r, "GET", "/api/peers");
  if (!a) return kExitFailed;
  if (!a->body.is_array()) {
    print_error("unexpected answer from the server");
    return kExitFailed;
  }
  for (const json& p : a->body) {
    std::vector<std::string> flags;
    if (!str(p, "cert_sha256").empty()) flags.push_back("cert-sha256=" + str(p, "cert_sha256"));
    if (flag(p, "require_user_identity")) flags.push_back("require-user");
    if (flag(p, "allow_plaintext")) flags.push_back("plaintext");
    if (flag(p, "legacy_tls")) flags.push_back("legacy-tls");
    if (flag(p, "unlimited_find")) flags.push_back("unlimited-find");
    if (flag(p, "unlimited_retrieve")) flags.push_back("unlimited-retrieve");
    std::cout << str(p, "ae_title") << "  hosts=" << joined(p.value("hosts", json::array()))
              << "  port=" << p.value("port", 0) << "  ops=" << joined(p.value("operations", json::array()))
              << "  flags=" << joined(json(flags)) << '\n';
  }
  return kExitOk;
}

int remote_peer_remove(const Remote& r, const std::string& ae) {
  if (!call(r, "DELETE", "/api/peers/" + segment(ae))) return kExitFailed;
  std::cout << "removed peer " << ae << '\n';
  return kExitOk;
}

int remote_user_add(const Remote& r, const UserAddOptions& o) {
  json body{{"username", o.name}, {"roles", split_list(o.roles)}};
  if (o.password_stdin) {
    auto pw = password_from_stdin();
    if (!pw) return kExitFailed;
    body["password"] = *pw;
  }
  auto a = call(r, "POST", "/api/users", &body);
  if (!a) return kExitFailed;
  if (auto pw = str(a->body, "password"); !pw.empty()) std::cout << "password: " << pw << '\n';
  std::cout << "added user " << o.name << '\n';
  return kExitOk;
}

int remote_user_list(const Remote& r) {
  auto a = call(r, "GET", "/api/users");
  if (!a) return kExitFailed;
  if (!a->body.is_array()) {
    print_error("unexpected answer from the server");
    return kExitFailed;
  }
  for (const json& u : a->body)
    std::cout << str(u, "username") << "  roles=" << joined(u.value("roles", json::array())) << "  "
              << (flag(u, "enabled") ? "enabled" : "disabled") << '\n';
  return kExitOk;
}

int remote_user_passwd(const Remote& r, const std::string& name, bool password_stdin) {
  json body = json::object();
  if (password_stdin) {
    auto pw = password_from_stdin();
    if (!pw) return kExitFailed;
    body["password"] = *pw;
  }
  auto a = call(r, "PUT", "/api/users/" + segment(name) + "/password", &body);
  if (!a) return kExitFailed;
  if (auto pw = str(a->body, "password"); !pw.empty()) std::cout << "password: " << pw << '\n';
  return kExitOk;
}

int remote_user_remove(const Remote& r, const std::string& name) {
  if (!call(r, "DELETE", "/api/users/" + segment(name))) return kExitFailed;
  std::cout << "removed user " << name << '\n';
  return kExitOk;
}

int remote_quarantine_list(const Remote& r) {
  auto a = call(r, "GET", "/api/quarantine");
  if (!a) return kExitFailed;
  if (!a->body.is_array()) {
    print_error("unexpected answer from the server");
    return kExitFailed;
  }
  for (const json& q : a->body)
    std::cout << q.value("id", 0) << "  " << str(q, "received_at") << "  " << str(q, "sop_instance_uid") << "  "
              << str(q, "reason") << '\n';
  return kExitOk;
}

int remote_quarantine_release(const Remote& r, std::int64_t id) {
  if (!call(r, "POST", "/api/quarantine/" + std::to_string(id) + "/release")) return kExitFailed;
  std::cout << "released " << id << '\n';
  return kExitOk;
}

int remote_quarantine_drop(const Remote& r, std::int64_t id) {
  if (!call(r, "DELETE", "/api/quarantine/" + std::to_string(id))) return kExitFailed;
  std::cout << "dropped " << id << '\n';
  return kExitOk;
}

int remote_check(const Remote& r) {
  auto a = call(r, "GET", "/api/exposure");
  if (!a) return kExitFailed;
  if (!a->body.is_array()) {
    print_error("unexpected answer from the server");
    return kExitFailed;
  }
  if (a->body.empty()) {
    std::cout << "no findings\n";
    return kExitOk;
  }
  for (const json& f : a->body) std::cout << "FINDING: " << str(f, "what") << "\n  fix: " << str(f, "fix") << '\n';
  return kExitFailed;
}

int remote_patient_update(const Remote& r, const PatientUpdateOptions& o) {
  if (!o.name && !o.birth_date && !o.sex) {
    print_error("nothing to change: give --name, --birth-date or --sex");
    return kExitUsage;
  }
  json body = json::object();
  if (o.name) body["name"] = *o.name;
  if (o.birth_date) body["birth_date"] = *o.birth_date;
  if (o.sex) body["sex"] = *o.sex;
  std::string path = "/api/patients/" + segment(o.patient_id);
  if (!o.issuer.empty()) path += "?issuer=" + segment(o.issuer);
  if (!call(r, "PUT", path, &body)) return kExitFailed;
  std::cout << "updated\n";
  return kExitOk;
}

} // namespace tresor::app
