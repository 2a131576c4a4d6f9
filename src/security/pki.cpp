// Local PKI on OpenSSL 3 (see pki.h for the contract).
//
// Choices:
//  - keys are RSA 2048 (see generate_key); signatures SHA-256; serials are 127 random
//    bits (positive INTEGER of 16 bytes);
//  - the CA is valid 10 years, the server certificate 825 days, a node
//    certificate the requested number of days (1..kMaxClientDays = 730); an issued
//    certificate never outlives its CA; notBefore is back-dated 5 minutes for
//    clock skew;
//  - output files are never overwritten (O_EXCL): an existing file is an
//    error (Errc::conflict). Keys are created 0600, certificates 0644. Parent
//    directories are created when missing. If the certificate cannot be
//    written, the freshly written key is removed again;
//  - SANs are built as GENERAL_NAMEs (not through a config string) after
//    validating every DNS name and IP address, so no input can inject an
//    extra name.
#include "security/pki.h"
#include "security/pki_internal.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace tresor::security {

namespace detail {

Result<X509Ptr> read_cert(const std::filesystem::path& file) {
  BioPtr bio(BIO_new_file(file.c_str(), "r"));
  if (!bio) return fail(Errc::io_error, "cannot read certificate " + file.string());
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return fail(Errc::invalid_argument, "no PEM certificate in " + file.string());
  return cert;
}

Result<PkeyPtr> read_key(const std::filesystem::path& file) {
  BioPtr bio(BIO_new_file(file.c_str(), "r"));
  if (!bio) return fail(Errc::io_error, "cannot read private key " + file.string());
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return fail(Errc::invalid_argument, "no (unencrypted) PEM private key in " + file.string());
  return key;
}

} // namespace detail

namespace {

using detail::BioPtr;
using detail::PkeyPtr;
using detail::X509Ptr;
using detail::read_cert;
using detail::read_key;

constexpr int kCaDays = 3650;
constexpr int kServerDays = 825;
constexpr long kBackdateSeconds = 300;

struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};

bool valid_common_name(const std::string& cn) {
  if (cn.empty() || cn.size() > 64) return false;
  for (unsigned char c : cn) {
    if (c < 0x20 || c == 0x7F) return false;
  }
  return true;
}

// RFC 1123 host name: labels of 1..63 letters, digits and hyphens, not
// starting or ending with a hyphen; 253 characters at most. No wildcards.
bool valid_dns_name(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  char prev = '.';
  for (char c : name) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok || (label == 0 && c == '-') || ++label > 63) return false;
    }
    prev = c;
  }
  return label > 0 && prev != '-';
}

Result<PkeyPtr> generate_key() {
  // RSA, not EC: DCMTK 3.6.7's BCP 195 non-downgrading profile offers only
  // ECDHE_RSA / DHE_RSA suites for TLS 1.2, so an EC server key would leave
  // TLS 1.2-only peers unable to connect.
  PkeyPtr key(EVP_RSA_gen(2048));
  if (!key) return fail(Errc::internal, "RSA key generation failed");
  return key;
}

// Creates `file` exclusively with `mode` and writes `data` to it, fsynced.
Status write_new_file(const std::filesystem::path& file, const char* data, std::size_t len, mode_t mode) {
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) return fail(Errc::io_error, "cannot create directory " + file.parent_path().string() + ": " + ec.message());
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return fail(Errc::conflict, file.string() + " already exists (not overwritten)");
    return fail(Errc::io_error, "cannot create " + file.string() + ": " + std::strerror(errno));
  }
  bool ok = ::fchmod(fd, mode) == 0;  // the umask may have removed bits we want, never add any
  std::size_t done = 0;
  while (ok && done < len) {
    ssize_t n = ::write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = false;
    else done += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    ::unlink(file.c_str());
    return fail(Errc::io_error, "cannot write " + file.string());
  }
  return {};
}

Status write_key(const std::filesystem::path& file, EVP_PKEY* key) {
  // Secure-heap memory BIO: the buffer is cleansed when freed.
  BioPtr mem(BIO_new(BIO_s_secmem()));
  if (!mem || PEM_write_bio_PrivateKey(mem.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return fail(Errc::internal, "cannot encode private key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(mem.get(), &data);
  if (len <= 0) return fail(Errc::internal, "cannot encode private key");
  return write_new_file(file, data, static_cast<std::size_t>(len), 0600);
}

Status write_cert(const std::filesystem::path& file, X509* cert) {
  BioPtr mem(BIO_new(BIO_s_mem()));
  if (!mem || PEM_write_bio_X509(mem.get(), cert) != 1) return fail(Errc::internal, "cannot encode certificate");
  char* data = nullptr;
  long len = BIO_get_mem_data(mem.get(), &data);
  if (len <= 0) return fail(Errc::internal, "cannot encode certificate");
  return write_new_file(file, data, static_cast<std::size_t>(len), 0644);
}

// Writes the key first (exclusive), then the certificate; removes the key if
// the certificate cannot be written so that a retry is possible.
Status write_pair(const std::filesystem::path& cert_file, X509* cert, const std::filesystem::path& key_file,
                  EVP_PKEY* key) {
  std::error_code ec;
  if (std::filesystem::exists(cert_file, ec)) {
    return fail(Errc::conflict, cert_file.string() + " already exists (not overwritten)");
  }
  if (auto st = write_key(key_file, key); !st) return st;
  if (auto st = write_cert(cert_file, cert); !st) {
    ::unlink(key_file.c_str());
    return st;
  }
  return {};
}

Status add_ext(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (!ext) return fail(Errc::internal, std::string("cannot build extension ") + OBJ_nid2sn(nid));
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return fail(Errc::internal, std::string("cannot add extension ") + OBJ_nid2sn(nid));
  return {};
}

Status set_random_serial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return fail(Errc::internal, "no randomness for the serial number");
  bytes[0] &= 0x7F;  // positive
  bytes[0] |= 0x01;  // never zero, constant length
  std::unique_ptr<BIGNUM, BnFree> bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) {
    return fail(Errc::internal, "cannot set serial number");
  }
  return {};
}

enum class Profile { ca, server, client };

struct CertSpec {
  Profile profile;
  std::string common_name;
  int days;
  std::vector<std::string> dns_names, ip_addresses;
};

// Builds and signs a certificate for `subject_key`. `issuer` / `issuer_key`
// are null for the self-signed CA.
Result<X509Ptr> build_cert(const CertSpec& spec, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  if (!cert) return fail(Errc::internal, "out of memory");
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_set_version(cert.get(), 2) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(spec.common_name.data()),
                                 static_cast<int>(spec.common_name.size()), -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name) != 1 ||
      X509_set_pubkey(cert.get(), subject_key) != 1 ||
      !X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert.get()), spec.days, 0, nullptr)) {
    return fail(Errc::internal, "cannot fill certificate");
  }
  if (issuer && ASN1_TIME_compare(X509_get0_notAfter(cert.get()), X509_get0_notAfter(issuer)) > 0) {
    if (X509_set1_notAfter(cert.get(), X509_get0_notAfter(issuer)) != 1) return fail(Errc::internal, "cannot set notAfter");
  }
  if (auto st = set_random_serial(cert.get()); !st) return std::unexpected(st.error());

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  Status st;
  switch (spec.profile) {
    case Profile::ca:
      st = add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
      if (st) st = add_ext(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
      if (st) st = add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash");
      break;
    case Profile::server:
    case Profile::client:
      st = add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
      if (st) st = add_ext(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
      if (st) {
        // Both, for the server and for node certificates alike: a DICOM node is
        // SCU and SCP (a C-MOVE destination is a TLS server).
        st = add_ext(cert.get(), &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
      }
      if (st) st = add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash");
      if (st) st = add_ext(cert.get(), &ctx, NID_authority_key_identifier, "keyid");
      break;
  }
  if (!st) return std::unexpected(st.error());

  if (!spec.dns_names.empty() || !spec.ip_addresses.empty()) {
    std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> gens(sk_GENERAL_NAME_new_null());
    if (!gens) return fail(Errc::internal, "out of memory");
    for (const auto& dns : spec.dns_names) {
      GENERAL_NAME* g = GENERAL_NAME_new();
      ASN1_IA5STRING* s = ASN1_IA5STRING_new();
      if (!g || !s || ASN1_STRING_set(s, dns.data(), static_cast<int>(dns.size())) != 1) {
        GENERAL_NAME_free(g);
        ASN1_IA5STRING_free(s);
        return fail(Errc::internal, "out of memory");
      }
      GENERAL_NAME_set0_value(g, GEN_DNS, s);
      if (sk_GENERAL_NAME_push(gens.get(), g) <= 0) {
        GENERAL_NAME_free(g);
        return fail(Errc::internal, "out of memory");
      }
    }
    for (const auto& ip : spec.ip_addresses) {
      ASN1_OCTET_STRING* bin = a2i_IPADDRESS(ip.c_str());
      if (!bin) return fail(Errc::invalid_argument, "not an IP address: " + ip);
      GENERAL_NAME* g = GENERAL_NAME_new();
      if (!g) {
        ASN1_OCTET_STRING_free(bin);
        return fail(Errc::internal, "out of memory");
      }
      GENERAL_NAME_set0_value(g, GEN_IPADD, bin);
      if (sk_GENERAL_NAME_push(gens.get(), g) <= 0) {
        GENERAL_NAME_free(g);
        return fail(Errc::internal, "out of memory");
      }
    }
    if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, gens.get(), 0, X509V3_ADD_DEFAULT) != 1) {
      return fail(Errc::internal, "cannot add subjectAltName");
    }
  }

  if (X509_sign(cert.get(), issuer_key ? issuer_key : subject_key, EVP_sha256()) <= 0) {
    return fail(Errc::internal, "cannot sign certificate");
  }
  return cert;
}

Result<std::string> der_sha256(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  if (len <= 0) return fail(Errc::internal, "cannot encode certificate");
  std::string hex = sha256_hex(der, static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return hex;
}

// Loads the CA pair and checks that it is usable for issuing.
Result<std::pair<X509Ptr, PkeyPtr>> load_ca(const std::filesystem::path& ca_cert, const std::filesystem::path& ca_key) {
  auto cert = read_cert(ca_cert);
  if (!cert) return std::unexpected(cert.error());
  auto key = read_key(ca_key);
  if (!key) return std::unexpected(key.error());
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    return fail(Errc::invalid_argument, "CA key " + ca_key.string() + " does not match " + ca_cert.string());
  }
  if (X509_check_ca(cert->get()) < 1) return fail(Errc::invalid_argument, ca_cert.string() + " is not a CA certificate");
  return std::pair{std::move(*cert), std::move(*key)};
}

Result<IssuedCert> issue(const std::filesystem::path& ca_cert, const std::filesystem::path& ca_key, const CertSpec& spec,
                         const std::filesystem::path& out_cert, const std::filesystem::path& out_key) {
  auto ca = load_ca(ca_cert, ca_key);
  if (!ca) return std::unexpected(ca.error());
  auto key = generate_key();
  if (!key) return std::unexpected(key.error());
  auto cert = build_cert(spec, key->get(), ca->first.get(), ca->second.get());
  if (!cert) return std::unexpected(cert.error());
  auto fp = der_sha256(cert->get());
  if (!fp) return std::unexpected(fp.error());
  if (auto st = write_pair(out_cert, cert->get(), out_key, key->get()); !st) return std::unexpected(st.error());
  return IssuedCert{out_cert, out_key, std::move(*fp)};
}

} // namespace

Status create_ca(const std::filesystem::path& cert_file, const std::filesystem::path& key_file,
                 const std::string& common_name) {
  if (!valid_common_name(common_name)) return fail(Errc::invalid_argument, "CA common name must be 1..64 printable characters");
  auto key = generate_key();
  if (!key) return std::unexpected(key.error());
  CertSpec spec{Profile::ca, common_name, kCaDays, {}, {}};
  auto cert = build_cert(spec, key->get(), nullptr, nullptr);
  if (!cert) return std::unexpected(cert.error());
  return write_pair(cert_file, cert->get(), key_file, key->get());
}

Result<IssuedCert> issue_server_cert(const std::filesystem::path& ca_cert, const std::filesystem::path& ca_key,
                                     const std::string& common_name, const std::vector<std::string>& dns_names,
                                     const std::vector<std::string>& ip_addresses,
                                     const std::filesystem::path& out_cert, const std::filesystem::path& out_key) {
  if (!valid_common_name(common_name)) return fail(Errc::invalid_argument, "common name must be 1..64 printable characters");
  if (dns_names.empty() && ip_addresses.empty()) {
    return fail(Errc::invalid_argument, "a server certificate needs at least one DNS name or IP address");
  }
  for (const auto& d : dns_names) {
    if (!valid_dns_name(d)) return fail(Errc::invalid_argument, "not a valid DNS name: " + d);
  }
  for (const auto& ip : ip_addresses) {
    ASN1_OCTET_STRING* bin = a2i_IPADDRESS(ip.c_str());
    if (!bin) return fail(Errc::invalid_argument, "not an IP address: " + ip);
    ASN1_OCTET_STRING_free(bin);
  }
  CertSpec spec{Profile::server, common_name, kServerDays, dns_names, ip_addresses};
  return issue(ca_cert, ca_key, spec, out_cert, out_key);
}

Result<IssuedCert> issue_client_cert(const std::filesystem::path& ca_cert, const std::filesystem::path& ca_key,
                                     const std::string& common_name, int days,
                                     const std::filesystem::path& out_cert, const std::filesystem::path& out_key) {
  if (!valid_common_name(common_name)) return fail(Errc::invalid_argument, "common name must be 1..64 printable characters");
  if (days < 1 || days > kMaxClientDays)
    return fail(Errc::invalid_argument, "validity must be 1.." + std::to_string(kMaxClientDays) + " days");
  CertSpec spec{Profile::client, common_name, days, {}, {}};
  return issue(ca_cert, ca_key, spec, out_cert, out_key);
}

std::string sha256_hex(const unsigned char* data, std::size_t len) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(md_len * 2);
  for (unsigned int i = 0; i < md_len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0x0F]);
  }
  return out;
}

Result<std::string> cert_file_sha256(const std::filesystem::path& pem_file) {
  auto cert = read_cert(pem_file);
  if (!cert) return std::unexpected(cert.error());
  return der_sha256(cert->get());
}

} // namespace tresor::security
