// Typed, immutable, validated configuration. Contract:
//  - load() parses var/tresor.toml with toml++, rejects unknown keys, wrong
//    types and duplicate keys with file:line, validates ranges, and resolves
//    relative paths against the config file's directory;
//  - there is no default AE title and no default secret: init writes them;
//  - sample_toml() produces the documented file that `tresor init` writes,
//    from the same defaults as the structs below.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>
#include "core/accounts.h"
#include "core/error.h"

namespace tresor::config {

struct Dimse {
  std::string ae_title;                    // required, 1..16 chars [A-Za-z0-9_.-]
  std::string tls_bind = "0.0.0.0";        // address of the DICOM TLS listener
  std::uint16_t tls_port = 2762;           // 0 = TLS listener off
  bool plaintext_enabled = false;          // plaintext listener is off by default
  std::string plaintext_bind = "127.0.0.1";// must be loopback or private when enabled
  std::uint16_t plaintext_port = 11112;
  bool legacy_tls_enabled = false;         // TLS listener with retired cipher suites (no forward secrecy); off by default
  std::string legacy_tls_bind = "127.0.0.1";// must be loopback or private when enabled
  std::uint16_t legacy_tls_port = 2763;
  std::size_t workers = 16;                // concurrent associations (pool size)
  std::size_t negotiators = 128;           // threads accepting + negotiating; silent clients only block these
  std::size_t max_pending = 16;            // negotiated-but-unserved beyond which: A-ASSOCIATE-RJ transient
  std::uint32_t max_pdu = 65536;           // max receive PDU (4096..1048576)
  std::uint64_t max_object_bytes = 4ull << 30;
  int max_sequence_depth = 32;
  int acse_timeout_s = 10;                 // association negotiation / idle connection
  int dimse_timeout_s = 60;                // a DIMSE message in progress
  int idle_timeout_s = 60;                 // an idle association is released after this
  std::size_t find_cap = 1000;             // max C-FIND results without unlimited_find
  std::size_t retrieve_cap = 10000;        // max instances of one C-GET/C-MOVE/WADO-RS retrieve without unlimited_retrieve
};

struct Tls {                               // relative paths resolve against the config file's directory
  std::filesystem::path cert_file = "pki/server.crt";  // server certificate (PEM)
  std::filesystem::path key_file = "pki/server.key";   // server private key (PEM)
  std::filesystem::path ca_file = "pki/ca.crt";        // CA(s) trusted for client certificates (PEM)
  std::filesystem::path ca_key_file = "pki/ca.key";    // local CA key (used by `tresor cert issue` / `cert revoke` only)
  std::filesystem::path crl_file = "pki/crl.pem";      // revocation list checked by the DIMSE TLS listeners (absent = none revoked)
};

struct BruteForce {
  int max_failures = 10;                   // failed associations per source ...
  int window_s = 60;                       // ... within this window ...
  int block_s = 900;                       // ... block the source for this long (bound client certificates still get in)
  int blocked_handshakes_per_s = 5;        // TLS handshakes a blocked source may still start per second (4 at a time)
};

struct Oidc {                              // JWT user identity (type 5); off when issuer is empty
  std::string issuer;
  std::string audience;
  std::filesystem::path jwks_file;         // the issuer's keys from a file ...
  std::string jwks_url;                    // ... or fetched from an https:// URL (exactly one of the two when issuer is set)
  std::filesystem::path jwks_ca_file;      // CA(s) trusted for jwks_url (PEM); "" = the system store (/etc/ssl/certs)
  int jwks_refresh_s = 3600;               // jwks_url is refetched this often (60..86400), and on an unknown kid (at most once a minute)
  std::vector<std::string> algorithms = {"RS256", "ES256"};
};

struct Http {                              // HTTPS (DICOMweb, REST API, web UI); there is no plaintext listener
  std::string bind = "0.0.0.0";            // IPv4 address of the HTTPS listener
  std::uint16_t port = 8443;               // 0 = HTTPS off
  std::filesystem::path web_root;          // Tresor's pages (app/) and the OHIF bundle (ohif/dist/); "" = no web UI
  std::string public_url;                  // e.g. https://pacs.example.org:8443 (absolute BulkDataURIs); "" = from the request's own listener address
  std::size_t io_threads = 4;              // TLS and socket I/O only, never a blocking call; one io_context each
  std::size_t handler_threads = 16;        // authentication, handlers and response producers (blocking SQLite, disk)
  std::size_t max_connections = 512;       // beyond: new connections closed at once
  std::uint32_t max_header_bytes = 16384;  // request line + headers
  std::uint64_t max_upload_bytes = 4ull << 30;  // one STOW-RS request body
  std::uint32_t max_parts = 10000;         // parts in one multipart request
  int handshake_timeout_s = 10;            // TLS handshake
  int header_timeout_s = 10;               // whole request header must arrive within this (slow-loris)
  int idle_timeout_s = 60;                 // keep-alive connection with no request
  int body_timeout_s = 300;                // a request body must make progress at least this often
  std::size_t qido_cap = 1000;             // most QIDO-RS results without unlimited_find (like dimse.find_cap)
  int session_idle_minutes = 30;           // a session cookie expires after this much inactivity ...
  int session_max_hours = 12;              // ... and at the latest this long after login
  int token_max_days = 365;                // longest API token lifetime
  int jwt_token_max_days = 0;              // 0: a bearer JWT may not create API tokens; N: it may, expiring at most N days after the JWT
  std::size_t max_connections_per_source = 64;   // open HTTPS connections from one address (<= max_connections)
  int handshakes_per_source_per_s = 50;    // new HTTPS connections (TLS handshakes) per second from one address (burst 2x; then they wait, up to 2 s)
  int failure_audit_window_s = 60;         // failed authentications: one audit line per source per window (+ a summary)
};

struct Login {                             // password-guessing throttle (HTTP and DIMSE user identity); no hard lock
  int pair_free_failures = 3;              // wrong passwords from one (account, address) before delays start ...
  int pair_max_delay_s = 300;              // ... then waits of 1 s, 2 s, 4 s ... up to this long between its guesses ...
  int pair_max_failures = 10;              // ... and this many in pair_window_s refuse its guesses (unless known good)
  int pair_window_s = 3600;
  int account_guesses_per_minute = 2;      // ceiling per account from addresses that are not known good ...
  int account_burst = 10;                  // ... (token bucket): at most burst + 1440 * rate guesses a day (2,890)
  int known_good_days = 30;                // an (account, address) that logged in is exempt from the ceiling this long
  int source_max_failures = 50;            // failed authentications from one address ...
  int source_window_s = 60;                // ... within this window ...
  int source_block_s = 900;                // ... refuse its password guesses (except known-good accounts) this long
};

struct Retention {                         // retention policies (services::RetentionService, `tresor retention run`)
  std::vector<std::string> policies;       // "NAME: N years [modality=XX] [sop_class=UID]"; none by default
  bool daily = false;                      // tresor serve also applies them once a day
};
// One parsed [retention] policy (validated by load()).
struct RetentionRule {
  std::string name;                        // [A-Za-z0-9_.-], 1..64
  int years = 0;                           // 1..200
  std::string modality, sop_class;         // "" = any
};
Result<RetentionRule> parse_retention_rule(std::string_view text);

struct Audit {                             // the audit trail (var/audit/, docs/storage-layout.md)
  std::uint64_t rotate_bytes = 64ull << 20;  // the current file is rotated once it is this large
  int checkpoint_records = 1000;           // a signed checkpoint after this many records ...
  int checkpoint_seconds = 60;             // ... or this many seconds after the first record not yet checkpointed
  int access_window_s = 300;               // viewer access: one event per (user, study) until this long without a request
};

struct AuditExport {                       // ATNA export (IHE ITI-20): syslog over mutual TLS (audit/syslog_export.h)
  bool enabled = false;                    // off by default
  std::string host;                        // the audit record repository (DNS name or IPv4); required when enabled
  std::uint16_t port = 6514;               // RFC 5425 syslog over TLS
  std::string server_name;                 // name its certificate must carry; "" = host
  std::filesystem::path ca_file;           // CA(s) its certificate must chain to (PEM); required when enabled
  std::filesystem::path cert_file;         // our client certificate (PEM); required when enabled
  std::filesystem::path key_file;          // its private key (PEM, not readable by group or others)
  std::string hostname;                    // HOSTNAME field of the messages; "" = this machine's host name
};

struct Encryption {                        // encryption at rest (crypto/keyring.h, docs/storage-layout.md)
  bool enabled = true;                     // false only to measure the overhead; `tresor check` reports it
  std::filesystem::path key_file = "../tresor-kek.key";  // the KEK: outside var_dir, mode 0600 (absolute after load())
  std::string key_command;                 // or: a command printing the KEK as 64 hex digits (then key_file = "")
};

struct Config {
  std::filesystem::path config_file;       // where it was loaded from
  std::filesystem::path var_dir = ".";     // index.db, store/, audit/ live here (absolute after load())
  std::string log_level = "info";
  int index_busy_timeout_ms = 5000;        // an index write waits this long for a lock held elsewhere, then fails (retryable)
  Dimse dimse;
  Tls tls;
  BruteForce brute_force;
  Oidc oidc;
  Http http;
  Login login;
  Audit audit;
  AuditExport audit_export;
  Retention retention;
  Encryption encryption;

  std::filesystem::path index_file() const { return var_dir / "index.db"; }
  std::filesystem::path store_dir() const { return var_dir / "store"; }
  std::filesystem::path audit_file() const { return var_dir / "audit" / "audit.jsonl"; }
  // The device-cookie MAC key (security/device_cookie.h): secret, mode 0600.
  std::filesystem::path device_key_file() const { return var_dir / "device_cookie.key"; }
  // Last audit record sequence number the ATNA exporter delivered (audit/syslog_export.h).
  std::filesystem::path audit_export_cursor_file() const { return var_dir / "audit" / "export.cursor"; }
};

Result<Config> load(const std::filesystem::path& file);

// The documented config file written by `tresor init`.
std::string sample_toml(const std::string& ae_title);

// Exposure check (shared by `tresor serve` and `tresor check`).
struct Finding {
  std::string what;   // the problem
  std::string fix;    // exactly what to change
  // A warning is a risk an administrator accepted on purpose (an explicitly
  // enabled, restricted legacy-TLS listener): reported by `tresor check`
  // and at start-up, but `tresor serve` still starts. Every other finding
  // stops `serve`.
  bool warning = false;
};
std::vector<Finding> exposure_check(const Config& config, AccountRepository& accounts);

// 127/8, 10/8, 172.16/12, 192.168/16 (dotted-quad IPv4 only) and "localhost".
bool is_loopback_or_private(const std::string& ipv4) noexcept;

// Our own AE title rule: 1..16 chars of [A-Za-z0-9_.-].
bool is_valid_ae_title(std::string_view ae) noexcept;

} // namespace tresor::config
