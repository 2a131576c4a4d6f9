// The verbs of the `tresor` command line (docs/cli.md). main.cpp parses the
// arguments (CLI11 stays in that one translation unit) and calls one of these.
// Each returns the process exit status: 0 success, 1 refused or failed (the
// reason is on stderr), 2 usage error.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tresor::app {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

struct Global {
  std::filesystem::path var = "var";  // the instance directory (holds tresor.toml)
};

struct InitOptions {
  std::string ae_title;               // "" = generate TRESOR_<4 hex>
  std::vector<std::string> dns;       // extra server certificate DNS names
  std::vector<std::string> ip;        // extra server certificate IP addresses
  std::string web_root;               // [http] web_root to write ("" = no web UI)
};
int cmd_init(const Global& global, const InitOptions& options);

int cmd_serve(const Global& global);
int cmd_check(const Global& global);

struct PeerAddOptions {
  std::string ae_title;
  std::vector<std::string> hosts;
  std::uint16_t port = 0;
  std::string ops;                    // comma-separated operations
  std::string cert_sha256;
  bool require_user = false;
  bool plaintext = false;
  bool legacy_tls = false;            // may use the legacy-TLS listener (private hosts only)
  bool unlimited_find = false;
  bool unlimited_retrieve = false;     // may exceed dimse.retrieve_cap
};
int cmd_peer_add(const Global& global, const PeerAddOptions& options);
int cmd_peer_list(const Global& global);
int cmd_peer_remove(const Global& global, const std::string& ae_title);

struct UserAddOptions {
  std::string name;
  std::string roles;                  // comma-separated roles
  bool password_stdin = false;
};
int cmd_user_add(const Global& global, const UserAddOptions& options);
int cmd_user_list(const Global& global);
int cmd_user_passwd(const Global& global, const std::string& name, bool password_stdin);
int cmd_user_remove(const Global& global, const std::string& name);

struct CertIssueOptions {
  std::string cn;
  std::filesystem::path out;
  int days = 365;
  std::string peer;                   // "" = do not pin
};
int cmd_cert_issue(const Global& global, const CertIssueOptions& options);
// Revokes by serial number (hex) or by certificate file; exactly one of the two.
int cmd_cert_revoke(const Global& global, const std::string& serial, const std::filesystem::path& file);

int cmd_routes(const Global& global, bool json);
int cmd_import(const Global& global, const std::vector<std::filesystem::path>& paths);

struct PatientUpdateOptions {
  std::string patient_id;
  std::string issuer;                 // IssuerOfPatientID ("" = none)
  std::optional<std::string> name, birth_date, sex;  // absent = unchanged
};
int cmd_patient_update(const Global& global, const PatientUpdateOptions& options);

int cmd_quarantine_list(const Global& global);
int cmd_quarantine_release(const Global& global, std::int64_t id);
int cmd_quarantine_drop(const Global& global, std::int64_t id);

} // namespace tresor::app
