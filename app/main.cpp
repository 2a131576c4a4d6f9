// The `tresor` command line: argument parsing only (CLI11 is confined to this
// file because it is slow to compile); each verb lives in app/cmd_*.cpp.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <iostream>
#include <limits>

#include "commands.h"
#include "instance.h"
#include "remote.h"
#include "security/passwords.h"
#include "security/pki.h"

using namespace tresor::app;

int main(int argc, char** argv) {
  CLI::App app{"Tresor: a secure-by-default DICOM archive (PACS).", "tresor"};
  app.footer("Every verb takes --var DIR (default ./var). See docs/cli.md.");
  app.require_subcommand(1);
  app.fallthrough();  // --var may also follow the verb

  Global global;
  app.add_option("--var", global.var, "Instance directory holding tresor.toml, index.db, store/, audit/, pki/")
      ->capture_default_str();
  Remote remote;
  app.add_option("--server", remote.server,
                 "Administer a running Tresor over its REST API (https://host:port) instead of --var; "
                 "the API token comes from $TRESOR_TOKEN or --token-file")
      ->envname("TRESOR_SERVER");
  app.add_option("--ca", remote.ca_file, "With --server: CA certificate (PEM) the server's certificate must chain to");
  app.add_option("--token-file", remote.token_file, "With --server: file whose first line is the API token");

  InitOptions init_options;
  CLI::App* init = app.add_subcommand("init", "Create a new instance (CA, server certificate, config, admin user)");
  init->add_option("--ae-title", init_options.ae_title, "Our AE title (default: generated TRESOR_<4 hex>)");
  init->add_option("--dns", init_options.dns, "Extra DNS name for the server certificate (repeatable)");
  init->add_option("--ip", init_options.ip, "Extra IPv4 address for the server certificate (repeatable)");
  init->add_option("--web-root", init_options.web_root,
                   "Directory with the web pages and the viewer bundle (the repository's web/; default: no web UI)");
  init->add_flag("--no-encryption", init_options.no_encryption,
                 "Store objects, index and audit trail unencrypted (only where the disk itself is encrypted, or to "
                 "measure the overhead; `tresor check` warns). Cannot be changed later");

  CLI::App* serve = app.add_subcommand("serve", "Check exposure, recover, then serve DIMSE until SIGINT/SIGTERM");
  CLI::App* check = app.add_subcommand("check", "Print the exposure check's findings (exit 1 if any; warnings alone exit 0)");

  CLI::App* peer = app.add_subcommand("peer", "Registered DICOM peers (modalities, workstations, PACS)");
  peer->require_subcommand(1);
  PeerAddOptions peer_options;
  int peer_port = 0;
  CLI::App* peer_add = peer->add_subcommand("add", "Register (or replace) a peer");
  peer_add->add_option("AE", peer_options.ae_title, "Its calling AE title")->required();
  peer_add->add_option("--host", peer_options.hosts, "IPv4 address it connects from (repeatable)")->required();
  peer_add->add_option("--port", peer_port, "Its own SCP port (needed to be a C-MOVE destination)")
      ->check(CLI::Range(0, 65535));
  peer_add->add_option("--ops", peer_options.ops, "Allowed operations: comma-separated echo,store,find,get,move,commit")
      ->required();
  peer_add->add_option("--cert-sha256", peer_options.cert_sha256, "Pin its client certificate (hex SHA-256 of DER)");
  peer_add->add_flag("--require-user", peer_options.require_user, "Also require a user identity");
  peer_add->add_flag("--plaintext", peer_options.plaintext, "May use the plaintext listener (private hosts only)");
  peer_add->add_flag("--legacy-tls", peer_options.legacy_tls,
                     "May use the legacy-TLS listener with retired cipher suites (private hosts only)");
  peer_add->add_flag("--unlimited-find", peer_options.unlimited_find, "May exceed the C-FIND result cap");
  peer_add->add_flag("--unlimited-retrieve", peer_options.unlimited_retrieve,
                     "May retrieve (C-GET/C-MOVE) more instances at once than dimse.retrieve_cap");
  CLI::App* peer_list = peer->add_subcommand("list", "List registered peers");
  std::string peer_remove_ae;
  CLI::App* peer_remove = peer->add_subcommand("remove", "Remove a peer");
  peer_remove->add_option("AE", peer_remove_ae, "Its AE title")->required();

  CLI::App* user = app.add_subcommand("user", "Users (for user identity and the web front end)");
  user->require_subcommand(1);
  UserAddOptions user_options;
  CLI::App* user_add = user->add_subcommand("add", "Add a user");
  user_add->add_option("NAME", user_options.name, "User name")->required();
  user_add->add_option("--role", user_options.roles, "Roles: comma-separated admin,clinician,technologist,researcher,auditor")
      ->required();
  user_add->add_flag("--password-stdin", user_options.password_stdin, "Read the password from stdin (else generated)");
  CLI::App* user_list = user->add_subcommand("list", "List users");
  std::string user_name;
  bool passwd_stdin = false;
  CLI::App* user_passwd = user->add_subcommand("passwd", "Set a user's password");
  user_passwd->add_option("NAME", user_name, "User name")->required();
  user_passwd->add_flag("--password-stdin", passwd_stdin, "Read the password from stdin (else generated)");
  CLI::App* user_remove = user->add_subcommand("remove", "Remove a user");
  user_remove->add_option("NAME", user_name, "User name")->required();
  std::vector<std::string> user_projects;
  CLI::App* user_set_project = user->add_subcommand(
      "set-project", "Limit a user (a researcher) to the de-identified studies of research projects");
  user_set_project->add_option("NAME", user_name, "User name")->required();
  user_set_project->add_option("--project", user_projects, "Research project (repeatable)")->required();

  CLI::App* cert = app.add_subcommand("cert", "Certificates from the local CA");
  cert->require_subcommand(1);
  CertIssueOptions cert_options;
  CLI::App* cert_issue = cert->add_subcommand("issue", "Issue a client certificate (DIR/NAME.crt, DIR/NAME.key)");
  cert_issue->add_option("--cn", cert_options.cn, "Common name (a peer's AE title)")->required();
  cert_issue->add_option("--out", cert_options.out, "Output directory")->required();
  cert_issue->add_option("--days", cert_options.days, "Validity in days (at most 730)")
      ->check(CLI::Range(1, tresor::security::kMaxClientDays))
      ->capture_default_str();
  cert_issue->add_option("--peer", cert_options.peer, "Pin the new certificate to this registered peer");
  std::string revoke_serial;
  std::filesystem::path revoke_file;
  CLI::App* cert_revoke = cert->add_subcommand("revoke", "Revoke a certificate of the local CA (its CRL, var/pki/crl.pem)");
  auto* revoke_serial_opt = cert_revoke->add_option("--serial", revoke_serial, "Serial number (hex, colons allowed)");
  auto* revoke_file_opt = cert_revoke->add_option("--file", revoke_file, "The certificate (PEM)");
  revoke_serial_opt->excludes(revoke_file_opt);
  cert_revoke->require_option(1);

  std::vector<std::string> import_paths;
  CLI::App* import = app.add_subcommand("import", "Ingest files, and every file under directories, through the C-STORE path");
  import->add_option("PATH", import_paths, "Files and directories (recursively) to import")->required();

  CLI::App* index_cmd = app.add_subcommand("index", "The index database (encrypted at rest: the sqlite3 CLI cannot read it)");
  index_cmd->require_subcommand(1);
  std::string index_sql;
  CLI::App* index_sql_cmd =
      index_cmd->add_subcommand("sql", "Run one read-only SQL statement; rows on stdout as JSON arrays, one per line");
  index_sql_cmd->add_option("SQL", index_sql, "e.g. \"SELECT count(*) FROM instance\"")->required();
  CLI::App* store_cmd = app.add_subcommand("store", "Stored objects (encrypted at rest)");
  store_cmd->require_subcommand(1);
  std::vector<std::string> store_keys;
  std::string store_out;
  CLI::App* store_cat_cmd =
      store_cmd->add_subcommand("cat", "Write the plaintext of stored objects (by blob key) to new files, mode 0600 (audited)");
  store_cat_cmd->add_option("KEY", store_keys, "blob keys (64 hex digits, index column blob_key)")->required();
  store_cat_cmd->add_option("--out", store_out, "one key: the file to create (never overwritten); several: a directory, one file per key")->required();

  CLI::App* routes = app.add_subcommand("routes", "Print the HTTP API route table (docs/http-api.md)");
  bool routes_json = false;
  routes->add_flag("--json", routes_json, "JSON instead of Markdown");

  CLI::App* quarantine = app.add_subcommand("quarantine", "Instances held because their demographics conflict");
  quarantine->require_subcommand(1);
  std::int64_t quarantine_id = 0;
  CLI::App* q_list = quarantine->add_subcommand("list", "List held instances");
  CLI::App* q_release = quarantine->add_subcommand("release", "Release a held instance into the archive");
  q_release->add_option("ID", quarantine_id, "Quarantine id")->required();
  CLI::App* q_drop = quarantine->add_subcommand("drop", "Delete a held instance");
  q_drop->add_option("ID", quarantine_id, "Quarantine id")->required();

  DeleteOptions delete_options;
  CLI::App* del = app.add_subcommand("delete", "Delete a patient, study, series or instance permanently (audited)");
  del->add_option("--patient", delete_options.patient, "PatientID: every study of the patient");
  del->add_option("--issuer", delete_options.issuer, "With --patient: its IssuerOfPatientID (default: none)");
  del->add_option("--study", delete_options.study, "StudyInstanceUID");
  del->add_option("--series", delete_options.series, "SeriesInstanceUID");
  del->add_option("--instance", delete_options.instance, "SOPInstanceUID");
  del->add_option("--reason", delete_options.reason, "Why (written to the audit trail)")->required();
  del->add_flag("--yes", delete_options.yes, "Do not ask to type the patient's name (scripts)");
  CLI::App* hold = app.add_subcommand("hold", "Legal hold: a held study cannot be deleted (audited)");
  hold->require_subcommand(1);
  std::string hold_study, hold_reason;
  CLI::App* hold_add = hold->add_subcommand("add", "Put a study under legal hold");
  CLI::App* hold_remove = hold->add_subcommand("remove", "Lift a study's legal hold");
  CLI::App* hold_list = hold->add_subcommand("list", "List the studies under legal hold");
  for (CLI::App* sub : {hold_add, hold_remove}) {
    sub->add_option("--study", hold_study, "StudyInstanceUID")->required();
    sub->add_option("--reason", hold_reason, "Why (written to the audit trail)");
  }
  CLI::App* retention = app.add_subcommand("retention", "Retention policies ([retention] in tresor.toml)");
  retention->require_subcommand(1);
  bool retention_dry_run = false;
  CLI::App* retention_run = retention->add_subcommand("run", "Delete the studies past their retention policy");
  retention_run->add_flag("--dry-run", retention_dry_run, "Only list what would be deleted");

  CLI::App* patient = app.add_subcommand("patient", "Patients: correct stored demographics (audited)");
  patient->require_subcommand(1);
  PatientUpdateOptions patient_options;
  std::string patient_name, patient_birth, patient_sex;
  CLI::App* patient_update =
      patient->add_subcommand("update", "Change a patient's name, birth date or sex for all its studies");
  patient_update->add_option("PATIENT_ID", patient_options.patient_id, "The stored PatientID")->required();
  patient_update->add_option("--issuer", patient_options.issuer, "Its IssuerOfPatientID (default: none)");
  CLI::Option* opt_name = patient_update->add_option("--name", patient_name, "New PatientName (DICOM PN, e.g. DOE^JANE)");
  CLI::Option* opt_birth = patient_update->add_option("--birth-date", patient_birth, "New PatientBirthDate (YYYYMMDD or \"\")");
  CLI::Option* opt_sex = patient_update->add_option("--sex", patient_sex, "New PatientSex (M, F, O or \"\")");

  ExportOptions export_options;
  CLI::App* export_cmd = app.add_subcommand("export", "De-identified export to a research project (PS3.15 Annex E)");
  export_cmd->add_flag("--deidentify", export_options.deidentify, "De-identify (required: the only kind of export)");
  export_cmd->add_option("--project", export_options.project, "Research project: pseudonyms and UIDs are per project");
  export_cmd->add_option("--profile", export_options.profile,
                         "basic[,retain-dates,retain-patient-chars,retain-device,clean-descriptors,clean-sc]")
      ->capture_default_str();
  export_cmd->add_option("--patient", export_options.patient, "Every study of this PatientID");
  export_cmd->add_option("--study", export_options.studies, "A Study Instance UID (repeatable)");
  export_cmd->add_option("--to", export_options.to, "Target: a new or empty directory");
  export_cmd->add_option("--zip", export_options.zip, "Target: a new zip file");
  export_cmd->add_option("--peer", export_options.peer, "Target: a registered peer (C-STORE)");
  export_cmd->add_flag("--allow-burned-in", export_options.allow_burned_in,
                       "Also export objects that may show identities in their pixels");
  std::string reid_project, reid_pseudonym;
  CLI::App* export_reid = export_cmd->add_subcommand("reidentify", "The original PatientID of a pseudonym (audited)");
  export_reid->add_option("--project", reid_project, "Research project")->required();
  export_reid->add_option("--pseudonym", reid_pseudonym, "The pseudonym (PatientID of the export)")->required();

  CLI::App* key_cmd = app.add_subcommand("key", "Encryption at rest: the key-encryption key");
  key_cmd->require_subcommand(1);
  KeyRotateOptions key_rotate_options;
  CLI::App* key_rotate = key_cmd->add_subcommand(
      "rotate", "Wrap every key under a new key-encryption key without rewriting objects (audited, resumable)");
  key_rotate->add_option("--new-key-file", key_rotate_options.new_key_file,
                         "The new KEK (64 hex digits, mode 0600, outside var/); default: a new random one");
  key_rotate->add_option("--new-key-command", key_rotate_options.new_key_command,
                         "A command printing the new KEK (then set key_command in tresor.toml)");
  CLI::App* audit_cmd = app.add_subcommand("audit", "The tamper-evident audit trail (var/audit/)");
  audit_cmd->require_subcommand(1);
  CLI::App* audit_verify = audit_cmd->add_subcommand(
      "verify", "Check the whole trail (chain, sequence, signed checkpoints); exit 1 at the first problem, named");
  AuditShowOptions audit_show_options;
  CLI::App* audit_show = audit_cmd->add_subcommand("show", "Print the trail's records, decrypted, oldest first");
  audit_show->add_flag("--json", audit_show_options.json, "One JSON object per line (seq, time, type, outcome, ...)");
  audit_show->add_option("--since", audit_show_options.since, "Only records at or after this UTC time (YYYY-MM-DD[Thh:mm:ss])");
  AuditReportOptions audit_report_options;
  CLI::App* audit_report = audit_cmd->add_subcommand(
      "report", "Who saw what: every access to one patient's data (queries, retrievals, viewer sessions, exports, ...)");
  audit_report->add_option("--patient", audit_report_options.patient_id, "The PatientID")->required();
  audit_report->add_option("--since", audit_report_options.since, "From this UTC time, inclusive (YYYY-MM-DD[Thh:mm:ssZ])");
  audit_report->add_option("--until", audit_report_options.until, "To this UTC time, exclusive");
  audit_report->add_option("--format", audit_report_options.format, "html (printable), json or text")
      ->check(CLI::IsMember({"html", "json", "text"}))
      ->capture_default_str();
  audit_report->add_option("--out", audit_report_options.out, "Write to this file (mode 0600) instead of stdout");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help or the error
    return code == 0 ? kExitOk : kExitUsage;
  }

  if (auto s = tresor::security::init_crypto(); !s) {
    print_error(s.error().message);
    return kExitFailed;
  }
  peer_options.port = static_cast<std::uint16_t>(peer_port);
  if (opt_name->count() > 0) patient_options.name = patient_name;
  if (opt_birth->count() > 0) patient_options.birth_date = patient_birth;
  if (opt_sex->count() > 0) patient_options.sex = patient_sex;

  if (!remote.server.empty()) {
    if (check->parsed()) return remote_check(remote);
    if (peer_add->parsed()) return remote_peer_add(remote, peer_options);
    if (peer_list->parsed()) return remote_peer_list(remote);
    if (peer_remove->parsed()) return remote_peer_remove(remote, peer_remove_ae);
    if (user_add->parsed()) return remote_user_add(remote, user_options);
    if (user_list->parsed()) return remote_user_list(remote);
    if (user_passwd->parsed()) return remote_user_passwd(remote, user_name, passwd_stdin);
    if (user_remove->parsed()) return remote_user_remove(remote, user_name);
    if (q_list->parsed()) return remote_quarantine_list(remote);
    if (q_release->parsed()) return remote_quarantine_release(remote, quarantine_id);
    if (q_drop->parsed()) return remote_quarantine_drop(remote, quarantine_id);
    if (patient_update->parsed()) return remote_patient_update(remote, patient_options);
    print_error("--server: this verb acts on the local instance only (init, serve, import, cert, routes); drop --server");
    return kExitUsage;
  }

  if (init->parsed()) return cmd_init(global, init_options);
  if (serve->parsed()) return cmd_serve(global);
  if (check->parsed()) return cmd_check(global);
  if (peer_add->parsed()) return cmd_peer_add(global, peer_options);
  if (peer_list->parsed()) return cmd_peer_list(global);
  if (peer_remove->parsed()) return cmd_peer_remove(global, peer_remove_ae);
  if (user_add->parsed()) return cmd_user_add(global, user_options);
  if (user_list->parsed()) return cmd_user_list(global);
  if (user_passwd->parsed()) return cmd_user_passwd(global, user_name, passwd_stdin);
  if (user_remove->parsed()) return cmd_user_remove(global, user_name);
  if (user_set_project->parsed()) return cmd_user_set_project(global, user_name, user_projects);
  if (cert_issue->parsed()) return cmd_cert_issue(global, cert_options);
  if (cert_revoke->parsed()) return cmd_cert_revoke(global, revoke_serial, revoke_file);
  if (import->parsed()) return cmd_import(global, std::vector<std::filesystem::path>(import_paths.begin(), import_paths.end()));
  if (routes->parsed()) return cmd_routes(global, routes_json);
  if (index_sql_cmd->parsed()) return cmd_index_sql(global, index_sql);
  if (store_cat_cmd->parsed()) return cmd_store_cat(global, store_keys, store_out);
  if (patient_update->parsed()) return cmd_patient_update(global, patient_options);
  if (export_reid->parsed()) return cmd_export_reidentify(global, reid_project, reid_pseudonym);
  if (export_cmd->parsed()) return cmd_export(global, export_options);
  if (key_rotate->parsed()) return cmd_key_rotate(global, key_rotate_options);
  if (audit_verify->parsed()) return cmd_audit_verify(global);
  if (audit_show->parsed()) return cmd_audit_show(global, audit_show_options);
  if (audit_report->parsed()) return cmd_audit_report(global, audit_report_options);
  if (q_list->parsed()) return cmd_quarantine_list(global);
  if (q_release->parsed()) return cmd_quarantine_release(global, quarantine_id);
  if (q_drop->parsed()) return cmd_quarantine_drop(global, quarantine_id);
  if (del->parsed()) return cmd_delete(global, delete_options);
  if (hold_add->parsed()) return cmd_hold(global, "add", hold_study, hold_reason);
  if (hold_remove->parsed()) return cmd_hold(global, "remove", hold_study, hold_reason);
  if (hold_list->parsed()) return cmd_hold(global, "list", hold_study, hold_reason);
  if (retention_run->parsed()) return cmd_retention_run(global, retention_dry_run);
  std::cerr << app.help();
  return kExitUsage;
}
