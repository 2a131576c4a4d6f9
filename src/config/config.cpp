// load() and sample_toml(), both driven by the option list in options.cpp.
#include "config/config.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <map>
#include <sstream>
#include <set>
#include <toml++/toml.h>

#include "config/options.h"

namespace tresor::config {
namespace fs = std::filesystem;
using detail::FieldRef;
using detail::Option;

namespace {

constexpr std::array<std::string_view, 7> kLogLevels{"trace", "debug", "info", "warn", "error", "critical", "off"};
// Asymmetric JWS algorithms only: "none" and HMAC (HS*) are never acceptable.
// Exactly what security/jwt.cpp verifies (a configured algorithm it cannot
// verify would load here and then fail at start-up).
constexpr std::array<std::string_view, 3> kJwtAlgorithms{"RS256", "ES256", "EdDSA"};

template <class... Ts> struct Overloaded : Ts... { using Ts::operator()...; };
template <class... Ts> Overloaded(Ts...) -> Overloaded<Ts...>;  // for clang < 17 (no aggregate CTAD)

bool is_ipv4(const std::string& text) {
  in_addr addr{};
  return inet_pton(AF_INET, text.c_str(), &addr) == 1;
}

const Option* find_option(std::string_view table, std::string_view key) {
  for (const Option& o : detail::options())
    if (o.table == table && o.key == key) return &o;
  return nullptr;
}

bool is_known_table(std::string_view name) {
  return std::ranges::any_of(detail::tables(), [&](const detail::Table& t) { return t.name == name; });
}

std::string dotted(std::string_view table, std::string_view key) {
  return table.empty() ? std::string(key) : std::string(table) + "." + std::string(key);
}

// Collects every problem of one file, each prefixed with file:line:col.
class Loader {
public:
  explicit Loader(fs::path file) : file_(std::move(file)) {}

  std::string at(const toml::source_region& where) const {
    std::ostringstream out;
    out << file_.string() << ':' << where.begin.line << ':' << where.begin.column;
    return out.str();
  }
  // Position of an option's value if the file set it, else just the file name.
  std::string at(std::string_view table, std::string_view key) const {
    auto it = seen_.find(dotted(table, key));
    return it == seen_.end() ? file_.string() : at(it->second);
  }
  bool seen(std::string_view table, std::string_view key) const { return seen_.contains(dotted(table, key)); }

  void error(std::string where, const std::string& message) { errors_.push_back(std::move(where) + ": " + message); }
  const std::vector<std::string>& errors() const { return errors_; }

  void read(const toml::table& root, Config& config) {
    for (auto&& [key, node] : root) {
      std::string_view name = key.str();
      if (node.is_table()) {
        if (!is_known_table(name)) {
          error(at(key.source()), "unknown table [" + std::string(name) + "]");
          continue;
        }
        for (auto&& [inner_key, inner] : *node.as_table()) set(name, inner_key, inner, config);
      } else if (is_known_table(name)) {
        std::string message = "'";
        message.append(name).append("' must be a table ([").append(name).append("])");
        error(at(node.source()), message);
      } else {
        set("", key, node, config);
      }
    }
  }

private:
  void set(std::string_view table, const toml::key& key, const toml::node& node, Config& config) {
    const Option* option = find_option(table, key.str());
    std::string name = dotted(table, key.str());
    // Removed options, still present in files written by older versions:
    // accepted and ignored (login.account_*: the hard account lock became
    // throttling, see login_throttle.h).
    if (option == nullptr && table == "login" &&
        (key.str() == "account_max_failures" || key.str() == "account_window_s" || key.str() == "account_lock_s")) {
      return;
    }
    if (option == nullptr) {
      error(at(key.source()), "unknown key '" + name + "'");
      return;
    }
    seen_.emplace(name, node.source());
    auto wrong_type = [&](const char* expected) {
      error(at(node.source()), "'" + name + "' must be " + expected);
    };
    auto set_integer = [&](auto* field) {
      if (!node.is_integer()) return wrong_type("an integer");
      std::int64_t v = node.as_integer()->get();
      if (v < option->min || v > option->max) {
        error(at(node.source()), "'" + name + "' must be between " + std::to_string(option->min) + " and " +
                                     std::to_string(option->max) + " (got " + std::to_string(v) + ")");
        return;
      }
      *field = static_cast<std::remove_pointer_t<decltype(field)>>(v);
    };
    std::visit(Overloaded{
                   [&](std::string* field) {
                     if (!node.is_string()) return wrong_type("a string");
                     *field = node.as_string()->get();
                   },
                   [&](fs::path* field) {
                     if (!node.is_string()) return wrong_type("a string (a path)");
                     *field = fs::path(node.as_string()->get());
                   },
                   [&](bool* field) {
                     if (!node.is_boolean()) return wrong_type("true or false");
                     *field = node.as_boolean()->get();
                   },
                   [&](std::vector<std::string>* field) {
                     const toml::array* array = node.as_array();
                     if (array == nullptr || !std::ranges::all_of(*array, [](const toml::node& n) {
                           return n.is_string();
                         }))
                       return wrong_type("an array of strings");
                     field->clear();
                     for (const toml::node& n : *array) field->push_back(n.as_string()->get());
                   },
                   [&](auto* field) { set_integer(field); },
               },
               option->field(config));
  }

  fs::path file_;
  std::map<std::string, toml::source_region> seen_;
  std::vector<std::string> errors_;
};

fs::path resolve(const fs::path& base, const fs::path& p) {
  if (p.empty()) return p;
  fs::path r = p.is_absolute() ? p.lexically_normal() : (base / p).lexically_normal();
  if (r.filename().empty() && r.has_relative_path()) r = r.parent_path();  // "dir/." -> "dir"
  return r;
}

// https://host[:port][/path][?query]: no user info, no fragment, no spaces or
// control characters (http::https_get applies the exact rules).
bool is_https_url(std::string_view url) {
  constexpr std::string_view scheme = "https://";
  if (!url.starts_with(scheme)) return false;
  if (std::ranges::any_of(url, [](char ch) {
        auto u = static_cast<unsigned char>(ch);
        return u <= 0x20 || u >= 0x7f || ch == '#' || ch == '\\';
      }))
    return false;
  std::string_view authority = url.substr(scheme.size());
  authority = authority.substr(0, authority.find_first_of("/?"));
  return !authority.empty() && authority.find('@') == std::string_view::npos && authority[0] != ':';
}

bool is_readable_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), R_OK) == 0;
}

void validate(Loader& l, Config& c) {
  const Dimse& d = c.dimse;
  if (!l.seen("dimse", "ae_title"))
    l.error(l.at("dimse", "ae_title"), "'dimse.ae_title' is required (1..16 chars of A-Z a-z 0-9 _ . -)");
  else if (!is_valid_ae_title(d.ae_title))
    l.error(l.at("dimse", "ae_title"), "'dimse.ae_title' must be 1..16 chars of A-Z a-z 0-9 _ . -");

  if (std::ranges::find(kLogLevels, c.log_level) == kLogLevels.end())
    l.error(l.at("", "log_level"), "'log_level' must be one of trace, debug, info, warn, error, critical, off");

  if (!is_ipv4(d.tls_bind)) l.error(l.at("dimse", "tls_bind"), "'dimse.tls_bind' must be an IPv4 address");
  if (!is_ipv4(d.plaintext_bind))
    l.error(l.at("dimse", "plaintext_bind"), "'dimse.plaintext_bind' must be an IPv4 address");
  else if (d.plaintext_enabled && !is_loopback_or_private(d.plaintext_bind))
    l.error(l.at("dimse", "plaintext_bind"),
            "'dimse.plaintext_bind' must be a loopback or private address (127/8, 10/8, 172.16/12, "
            "192.168/16) while the plaintext listener is enabled; got " + d.plaintext_bind);
  if (d.plaintext_enabled && d.plaintext_port == 0)
    l.error(l.at("dimse", "plaintext_port"), "'dimse.plaintext_port' must not be 0 while the plaintext listener is enabled");
  if (d.plaintext_enabled && d.tls_port != 0 && d.tls_port == d.plaintext_port)
    l.error(l.at("dimse", "plaintext_port"), "'dimse.plaintext_port' must differ from 'dimse.tls_port'");
  if (!is_ipv4(d.legacy_tls_bind))
    l.error(l.at("dimse", "legacy_tls_bind"), "'dimse.legacy_tls_bind' must be an IPv4 address");
  else if (d.legacy_tls_enabled && !is_loopback_or_private(d.legacy_tls_bind))
    l.error(l.at("dimse", "legacy_tls_bind"),
            "'dimse.legacy_tls_bind' must be a loopback or private address (127/8, 10/8, 172.16/12, "
            "192.168/16) while the legacy-TLS listener is enabled; got " + d.legacy_tls_bind);
  if (d.legacy_tls_enabled && d.legacy_tls_port == 0)
    l.error(l.at("dimse", "legacy_tls_port"), "'dimse.legacy_tls_port' must not be 0 while the legacy-TLS listener is enabled");
  if (d.legacy_tls_enabled && ((d.tls_port != 0 && d.legacy_tls_port == d.tls_port) ||
                               (d.plaintext_enabled && d.legacy_tls_port == d.plaintext_port)))
    l.error(l.at("dimse", "legacy_tls_port"), "'dimse.legacy_tls_port' must differ from the other DICOM ports");

  if (!is_ipv4(c.http.bind)) l.error(l.at("http", "bind"), "'http.bind' must be an IPv4 address");
  if (c.http.port != 0 && (c.http.port == d.tls_port || (d.plaintext_enabled && c.http.port == d.plaintext_port) ||
                           (d.legacy_tls_enabled && c.http.port == d.legacy_tls_port)))
    l.error(l.at("http", "port"), "'http.port' must differ from the DICOM ports");
  if (!c.http.public_url.empty() &&
      (!c.http.public_url.starts_with("https://") || c.http.public_url.size() < 9 || c.http.public_url.back() == '/' ||
       c.http.public_url.find_first_of(" \"<>\\^`{|}") != std::string::npos))
    l.error(l.at("http", "public_url"), "'http.public_url' must be an https:// origin without a trailing slash");
  if (c.http.max_connections_per_source > c.http.max_connections)
    l.error(l.at("http", "max_connections_per_source"),
            "'http.max_connections_per_source' must not exceed 'http.max_connections'");
  if (c.http.jwt_token_max_days > c.http.token_max_days)
    l.error(l.at("http", "jwt_token_max_days"), "'http.jwt_token_max_days' must not exceed 'http.token_max_days'");

  if (!c.oidc.jwks_url.empty() && !is_https_url(c.oidc.jwks_url))
    l.error(l.at("oidc", "jwks_url"),
            "'oidc.jwks_url' must be an https:// URL with a host and no user:password@ or #fragment");

  for (const std::string& alg : c.oidc.algorithms)
    if (std::ranges::find(kJwtAlgorithms, alg) == kJwtAlgorithms.end())
      l.error(l.at("oidc", "algorithms"),
              "'oidc.algorithms' may only hold RS256, ES256 and EdDSA; got \"" + alg + "\"");

  // Paths: relative ones resolve against the config file's directory.
  fs::path base = fs::absolute(c.config_file).parent_path();
  c.var_dir = c.var_dir.empty() ? base : resolve(base, c.var_dir);
  c.tls.cert_file = resolve(base, c.tls.cert_file);
  c.tls.key_file = resolve(base, c.tls.key_file);
  c.tls.ca_file = resolve(base, c.tls.ca_file);
  c.tls.ca_key_file = resolve(base, c.tls.ca_key_file);
  c.tls.crl_file = resolve(base, c.tls.crl_file);
  c.oidc.jwks_file = resolve(base, c.oidc.jwks_file);
  c.oidc.jwks_ca_file = resolve(base, c.oidc.jwks_ca_file);
  if (!c.oidc.jwks_url.empty() && !c.oidc.jwks_ca_file.empty() && !is_readable_file(c.oidc.jwks_ca_file))
    l.error(l.at("oidc", "jwks_ca_file"), "'oidc.jwks_ca_file' (" + c.oidc.jwks_ca_file.string() +
                                              ") must be a readable file (or \"\" for the system CA store)");
  c.http.web_root = resolve(base, c.http.web_root);

  // [audit_export]: everything the exporter needs, checked before it starts.
  AuditExport& ax = c.audit_export;
  ax.ca_file = resolve(base, ax.ca_file);
  ax.cert_file = resolve(base, ax.cert_file);
  ax.key_file = resolve(base, ax.key_file);
  auto host_like = [](const std::string& h) {
    return !h.empty() && h.size() <= 253 && std::ranges::all_of(h, [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == ':';
    });
  };
  if (ax.enabled) {
    if (!host_like(ax.host))
      l.error(l.at("audit_export", "host"), "'audit_export.host' must be a DNS name or IP address when export is enabled");
    if (!ax.server_name.empty() && !host_like(ax.server_name))
      l.error(l.at("audit_export", "server_name"), "'audit_export.server_name' must be a DNS name or IP address");
    const std::pair<const char*, const fs::path*> files[] = {
        {"ca_file", &ax.ca_file}, {"cert_file", &ax.cert_file}, {"key_file", &ax.key_file}};
    for (auto [key, path] : files)
      if (path->empty() || !is_readable_file(*path))
        l.error(l.at("audit_export", key), "'audit_export." + std::string(key) + "' (" + path->string() +
                                               ") must be a readable file when export is enabled");
    struct stat st {};
    if (!ax.key_file.empty() && ::stat(ax.key_file.c_str(), &st) == 0 && (st.st_mode & 0077) != 0)
      l.error(l.at("audit_export", "key_file"), "'audit_export.key_file' (" + ax.key_file.string() +
                                                    ") must not be readable by group or others (chmod 600)");
  }
  if (!std::ranges::all_of(ax.hostname, [](char ch) { return ch > 0x20 && ch < 0x7f; }) || ax.hostname.size() > 255)
    l.error(l.at("audit_export", "hostname"), "'audit_export.hostname' must be printable ASCII without spaces");

  if (d.tls_port != 0 || d.legacy_tls_enabled || c.http.port != 0) {
    const std::pair<const char*, const fs::path*> files[] = {
        {"cert_file", &c.tls.cert_file}, {"key_file", &c.tls.key_file}, {"ca_file", &c.tls.ca_file}};
    for (auto [key, path] : files)
      if (!is_readable_file(*path))
        l.error(l.at("tls", key), "'tls." + std::string(key) + "' (" + path->string() +
                                      ") is not a readable file, and the TLS listeners need it");
  }

  // [encryption]: exactly one KEK source; a key file outside var_dir, 0600.
  Encryption& enc = c.encryption;
  if (!enc.key_file.empty()) enc.key_file = resolve(base, enc.key_file);
  if (enc.enabled) {
    if (enc.key_file.empty() == enc.key_command.empty())
      l.error(l.at("encryption", "key_file"),
              "exactly one of 'encryption.key_file' and 'encryption.key_command' must be set");
    if (enc.key_command.find('\n') != std::string::npos)
      l.error(l.at("encryption", "key_command"), "'encryption.key_command' must be one line");
    if (!enc.key_file.empty()) {
      const fs::path kf = fs::weakly_canonical(enc.key_file), vd = fs::weakly_canonical(c.var_dir);
      auto [vend, kend] = std::mismatch(vd.begin(), vd.end(), kf.begin(), kf.end());
      if (vend == vd.end())
        l.error(l.at("encryption", "key_file"), "'encryption.key_file' (" + enc.key_file.string() +
                                                    ") must be outside var_dir: a copy of var/ must not hold its key");
      struct stat ks {};
      if (::stat(enc.key_file.c_str(), &ks) == 0 && (ks.st_mode & 0077) != 0)
        l.error(l.at("encryption", "key_file"), "'encryption.key_file' (" + enc.key_file.string() +
                                                    ") must not be accessible to group or others (chmod 600)");
    }
  }

  std::set<std::string> retention_names;
  for (const std::string& text : c.retention.policies) {
    auto rule = parse_retention_rule(text);
    if (!rule)
      l.error(l.at("retention", "policies"), "'retention.policies': " + rule.error().message);
    else if (!retention_names.insert(rule->name).second)
      l.error(l.at("retention", "policies"), "'retention.policies': policy " + rule->name + " is defined twice");
  }
  if (c.retention.daily && c.retention.policies.empty())
    l.error(l.at("retention", "daily"), "'retention.daily' is true but 'retention.policies' is empty");

  if (!c.oidc.issuer.empty()) {
    if (c.oidc.audience.empty())
      l.error(l.at("oidc", "audience"), "'oidc.audience' is required when 'oidc.issuer' is set");
    if (!c.oidc.jwks_file.empty() && !c.oidc.jwks_url.empty())
      l.error(l.at("oidc", "jwks_url"), "set either 'oidc.jwks_file' or 'oidc.jwks_url', not both");
    else if (c.oidc.jwks_url.empty() && (c.oidc.jwks_file.empty() || !is_readable_file(c.oidc.jwks_file)))
      l.error(l.at("oidc", "jwks_file"),
              "'oidc.jwks_file' must be a readable file when 'oidc.issuer' is set (or set 'oidc.jwks_url')");
    if (c.oidc.algorithms.empty())
      l.error(l.at("oidc", "algorithms"), "'oidc.algorithms' must not be empty when 'oidc.issuer' is set");
  }
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string toml_value(const FieldRef& field) {
  return std::visit(Overloaded{
                        [](std::string* v) { return toml_string(*v); },
                        [](fs::path* v) { return toml_string(v->generic_string()); },
                        [](bool* v) { return std::string(*v ? "true" : "false"); },
                        [](std::vector<std::string>* v) {
                          std::string out = "[";
                          for (std::size_t i = 0; i < v->size(); ++i) {
                            if (i > 0) out += ", ";
                            out += toml_string((*v)[i]);
                          }
                          return out + "]";
                        },
                        [](auto* v) { return std::to_string(*v); },
                    },
                    field);
}

} // namespace

bool is_valid_ae_title(std::string_view ae) noexcept {
  if (ae.empty() || ae.size() > 16) return false;
  return std::ranges::all_of(ae, [](char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
           ch == '.' || ch == '-';
  });
}

Result<Config> load(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec) || ::access(file.c_str(), R_OK) != 0)
    return fail(Errc::io_error, file.string() + ": cannot read the configuration file (run `tresor init`?)");

  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    Loader l(file);
    return fail(Errc::invalid_argument, l.at(e.source()) + ": " + std::string(e.description()));
  } catch (const std::exception& e) {
    return fail(Errc::io_error, file.string() + ": " + e.what());
  }

  Config config;
  config.config_file = fs::absolute(file).lexically_normal();
  Loader loader(file);
  loader.read(root, config);
  validate(loader, config);
  if (!loader.errors().empty()) {
    std::string message;
    for (const std::string& e : loader.errors()) {
      if (!message.empty()) message += '\n';
      message += e;
    }
    return fail(Errc::invalid_argument, message);
  }
  return config;
}

std::string sample_toml(const std::string& ae_title) {
  Config defaults;
  defaults.dimse.ae_title = ae_title;
  std::string out =
      "# Tresor configuration, written by `tresor init`. Every option is listed with its default.\n"
      "# Unknown keys are refused. Relative paths resolve against the directory holding this file.\n";
  auto emit = [&](const Option& o) {
    out += "# ";
    out += o.comment;
    out += '\n';
    out += o.key;
    out += " = " + toml_value(o.field(defaults)) + '\n';
  };
  out += '\n';
  for (const Option& o : detail::options())
    if (o.table.empty()) emit(o);
  for (const detail::Table& t : detail::tables()) {
    out += "\n# ";
    out += t.comment;
    out += "\n[";
    out += t.name;
    out += "]\n";
    for (const Option& o : detail::options())
      if (o.table == t.name) emit(o);
  }
  return out;
}

} // namespace tresor::config
