// The command line as a client of the admin REST API (docs/cli.md, "Remote
// administration"): `tresor --server https://host:8443 user|peer|quarantine|patient|check ...`
// does over HTTPS what the same verb does on a local instance directory, so
// the server applies its own checks, audits the change under the token's
// user, and the CLI needs no access to var/. Contract:
//  - credentials: a personal API token (`tsr_...`) from the environment
//    variable TRESOR_TOKEN or the first line of --token-file; never from the
//    command line (argv is visible to every local user) and never printed;
//  - the server certificate must chain to --ca (PEM; default the system
//    store) and match the URL's host; TLS 1.2+ (http/fetch.h);
//  - output and exit status match the local verbs (0 ok, 1 refused or failed
//    with the server's reason on stderr, 2 usage);
//  - init, serve, import, cert and routes act on the local instance only.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "commands.h"

namespace tresor::app {

struct Remote {
  std::string server;                 // https://host:port (no path)
  std::filesystem::path ca_file;      // empty = system CA store
  std::filesystem::path token_file;   // empty = $TRESOR_TOKEN
};

int remote_peer_add(const Remote& remote, const PeerAddOptions& options);
int remote_peer_list(const Remote& remote);
int remote_peer_remove(const Remote& remote, const std::string& ae_title);
int remote_user_add(const Remote& remote, const UserAddOptions& options);
int remote_user_list(const Remote& remote);
int remote_user_passwd(const Remote& remote, const std::string& name, bool password_stdin);
int remote_user_remove(const Remote& remote, const std::string& name);
int remote_quarantine_list(const Remote& remote);
int remote_quarantine_release(const Remote& remote, std::int64_t id);
int remote_quarantine_drop(const Remote& remote, std::int64_t id);
int remote_check(const Remote& remote);
int remote_patient_update(const Remote& remote, const PatientUpdateOptions& options);

} // namespace tresor::app
