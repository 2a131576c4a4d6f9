#include "config/options.h"


namespace tresor::config::detail {
namespace {

constexpr std::int64_t kMaxObjectBytesLimit = std::int64_t{1} << 40;  // 1 TiB

const Option kOptions[] = {
    {"", "log_level", "Log level: trace, debug, info, warn, error, critical or off. Logs never carry patient data.",
     [](Config& c) -> FieldRef { return &c.log_level; }},
    {"", "var_dir", "Where index.db, store/ and audit/ live. Relative paths resolve against this file's directory.",
     [](Config& c) -> FieldRef { return &c.var_dir; }},
    {"", "index_busy_timeout_ms",
     "How long an index write waits for a lock held by another process (tresor import, a backup) before the "
     "store fails with a retryable status (C-STORE 0xA700, HTTP 503), in milliseconds (0..600000).",
     [](Config& c) -> FieldRef { return &c.index_busy_timeout_ms; }, 0, 600000},

    {"dimse", "ae_title", "Calling peers must address us with this AE title (1..16 chars of A-Z a-z 0-9 _ . -).",
     [](Config& c) -> FieldRef { return &c.dimse.ae_title; }},
    {"dimse", "tls_bind", "IPv4 address of the DICOM TLS listener (0.0.0.0 = every interface).",
     [](Config& c) -> FieldRef { return &c.dimse.tls_bind; }},
    {"dimse", "tls_port", "Port of the DICOM TLS listener (0 = TLS listener off).",
     [](Config& c) -> FieldRef { return &c.dimse.tls_port; }, 0, 65535},
    {"dimse", "plaintext_enabled",
     "Unencrypted DICOM listener, only for peers registered with --plaintext at pinned hosts. Off by default.",
     [](Config& c) -> FieldRef { return &c.dimse.plaintext_enabled; }},
    {"dimse", "plaintext_bind", "IPv4 address of the plaintext listener; must be loopback or private (10/8, 172.16/12, 192.168/16).",
     [](Config& c) -> FieldRef { return &c.dimse.plaintext_bind; }},
    {"dimse", "plaintext_port", "Port of the plaintext listener (must differ from tls_port).",
     [](Config& c) -> FieldRef { return &c.dimse.plaintext_port; }, 0, 65535},
    {"dimse", "legacy_tls_enabled",
     "TLS listener for old peers that offer only retired cipher suites (TLS 1.2 RSA key exchange, CBC: no forward "
     "secrecy), serving only peers registered with --legacy-tls. Off by default; `tresor check` reports it.",
     [](Config& c) -> FieldRef { return &c.dimse.legacy_tls_enabled; }},
    {"dimse", "legacy_tls_bind", "IPv4 address of the legacy-TLS listener; must be loopback or private (10/8, 172.16/12, 192.168/16).",
     [](Config& c) -> FieldRef { return &c.dimse.legacy_tls_bind; }},
    {"dimse", "legacy_tls_port", "Port of the legacy-TLS listener (must differ from the other ports).",
     [](Config& c) -> FieldRef { return &c.dimse.legacy_tls_port; }, 0, 65535},
    {"dimse", "workers", "Associations served at once (worker pool size), 1..256.",
     [](Config& c) -> FieldRef { return &c.dimse.workers; }, 1, 256},
    {"dimse", "negotiators",
     "Threads that accept connections and negotiate associations (TLS handshake, A-ASSOCIATE-RQ). A silent "
     "connection holds one of them until acse_timeout_s, never a worker; one source address may hold at most half "
     "of them (1..1024).",
     [](Config& c) -> FieldRef { return &c.dimse.negotiators; }, 1, 1024},
    {"dimse", "max_pending", "Negotiated associations waiting for a worker before new ones are refused (A-ASSOCIATE-RJ transient).",
     [](Config& c) -> FieldRef { return &c.dimse.max_pending; }, 0, 65536},
    {"dimse", "max_pdu", "Maximum PDU size we receive, in bytes (4096..1048576).",
     [](Config& c) -> FieldRef { return &c.dimse.max_pdu; }, 4096, 1048576},
    {"dimse", "max_object_bytes", "Largest object accepted by C-STORE or import, in bytes.",
     [](Config& c) -> FieldRef { return &c.dimse.max_object_bytes; }, 1024, kMaxObjectBytesLimit},
    {"dimse", "max_sequence_depth", "Deepest sequence nesting accepted in a received object (1..256).",
     [](Config& c) -> FieldRef { return &c.dimse.max_sequence_depth; }, 1, 256},
    {"dimse", "acse_timeout_s", "Seconds allowed for association negotiation (1..3600).",
     [](Config& c) -> FieldRef { return &c.dimse.acse_timeout_s; }, 1, 3600},
    {"dimse", "dimse_timeout_s", "Seconds allowed for a DIMSE message in progress (1..3600).",
     [](Config& c) -> FieldRef { return &c.dimse.dimse_timeout_s; }, 1, 3600},
    {"dimse", "idle_timeout_s", "Seconds after which an idle association is released (1..3600).",
     [](Config& c) -> FieldRef { return &c.dimse.idle_timeout_s; }, 1, 3600},
    {"dimse", "find_cap", "Most C-FIND results returned to a peer without unlimited_find.",
     [](Config& c) -> FieldRef { return &c.dimse.find_cap; }, 1, 100000000},
    {"dimse", "retrieve_cap",
     "Most instances one C-GET, C-MOVE or WADO-RS retrieve may send to a peer or user without unlimited_retrieve "
     "(above it: refused, C-GET/C-MOVE status A702). The default is above nearly every single study.",
     [](Config& c) -> FieldRef { return &c.dimse.retrieve_cap; }, 1, 100000000},

    {"tls", "cert_file", "Server certificate (PEM).", [](Config& c) -> FieldRef { return &c.tls.cert_file; }},
    {"tls", "key_file", "Server private key (PEM); must not be readable by group or others.",
     [](Config& c) -> FieldRef { return &c.tls.key_file; }},
    {"tls", "ca_file", "CA certificate(s) that client certificates must chain to (PEM).",
     [](Config& c) -> FieldRef { return &c.tls.ca_file; }},
    {"tls", "ca_key_file", "Key of the local CA, used only by `tresor cert issue` and `tresor cert revoke`.",
     [](Config& c) -> FieldRef { return &c.tls.ca_key_file; }},
    {"tls", "crl_file",
     "Revocation list of the local CA (written by `tresor cert revoke` and `tresor peer remove`), checked on every "
     "DIMSE TLS handshake and re-read when it changes; absent = nothing revoked.",
     [](Config& c) -> FieldRef { return &c.tls.crl_file; }},

    {"brute_force", "max_failures", "Failed associations from one source address ...",
     [](Config& c) -> FieldRef { return &c.brute_force.max_failures; }, 1, 1000000},
    {"brute_force", "window_s", "... within this many seconds ...",
     [](Config& c) -> FieldRef { return &c.brute_force.window_s; }, 1, 86400},
    {"brute_force", "block_s",
     "... block that address for this many seconds. A blocked address still serves a registered peer presenting its "
     "bound client certificate (or, for peers authenticated by user identity, a valid one); everything else is refused.",
     [](Config& c) -> FieldRef { return &c.brute_force.block_s; }, 1, 2592000},
    {"brute_force", "blocked_handshakes_per_s",
     "TLS handshakes per second a blocked address may still start (at most 4 at a time); the rest are closed "
     "before the handshake, which bounds what a blocked address costs (1..1000).",
     [](Config& c) -> FieldRef { return &c.brute_force.blocked_handshakes_per_s; }, 1, 1000},

    {"oidc", "issuer", "JWT user identity (type 5) is accepted only when this issuer is set.",
     [](Config& c) -> FieldRef { return &c.oidc.issuer; }},
    {"oidc", "audience", "Required `aud` claim (required when issuer is set).",
     [](Config& c) -> FieldRef { return &c.oidc.audience; }},
    {"oidc", "jwks_file", "JSON Web Key Set file with the issuer's public keys (this or jwks_url is required when issuer is set).",
     [](Config& c) -> FieldRef { return &c.oidc.jwks_file; }},
    {"oidc", "jwks_url",
     "https:// URL of the issuer's JSON Web Key Set, instead of jwks_file; fetched at start-up (start fails without it), "
     "every jwks_refresh_s and on an unknown key id (at most once a minute). The server certificate is verified.",
     [](Config& c) -> FieldRef { return &c.oidc.jwks_url; }},
    {"oidc", "jwks_ca_file", "CA certificate(s) trusted for jwks_url (PEM). Empty = the system CA store (/etc/ssl/certs).",
     [](Config& c) -> FieldRef { return &c.oidc.jwks_ca_file; }},
    {"oidc", "jwks_refresh_s", "Seconds between fetches of jwks_url, to follow key rotation (60..86400).",
     [](Config& c) -> FieldRef { return &c.oidc.jwks_refresh_s; }, 60, 86400},
    {"oidc", "algorithms", "Signature algorithms accepted; the token's own alg header never widens this list.",
     [](Config& c) -> FieldRef { return &c.oidc.algorithms; }},
    {"http", "bind", "IPv4 address of the HTTPS listener (DICOMweb, REST API, web UI). There is no plaintext HTTP.",
     [](Config& c) -> FieldRef { return &c.http.bind; }},
    {"http", "port", "Port of the HTTPS listener (0 = off).", [](Config& c) -> FieldRef { return &c.http.port; }, 0, 65535},
    {"http", "web_root",
     "Directory with Tresor's web pages (app/) and the OHIF viewer bundle (ohif/dist/, installed by `make web`); "
     "empty = no web UI. Relative paths resolve against this file's directory.",
     [](Config& c) -> FieldRef { return &c.http.web_root; }},
    {"http", "public_url",
     "Public origin used in absolute URLs (BulkDataURI), e.g. https://pacs.example.org:8443. Empty = https://<bind>:<port>.",
     [](Config& c) -> FieldRef { return &c.http.public_url; }},
    {"http", "io_threads",
     "Threads doing the HTTPS connections' TLS and socket I/O (1..256), each serving its own share of the "
     "connections; nothing blocks on them. More give HTTPS a larger share of the CPU when many DIMSE associations "
     "compete for it.",
     [](Config& c) -> FieldRef { return &c.http.io_threads; }, 1, 256},
    {"http", "handler_threads",
     "Threads running authentication (Argon2id), request handlers and response bodies, which block on the index and "
     "the disk (1..1024): this many HTTPS requests are served at once; the others wait their turn.",
     [](Config& c) -> FieldRef { return &c.http.handler_threads; }, 1, 1024},
    {"http", "max_connections", "Open HTTPS connections beyond which new ones are closed at once.",
     [](Config& c) -> FieldRef { return &c.http.max_connections; }, 1, 1000000},
    {"http", "max_header_bytes", "Largest request line plus headers, in bytes (1024..1048576).",
     [](Config& c) -> FieldRef { return &c.http.max_header_bytes; }, 1024, 1048576},
    {"http", "max_upload_bytes", "Largest request body (one STOW-RS upload), in bytes; streamed to disk, never held in memory.",
     [](Config& c) -> FieldRef { return &c.http.max_upload_bytes; }, 1024, kMaxObjectBytesLimit},
    {"http", "max_parts", "Most parts in one multipart request (1..1000000).",
     [](Config& c) -> FieldRef { return &c.http.max_parts; }, 1, 1000000},
    {"http", "handshake_timeout_s", "Seconds allowed for the TLS handshake (1..3600).",
     [](Config& c) -> FieldRef { return &c.http.handshake_timeout_s; }, 1, 3600},
    {"http", "header_timeout_s", "Seconds allowed for a whole request header to arrive (slow clients are cut off) (1..3600).",
     [](Config& c) -> FieldRef { return &c.http.header_timeout_s; }, 1, 3600},
    {"http", "idle_timeout_s", "Seconds a keep-alive connection may stay idle (1..3600).",
     [](Config& c) -> FieldRef { return &c.http.idle_timeout_s; }, 1, 3600},
    {"http", "body_timeout_s", "Seconds a request body or response may go without progress (1..86400).",
     [](Config& c) -> FieldRef { return &c.http.body_timeout_s; }, 1, 86400},
    {"http", "qido_cap", "Most QIDO-RS results without unlimited access (larger limits are cut to this).",
     [](Config& c) -> FieldRef { return &c.http.qido_cap; }, 1, 100000000},
    {"http", "session_idle_minutes", "A login session ends after this many minutes without a request (1..1440).",
     [](Config& c) -> FieldRef { return &c.http.session_idle_minutes; }, 1, 1440},
    {"http", "session_max_hours", "A login session ends at the latest this many hours after login (1..720).",
     [](Config& c) -> FieldRef { return &c.http.session_max_hours; }, 1, 720},
    {"http", "token_max_days", "Longest lifetime of a personal API token, in days (1..3650).",
     [](Config& c) -> FieldRef { return &c.http.token_max_days; }, 1, 3650},
    {"http", "jwt_token_max_days",
     "0 = a bearer JWT (OIDC) may not create API tokens (only a password, with Basic or a log-in session, may); "
     "N = it may, and the token expires at most N days after the JWT itself (0..3650, at most token_max_days).",
     [](Config& c) -> FieldRef { return &c.http.jwt_token_max_days; }, 0, 3650},
    {"http", "max_connections_per_source",
     "Open HTTPS connections from one source address beyond which its new ones are closed at once, so one address "
     "cannot hold every connection (1..max_connections; a site behind one NAT address shares it).",
     [](Config& c) -> FieldRef { return &c.http.max_connections_per_source; }, 1, 1000000},
    {"http", "handshakes_per_source_per_s",
     "New HTTPS connections (TLS handshakes, the costly part) per second from one source address, with a burst of "
     "as many again; beyond, a new connection waits for its turn (at most 2 s) or is closed at once (1..100000).",
     [](Config& c) -> FieldRef { return &c.http.handshakes_per_source_per_s; }, 1, 100000},
    {"http", "failure_audit_window_s",
     "Failed authentications are audited in aggregate: the first from a source address in this many seconds in "
     "full, the others as one summary line with their count (1..3600).",
     [](Config& c) -> FieldRef { return &c.http.failure_audit_window_s; }, 1, 3600},

    {"login", "pair_free_failures",
     "Wrong passwords (HTTP or DIMSE user identity) from one address for one account before its guesses are delayed ...",
     [](Config& c) -> FieldRef { return &c.login.pair_free_failures; }, 0, 1000},
    {"login", "pair_max_delay_s",
     "... then it waits 1 s, 2 s, 4 s ... (answered 429 with Retry-After, never a sleeping thread) up to this many seconds ...",
     [](Config& c) -> FieldRef { return &c.login.pair_max_delay_s; }, 1, 86400},
    {"login", "pair_max_failures",
     "... and this many within pair_window_s refuse its guesses until the oldest leaves the window (not for a known-good address).",
     [](Config& c) -> FieldRef { return &c.login.pair_max_failures; }, 1, 1000000},
    {"login", "pair_window_s", "Window of pair_max_failures, in seconds.",
     [](Config& c) -> FieldRef { return &c.login.pair_window_s; }, 1, 2592000},
    {"login", "account_guesses_per_minute",
     "Ceiling on password guesses per account from all addresses that are not known good: an attacker gets at most "
     "account_burst + 1440 x this many guesses per account per day (2,890 with the defaults). There is no hard lock: "
     "the owner's known-good addresses and sessions are never refused because of others' failures.",
     [](Config& c) -> FieldRef { return &c.login.account_guesses_per_minute; }, 1, 10000},
    {"login", "account_burst", "Guesses an account may take at once before the per-minute ceiling applies.",
     [](Config& c) -> FieldRef { return &c.login.account_burst; }, 1, 10000},
    {"login", "known_good_days",
     "An (account, address) pair that logged in successfully is known good for this many days: exempt from the "
     "account ceiling, never refused outright (at most delayed). A login also sets a device cookie "
     "(__Host-tresor_device, MAC key in device_cookie.key next to this file) valid this long: that browser is exempt from the "
     "account ceiling from any address, within its own per-device delays and refusal.",
     [](Config& c) -> FieldRef { return &c.login.known_good_days; }, 1, 3650},
    {"login", "source_max_failures", "Failed HTTP authentications from one source address ...",
     [](Config& c) -> FieldRef { return &c.login.source_max_failures; }, 1, 1000000},
    {"login", "source_window_s", "... within this many seconds ...",
     [](Config& c) -> FieldRef { return &c.login.source_window_s; }, 1, 86400},
    {"login", "source_block_s",
     "... refuse password guesses from that address for this many seconds (sessions, API tokens, JWTs and accounts that "
     "logged in from there before still work).",
     [](Config& c) -> FieldRef { return &c.login.source_block_s; }, 1, 2592000},

    {"audit", "rotate_bytes",
     "The current audit file (audit/audit.jsonl) is renamed audit.<first seq>.jsonl and a new one started once it "
     "holds this many bytes; the hash chain runs on across files (4096..2^40).",
     [](Config& c) -> FieldRef { return &c.audit.rotate_bytes; }, 4096, std::int64_t{1} << 40},
    {"audit", "checkpoint_records",
     "A checkpoint signed with the audit signing key (keys/audit-sign.key) is written after this many records ...",
     [](Config& c) -> FieldRef { return &c.audit.checkpoint_records; }, 1, 1000000},
    {"audit", "checkpoint_seconds",
     "... or this many seconds after the first record it does not yet cover, and at every clean stop (1..86400).",
     [](Config& c) -> FieldRef { return &c.audit.checkpoint_seconds; }, 1, 86400},
    {"audit", "access_window_s",
     "Viewer (WADO-RS) reads are audited as one DICOM Instances Accessed event per (user, study), written once the "
     "study has not been read for this many seconds, and at every clean stop, with the instance count (1..86400).",
     [](Config& c) -> FieldRef { return &c.audit.access_window_s; }, 1, 86400},

    {"audit_export", "enabled",
     "Send every audit record, as a PS3.15 DICOM audit message in RFC 5424 syslog, to an audit record repository over "
     "mutual TLS (RFC 5425, IHE ATNA ITI-20). Records wait in the trail while the repository is down; re-sent ones "
     "carry the same [tresor@32473 seq=\"N\"] so the repository can drop copies. Off by default.",
     [](Config& c) -> FieldRef { return &c.audit_export.enabled; }},
    {"audit_export", "host", "The audit record repository (syslog collector): DNS name or IPv4 address.",
     [](Config& c) -> FieldRef { return &c.audit_export.host; }},
    {"audit_export", "port", "Its syslog-over-TLS port (6514 is RFC 5425's).",
     [](Config& c) -> FieldRef { return &c.audit_export.port; }, 1, 65535},
    {"audit_export", "server_name", "Name (DNS or IP) its certificate must carry; empty = host.",
     [](Config& c) -> FieldRef { return &c.audit_export.server_name; }},
    {"audit_export", "ca_file", "CA certificate(s) the repository's certificate must chain to (PEM).",
     [](Config& c) -> FieldRef { return &c.audit_export.ca_file; }},
    {"audit_export", "cert_file",
     "Our client certificate (PEM) presented to the repository, e.g. from `tresor cert issue --cn <host> --out pki/audit`.",
     [](Config& c) -> FieldRef { return &c.audit_export.cert_file; }},
    {"audit_export", "key_file", "Its private key (PEM); must not be readable by group or others.",
     [](Config& c) -> FieldRef { return &c.audit_export.key_file; }},
    {"audit_export", "hostname", "HOSTNAME field of the syslog messages; empty = this machine's host name.",
     [](Config& c) -> FieldRef { return &c.audit_export.hostname; }},

    {"retention", "policies",
     "Retention policies, each \"NAME: N years [modality=XX] [sop_class=UID]\": studies older than N years (by "
     "StudyDate, else by the time received; with modality / sop_class only studies wholly of it), never those under "
     "legal hold (label hold), are deleted by `tresor retention run` (audited, reason \"retention policy NAME\").",
     [](Config& c) -> FieldRef { return &c.retention.policies; }},
    {"retention", "daily", "tresor serve also applies the retention policies once a day (off by default).",
     [](Config& c) -> FieldRef { return &c.retention.daily; }},

    {"encryption", "enabled",
     "Encrypt every stored object (AES-256-GCM, one data key per object wrapped by the key-encryption key). "
     "false only to measure the overhead: `tresor check` reports it.",
     [](Config& c) -> FieldRef { return &c.encryption.enabled; }},
    {"encryption", "key_file",
     "The key-encryption key (KEK): a file of 64 hex digits, mode 0600, outside var_dir (created by `tresor init`). "
     "Back it up apart from var/: without it nothing stored can be read. Set \"\" when key_command is used.",
     [](Config& c) -> FieldRef { return &c.encryption.key_file; }},
    {"encryption", "key_command",
     "Or: a command (run with /bin/sh -c) printing the KEK as 64 hex digits, e.g. `systemd-creds decrypt ...` or a "
     "KMS client; exactly one of key_file and key_command is set.",
     [](Config& c) -> FieldRef { return &c.encryption.key_command; }},
};

const Table kTables[] = {
    {"dimse", "DICOM network (DIMSE) listeners and limits."},
    {"tls", "TLS for the DIMSE listener: server certificate and key, and the CA that client certificates must chain to."},
    {"brute_force", "Blocking of source addresses after repeated failed associations."},
    {"oidc", "OpenID Connect (JWT) user identity (DIMSE type 5 and HTTP Bearer tokens); off while issuer is empty."},
    {"audit", "The tamper-evident audit trail: rotation, signed checkpoints, aggregation of viewer reads."},
    {"audit_export", "Export of the audit trail to an audit record repository (IHE ATNA: syslog over mutual TLS)."},
    {"http", "HTTPS server: DICOMweb, the REST API and the web UI. TLS 1.2 or newer only, on the [tls] certificate."},
    {"login", "Password-guessing throttle for HTTP logins and DIMSE user identity (no hard account lock)."},
    {"encryption", "Encryption at rest: where the key-encryption key comes from (`tresor key rotate` replaces it)."},
    {"retention", "Deletion of old studies by policy (`tresor retention run [--dry-run]`); a study labelled hold is never deleted."},
};

} // namespace

std::span<const Option> options() { return kOptions; }

std::span<const Table> tables() { return kTables; }

} // namespace tresor::config::detail
