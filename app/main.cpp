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
  if (cert_issue->parsed()) return cmd_cert_issue(global, cert_options);
  if (cert_revoke->parsed()) return cmd_cert_revoke(global, revoke_serial, revoke_file);
  if (import->parsed()) return cmd_import(global, std::vector<std::filesystem::path>(import_paths.begin(), import_paths.end()));
  if (routes->parsed()) return cmd_routes(global, routes_json);
  if (patient_update->parsed()) return cmd_patient_update(global, patient_options);
  if (q_list->parsed()) return cmd_quarantine_list(global);
  if (q_release->parsed()) return cmd_quarantine_release(global, quarantine_id);
  if (q_drop->parsed()) return cmd_quarantine_drop(global, quarantine_id);
  std::cerr << app.help();
  return kExitUsage;
}
