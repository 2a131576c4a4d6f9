// Local PKI with OpenSSL 3: a private CA, the server certificate and client
// certificates for modalities and peers. Keys are RSA 2048 (TLS 1.2 with DCMTK's BCP 195 profile needs RSA), written 0600; the server certificate is also valid for client authentication (C-MOVE sub-associations).
#pragma once
#include <filesystem>
#include <string>
#include <vector>
#include "core/error.h"

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
Result<IssuedCert> issue_client_cert(const std::filesystem::path& ca_cert, const std::filesystem::path& ca_key,
                                     const std::string& common_name, int days,
                                     const std::filesystem::path& out_cert, const std::filesystem::path& out_key);
// Hex SHA-256 of a DER certificate.
std::string sha256_hex(const unsigned char* data, std::size_t len);
Result<std::string> cert_file_sha256(const std::filesystem::path& pem_file);

} // namespace tresor::security
