// Local PKI with OpenSSL 3: a private CA, the server certificate, node
// certificates for modalities and peers, and the CA's revocation list. Keys
// are RSA 2048 (TLS 1.2 with DCMTK's BCP 195 profile needs RSA), written
// 0600. Every issued certificate carries both serverAuth and clientAuth
// extended key usage: a DICOM node is SCU and SCP (a C-MOVE destination
// presents its certificate as a TLS server; Tresor presents its own as a TLS
// client on the outbound association).
#pragma once
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>
#include "core/error.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace tresor::security {

struct IssuedCert {
  std::filesystem::path cert_file, key_file;
  std::string sha256;   // hex SHA-256 of the certificate DER
};

Status create_ca(const std::filesystem::path& cert_file, const std::filesystem::path& key_file,
                 const std::string& common_name);
// Server certificate with SANs (DNS names and IP addresses).
Result<IssuedCert> issue_server_cert(const std::filesystem::path& ca_cert, const std::filesystem::path& ca_key,
                                     const std::string& common_name, const std::vector<std::string>& dns_names,
                                     const std::vector<std::string>& ip_addresses,
                                     const std::filesystem::path& out_cert, const std::filesystem::path& out_key);
// A node certificate (modality, viewer, peer PACS): 1..kMaxClientDays days.
inline constexpr int kMaxClientDays = 730;
Result<IssuedCert> issue_client_cert(const std::filesystem::path& ca_cert, const std::filesystem::path& ca_key,
                                     const std::string& common_name, int days,
                                     const std::filesystem::path& out_cert, const std::filesystem::path& out_key);

// What identifies an issued certificate.
struct CertInfo {
  std::string serial;       // upper-case hex, no separators, no leading zeros
  std::string sha256;       // hex SHA-256 of the DER
  std::string common_name;
  std::filesystem::path file;
};
Result<CertInfo> cert_file_info(const std::filesystem::path& pem_file);

// The CA's record of what it issued (like `openssl ca`'s newcerts/): a copy
// of each certificate as <dir>/<serial>.pem. `tresor peer remove` looks the
// peer's certificates up here to revoke them.
Status record_issued(const std::filesystem::path& cert_file, const std::filesystem::path& dir);
Result<std::vector<CertInfo>> list_issued(const std::filesystem::path& dir);

// Normalises a serial typed by an operator ("0a:1B..." or "0x0A1B...") to
// the CertInfo form, or "" if it is not a hex number of at most 40 bytes.
std::string normalise_serial(std::string_view text);

// Adds `serials` to the CA's CRL (created if absent) and re-signs it with the
// CA key: lastUpdate now, nextUpdate the CA's notAfter (the list is local,
// read by this instance's listeners, never published, so it is not meant to
// expire; it is rewritten at every revocation). Written atomically
// (temporary file + rename, 0644). Returns the serials newly revoked (those
// already on the list are not repeated).
Result<std::vector<std::string>> revoke_serials(const std::filesystem::path& ca_cert,
                                                const std::filesystem::path& ca_key,
                                                const std::filesystem::path& crl_file,
                                                const std::vector<std::string>& serials);
// Where the CA records what it issued: issued/ beside the CRL (var/pki/issued).
inline std::filesystem::path issued_dir_for(const std::filesystem::path& crl_file) {
  return crl_file.parent_path() / "issued";
}
// Revokes every recorded certificate that would authenticate the peer
// `ae_title`: the one whose SHA-256 is `pin` (if any) and every one whose CN
// is the AE title. Returns the serials newly revoked. A pinned certificate
// the CA has no record of (issued elsewhere or before records were kept) is
// not revocable here: the peer's removal still refuses it.
Result<std::vector<std::string>> revoke_peer_certificates(const std::filesystem::path& ca_cert,
                                                          const std::filesystem::path& ca_key,
                                                          const std::filesystem::path& crl_file,
                                                          const std::string& ae_title, const std::string& pin);
// The serials on a CRL file (empty if the file does not exist).
Result<std::vector<std::string>> revoked_serials(const std::filesystem::path& crl_file);

// Checks the CRL on every TLS handshake of the SSL_CTX it is installed on:
// each certificate verification re-reads `crl_file` when it changed (inode,
// size or mtime), so a revocation takes effect without a restart. A client
// certificate issued by the CRL's issuer is refused when revoked; one from
// another trusted CA is not checked (no CRL for it here). A CRL file that is
// present but unreadable, badly signed or expired fails every verification
// it applies to (fail closed). Absent file: nothing is revoked. Must outlive
// the SSL_CTX; thread-safe.
class CrlChecker {
public:
  explicit CrlChecker(std::filesystem::path crl_file);
  ~CrlChecker();
  CrlChecker(const CrlChecker&) = delete;
  CrlChecker& operator=(const CrlChecker&) = delete;
  void install(ssl_ctx_st* ctx);

  struct Snapshot;  // the loaded CRLs (internal)
  std::shared_ptr<const Snapshot> current();

private:
  std::filesystem::path file_;
  std::mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_;  // guarded by mutex_
};
// Hex SHA-256 of a DER certificate.
std::string sha256_hex(const unsigned char* data, std::size_t len);
Result<std::string> cert_file_sha256(const std::filesystem::path& pem_file);

} // namespace tresor::security
