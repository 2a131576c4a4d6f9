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
  bool no_encryption = false;         // [encryption] enabled = false (a warning of `tresor check`)
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
// Scope = the labels of these research projects (cmd_user.cpp).
int cmd_user_set_project(const Global& global, const std::string& name, const std::vector<std::string>& projects);

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

// Deletion, legal hold, retention (cmd_delete.cpp).
struct DeleteOptions {
  std::string patient, issuer, study, series, instance;  // exactly one of patient / study / series / instance
  std::string reason;
  bool yes = false;                   // skip the typed confirmation
};
int cmd_delete(const Global& global, const DeleteOptions& options);
int cmd_hold(const Global& global, const std::string& action, const std::string& study, const std::string& reason);
int cmd_retention_run(const Global& global, bool dry_run);

// `tresor audit verify`: exit 0 with a summary, 1 at the first bad, missing or
// reordered record or truncation (named); `tresor audit show [--json] [--since T]`.
int cmd_audit_verify(const Global& global);
struct AuditShowOptions {
  bool json = false;
  std::string since;                  // UTC date/time prefix: only records at or after it
};
int cmd_audit_show(const Global& global, const AuditShowOptions& options);
// `tresor audit report --patient ID`: who saw what (cmd_audit_report.cpp, audit/report.h).
struct AuditReportOptions {
  std::string patient_id;
  std::string since, until;           // UTC time bounds: since <= time < until ("" = open)
  std::string format = "text";        // html | json | text
  std::filesystem::path out;          // "" = stdout
};
int cmd_audit_report(const Global& global, const AuditReportOptions& options);

// `tresor export --deidentify ...` (cmd_export.cpp).
struct ExportOptions {
  bool deidentify = false;
  std::string project;
  std::string profile = "basic";       // basic[,retain-dates,...] (dicom::parse_profile)
  std::string patient;                 // every study of this PatientID, or
  std::vector<std::string> studies;    // these Study Instance UIDs
  std::filesystem::path to, zip;       // a directory, or a zip file
  std::string peer;                    // a registered peer's AE title
  bool allow_burned_in = false;
};
int cmd_export(const Global& global, const ExportOptions& options);
int cmd_export_reidentify(const Global& global, const std::string& project, const std::string& pseudonym);

// `tresor key rotate` (cmd_key.cpp): at most one of the two; neither = a new
// random key file replacing the configured one.
struct KeyRotateOptions {
  std::filesystem::path new_key_file;
  std::string new_key_command;
};
int cmd_key_rotate(const Global& global, const KeyRotateOptions& options);

// `tresor index sql SQL` (cmd_index.cpp).
int cmd_index_sql(const Global& global, const std::string& sql);
// `tresor store cat KEY... --out PATH` (cmd_index.cpp).
int cmd_store_cat(const Global& global, const std::vector<std::string>& keys, const std::string& out);
int cmd_quarantine_list(const Global& global);
int cmd_quarantine_release(const Global& global, std::int64_t id);
int cmd_quarantine_drop(const Global& global, std::int64_t id);

} // namespace tresor::app
