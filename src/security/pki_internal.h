// OpenSSL helpers shared by pki.cpp (CA and issuing) and pki_crl.cpp
// (revocation): owning pointers and PEM readers. Internal to security/.
#pragma once
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <filesystem>
#include <memory>

#include "core/error.h"

namespace tresor::security::detail {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct BioFree {
  void operator()(BIO* p) const { BIO_free_all(p); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// The first PEM certificate of `file`; io_error if unreadable, invalid_argument if none.
Result<X509Ptr> read_cert(const std::filesystem::path& file);
// The unencrypted PEM private key of `file`; errors as read_cert.
Result<PkeyPtr> read_key(const std::filesystem::path& file);

} // namespace tresor::security::detail
