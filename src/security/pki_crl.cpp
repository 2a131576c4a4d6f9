// Revocation for the local PKI (see pki.h for the contract): the record of
// issued certificates, the CA's CRL, and the CRL check installed on the DIMSE
// TLS contexts.
//
// Choices:
//  - the CRL is the only list of revoked serials (no second database to
//    drift): revoking reads it, adds entries, re-signs and replaces it;
//  - the check is an SSL_CTX certificate-verification callback that hands
//    the current CRL to X509_verify_cert() with X509_V_FLAG_CRL_CHECK (leaf
//    certificate), so a new file is used from the next handshake on; the
//    file is stat()ed on each verification and re-read only when it changed.
#include "security/pki.h"
#include "security/pki_internal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace tresor::security {
namespace {

using detail::BioPtr;
using detail::PkeyPtr;
using detail::X509Ptr;
using detail::read_cert;
using detail::read_key;

struct CrlFree {
  void operator()(X509_CRL* p) const { X509_CRL_free(p); }
};
using CrlPtr = std::unique_ptr<X509_CRL, CrlFree>;

// Absent file: nullptr without error.
Result<CrlPtr> read_crl(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return CrlPtr{};
  BioPtr bio(BIO_new_file(file.c_str(), "r"));
  if (!bio) return fail(Errc::io_error, "cannot read CRL " + file.string());
  CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (!crl) return fail(Errc::invalid_argument, "no PEM CRL in " + file.string());
  return crl;
}

std::string serial_hex(const ASN1_INTEGER* serial) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr);
  if (!bn) return {};
  char* hex = BN_bn2hex(bn);
  BN_free(bn);
  if (!hex) return {};
  std::string out(hex);
  OPENSSL_free(hex);
  return normalise_serial(out);
}

std::string common_name_of(X509* cert) {
  X509_NAME* name = X509_get_subject_name(cert);
  const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

Result<CertInfo> info_of(X509* cert, const std::filesystem::path& file) {
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  if (len <= 0) return fail(Errc::internal, "cannot encode certificate");
  CertInfo info;
  info.sha256 = sha256_hex(der, static_cast<std::size_t>(len));
  OPENSSL_free(der);
  info.serial = serial_hex(X509_get0_serialNumber(cert));
  info.common_name = common_name_of(cert);
  info.file = file;
  if (info.serial.empty()) return fail(Errc::invalid_argument, "certificate without a usable serial number");
  return info;
}

// Writes `data` to `file` atomically: a temporary file in the same directory,
// fsynced, then renamed over it.
Status replace_file(const std::filesystem::path& file, const char* data, std::size_t len, mode_t mode) {
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  const std::filesystem::path tmp = file.string() + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return fail(Errc::io_error, "cannot create " + tmp.string() + ": " + std::strerror(errno));
  bool ok = ::fchmod(fd, mode) == 0;
  std::size_t done = 0;
  while (ok && done < len) {
    const ssize_t n = ::write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = false;
    else done += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return fail(Errc::io_error, "cannot write " + file.string());
  }
  return {};
}

} // namespace

std::string normalise_serial(std::string_view text) {
  if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
  std::string out;
  for (char ch : text) {
    if (ch == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(ch))) return {};
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
  }
  const auto first = out.find_first_not_of('0');
  out = first == std::string::npos ? (out.empty() ? "" : "0") : out.substr(first);
  return out.size() <= 80 ? out : std::string{};
}

Result<CertInfo> cert_file_info(const std::filesystem::path& pem_file) {
  auto cert = read_cert(pem_file);
  if (!cert) return std::unexpected(cert.error());
  return info_of(cert->get(), pem_file);
}

Status record_issued(const std::filesystem::path& cert_file, const std::filesystem::path& dir) {
  auto info = cert_file_info(cert_file);
  if (!info) return std::unexpected(info.error());
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(Errc::io_error, "cannot create " + dir.string() + ": " + ec.message());
  const auto target = dir / (info->serial + ".pem");
  std::filesystem::copy_file(cert_file, target, std::filesystem::copy_options::skip_existing, ec);
  if (ec) return fail(Errc::io_error, "cannot record " + target.string() + ": " + ec.message());
  return {};
}

Result<std::vector<CertInfo>> list_issued(const std::filesystem::path& dir) {
  std::vector<CertInfo> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".pem") continue;
    auto info = cert_file_info(entry.path());
    if (!info) {
      log::warn("pki: skipping unreadable issued-certificate record {}", entry.path().string());
      continue;
    }
    out.push_back(std::move(*info));
  }
  if (ec) return fail(Errc::io_error, "cannot list " + dir.string() + ": " + ec.message());
  std::ranges::sort(out, {}, &CertInfo::serial);
  return out;
}

Result<std::vector<std::string>> revoked_serials(const std::filesystem::path& crl_file) {
  auto crl = read_crl(crl_file);
  if (!crl) return std::unexpected(crl.error());
  std::vector<std::string> out;
  if (!*crl) return out;
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl->get());
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i)
    out.push_back(serial_hex(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i))));
  return out;
}

Result<std::vector<std::string>> revoke_serials(const std::filesystem::path& ca_cert,
                                                const std::filesystem::path& ca_key,
                                                const std::filesystem::path& crl_file,
                                                const std::vector<std::string>& serials) {
  auto cert = read_cert(ca_cert);
  if (!cert) return std::unexpected(cert.error());
  auto key = read_key(ca_key);
  if (!key) return std::unexpected(key.error());
  if (X509_check_private_key(cert->get(), key->get()) != 1)
    return fail(Errc::invalid_argument, "CA key " + ca_key.string() + " does not match " + ca_cert.string());
  // One writer at a time (the CLI and the running server's REST API may
  // revoke at once): an exclusive flock on a companion file, released when
  // the descriptor closes.
  std::error_code dir_ec;
  if (crl_file.has_parent_path()) std::filesystem::create_directories(crl_file.parent_path(), dir_ec);
  const std::string lock_path = crl_file.string() + ".lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd < 0) return fail(Errc::io_error, "cannot open " + lock_path + ": " + std::strerror(errno));
  struct LockGuard {
    int fd;
    ~LockGuard() { ::close(fd); }
  } guard{lock_fd};
  while (::flock(lock_fd, LOCK_EX) != 0) {
    if (errno != EINTR) return fail(Errc::io_error, "cannot lock " + lock_path + ": " + std::strerror(errno));
  }
  auto already = revoked_serials(crl_file);
  if (!already) return std::unexpected(already.error());
  auto old = read_crl(crl_file);
  if (!old) return std::unexpected(old.error());

  CrlPtr crl(X509_CRL_new());
  if (!crl || X509_CRL_set_version(crl.get(), 1) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(cert->get())) != 1)
    return fail(Errc::internal, "cannot build the CRL");
  // Keep every existing entry (with its revocation date).
  if (*old) {
    STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(old->get());
    for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
      X509_REVOKED* copy = X509_REVOKED_dup(sk_X509_REVOKED_value(revoked, i));
      if (!copy || X509_CRL_add0_revoked(crl.get(), copy) != 1) {
        X509_REVOKED_free(copy);
        return fail(Errc::internal, "cannot copy a CRL entry");
      }
    }
  }
  std::vector<std::string> added;
  for (const std::string& typed : serials) {
    const std::string serial = normalise_serial(typed);
    if (serial.empty()) return fail(Errc::invalid_argument, "not a certificate serial number: " + typed);
    if (std::ranges::find(*already, serial) != already->end() || std::ranges::find(added, serial) != added.end())
      continue;
    BIGNUM* bn = nullptr;
    if (BN_hex2bn(&bn, serial.c_str()) == 0) return fail(Errc::invalid_argument, "bad serial number " + serial);
    ASN1_INTEGER* number = BN_to_ASN1_INTEGER(bn, nullptr);
    BN_free(bn);
    X509_REVOKED* entry = X509_REVOKED_new();
    ASN1_TIME* when = X509_gmtime_adj(nullptr, 0);
    const bool ok = number && entry && when && X509_REVOKED_set_serialNumber(entry, number) == 1 &&
                    X509_REVOKED_set_revocationDate(entry, when) == 1 && X509_CRL_add0_revoked(crl.get(), entry) == 1;
    ASN1_INTEGER_free(number);
    ASN1_TIME_free(when);
    if (!ok) {
      X509_REVOKED_free(entry);
      return fail(Errc::internal, "cannot add a CRL entry");
    }
    added.push_back(serial);
  }
  ASN1_TIME* now = X509_gmtime_adj(nullptr, 0);
  const bool dated = now && X509_CRL_set1_lastUpdate(crl.get(), now) == 1 &&
                     X509_CRL_set1_nextUpdate(crl.get(), X509_get0_notAfter(cert->get())) == 1;
  ASN1_TIME_free(now);
  if (!dated || X509_CRL_sort(crl.get()) != 1 || X509_CRL_sign(crl.get(), key->get(), EVP_sha256()) <= 0)
    return fail(Errc::internal, "cannot sign the CRL");
  BioPtr mem(BIO_new(BIO_s_mem()));
  if (!mem || PEM_write_bio_X509_CRL(mem.get(), crl.get()) != 1) return fail(Errc::internal, "cannot encode the CRL");
  char* data = nullptr;
  const long len = BIO_get_mem_data(mem.get(), &data);
  if (len <= 0) return fail(Errc::internal, "cannot encode the CRL");
  if (auto st = replace_file(crl_file, data, static_cast<std::size_t>(len), 0644); !st) return std::unexpected(st.error());
  return added;
}

Result<std::vector<std::string>> revoke_peer_certificates(const std::filesystem::path& ca_cert,
                                                          const std::filesystem::path& ca_key,
                                                          const std::filesystem::path& crl_file,
                                                          const std::string& ae_title, const std::string& pin) {
  auto issued = list_issued(issued_dir_for(crl_file));
  if (!issued) return std::unexpected(issued.error());
  std::vector<std::string> serials;
  for (const CertInfo& c : *issued)
    if (c.common_name == ae_title || (!pin.empty() && c.sha256 == pin)) serials.push_back(c.serial);
  if (serials.empty()) return serials;
  return revoke_serials(ca_cert, ca_key, crl_file, serials);
}

// --- CrlChecker ---------------------------------------------------------------

struct CrlChecker::Snapshot {
  bool present = false;       // the file exists
  bool usable = false;        // ... and holds a CRL
  struct stat st{};
  STACK_OF(X509_CRL)* crls = nullptr;
  X509_NAME* issuer = nullptr;  // owned by the CRL in `crls`
  ~Snapshot() {
    if (crls) sk_X509_CRL_pop_free(crls, X509_CRL_free);
  }
};

CrlChecker::CrlChecker(std::filesystem::path crl_file) : file_(std::move(crl_file)) {}
CrlChecker::~CrlChecker() = default;

std::shared_ptr<const CrlChecker::Snapshot> CrlChecker::current() {
  struct stat st{};
  const bool present = !file_.empty() && ::stat(file_.c_str(), &st) == 0;
  std::lock_guard lock(mutex_);
  if (snapshot_ && snapshot_->present == present &&
      (!present || (snapshot_->st.st_ino == st.st_ino && snapshot_->st.st_size == st.st_size &&
                    snapshot_->st.st_mtim.tv_sec == st.st_mtim.tv_sec &&
                    snapshot_->st.st_mtim.tv_nsec == st.st_mtim.tv_nsec)))
    return snapshot_;
  auto next = std::make_shared<Snapshot>();
  next->present = present;
  next->st = st;
  if (present) {
    auto crl = read_crl(file_);
    if (crl && *crl) {
      next->crls = sk_X509_CRL_new_null();
      X509_CRL* raw = crl->release();
      if (next->crls && sk_X509_CRL_push(next->crls, raw) > 0) {
        next->issuer = X509_CRL_get_issuer(raw);
        next->usable = true;
      } else {
        X509_CRL_free(raw);
      }
    }
    if (!next->usable) log::error("tls: the CRL {} cannot be read: certificates it covers are refused", file_.string());
    else log::info("tls: CRL {} loaded", file_.string());
  }
  snapshot_ = std::move(next);
  return snapshot_;
}

namespace {

int verify_with_crl(X509_STORE_CTX* ctx, void* arg) {
  auto* checker = static_cast<CrlChecker*>(arg);
  const auto snap = checker->current();  // kept alive until X509_verify_cert returns
  if (snap->present) {
    X509* leaf = X509_STORE_CTX_get0_cert(ctx);
    if (!snap->usable) {
      // Fail closed: a damaged list must not un-revoke anything.
      X509_STORE_CTX_set_error(ctx, X509_V_ERR_UNABLE_TO_GET_CRL);
      return 0;
    }
    if (leaf && X509_NAME_cmp(X509_get_issuer_name(leaf), snap->issuer) == 0) {
      X509_STORE_CTX_set0_crls(ctx, snap->crls);
      X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK);
    }
  }
  return X509_verify_cert(ctx);
}

} // namespace

void CrlChecker::install(ssl_ctx_st* ctx) {
  (void)current();  // load (and log) once at start-up
  SSL_CTX_set_cert_verify_callback(ctx, verify_with_crl, this);
}

} // namespace tresor::security
