#include "config/options.h"


namespace tresor::config::detail {
namespace {

constexpr std::int64_t kMaxObjectBytesLimit = std::int64_t{1} << 40;  // 1 TiB

const Option kOptions[] = {
    {"", "log_level", "Log level: trace, debug, info, warn, error, critical or off. Logs never carry patient data.",
     [](Config& c) -> FieldRef { return &c.log_level; }},
    {"", "var_dir", "Where index.db, store/ and audit/ live. Relative paths resolve against this file's directory.",
     [](Config& c) -> FieldRef { return &c.var_dir; }},

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

    {"tls", "cert_file", "Server certificate (PEM).", [](Config& c) -> FieldRef { return &c.tls.cert_file; }},
    {"tls", "key_file", "Server private key (PEM); must not be readable by group or others.",
     [](Config& c) -> FieldRef { return &c.tls.key_file; }},
    {"tls", "ca_file", "CA certificate(s) that client certificates must chain to (PEM).",
     [](Config& c) -> FieldRef { return &c.tls.ca_file; }},
    {"tls", "ca_key_file", "Key of the local CA, used only by `tresor cert issue`.",
     [](Config& c) -> FieldRef { return &c.tls.ca_key_file; }},

    {"brute_force", "max_failures", "Failed associations from one source address ...",
     [](Config& c) -> FieldRef { return &c.brute_force.max_failures; }, 1, 1000000},
    {"brute_force", "window_s", "... within this many seconds ...",
     [](Config& c) -> FieldRef { return &c.brute_force.window_s; }, 1, 86400},
    {"brute_force", "block_s", "... block that address for this many seconds.",
     [](Config& c) -> FieldRef { return &c.brute_force.block_s; }, 1, 2592000},

    {"oidc", "issuer", "JWT user identity (type 5) is accepted only when this issuer is set.",
     [](Config& c) -> FieldRef { return &c.oidc.issuer; }},
    {"oidc", "audience", "Required `aud` claim (required when issuer is set).",
     [](Config& c) -> FieldRef { return &c.oidc.audience; }},
    {"oidc", "jwks_file", "JSON Web Key Set with the issuer's public keys (required when issuer is set).",
     [](Config& c) -> FieldRef { return &c.oidc.jwks_file; }},
    {"oidc", "algorithms", "Signature algorithms accepted; the token's own alg header never widens this list.",
     [](Config& c) -> FieldRef { return &c.oidc.algorithms; }},
};

const Table kTables[] = {
    {"dimse", "DICOM network (DIMSE) listeners and limits."},
    {"tls", "TLS for the DIMSE listener: server certificate and key, and the CA that client certificates must chain to."},
    {"brute_force", "Blocking of source addresses after repeated failed associations."},
    {"oidc", "OpenID Connect (JWT) user identity; off while issuer is empty."},
};

} // namespace

std::span<const Option> options() { return kOptions; }

std::span<const Table> tables() { return kTables; }

} // namespace tresor::config::detail
