#include "security/pki.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>

#include "test_support.h"

namespace tresor::security {
namespace {

struct X509Deleter {
  void operator()(X509* p) const { X509_free(p); }
};
using Cert = std::unique_ptr<X509, X509Deleter>;

Cert load_cert(const std::filesystem::path& file) {
  FILE* f = std::fopen(file.c_str(), "r");
  if (!f) return nullptr;
  Cert c(PEM_read_X509(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  return c;
}

testing::Pkey load_key(const std::filesystem::path& file) {
  FILE* f = std::fopen(file.c_str(), "r");
  if (!f) return nullptr;
  testing::Pkey k(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  return k;
}

// X509_verify_cert against exactly one trusted CA, for the given purpose.
int verify_against(X509* cert, X509* ca, int purpose) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, cert, nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  int rc = X509_verify_cert(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return rc;
}

mode_t file_mode(const std::filesystem::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 07777;
}

std::string common_name(X509* cert) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}

class Pki : public ::testing::Test {
protected:
  void SetUp() override {
    ca_cert_ = dir_ / "ca.pem";
    ca_key_ = dir_ / "private" / "ca.key";
    auto st = create_ca(ca_cert_, ca_key_, "Tresor Test CA");
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }
  testing::TempDir dir_;
  std::filesystem::path ca_cert_, ca_key_;
};

TEST_F(Pki, CreatesSelfSignedCaWithCriticalCaConstraintsAndPrivateKeyMode0600) {
  Cert ca = load_cert(ca_cert_);
  ASSERT_TRUE(ca);
  EXPECT_EQ(common_name(ca.get()), "Tresor Test CA");
  EXPECT_GE(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_get_extension_flags(ca.get()) & EXFLAG_SS, static_cast<std::uint32_t>(EXFLAG_SS));
  int crit = -1;
  auto* bc = static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(ca.get(), NID_basic_constraints, &crit, nullptr));
  ASSERT_TRUE(bc);
  EXPECT_TRUE(bc->ca);
  EXPECT_EQ(crit, 1);
  BASIC_CONSTRAINTS_free(bc);
  EXPECT_TRUE(X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN);
  EXPECT_TRUE(X509_get_key_usage(ca.get()) & KU_CRL_SIGN);
  EXPECT_NE(X509_get0_subject_key_id(ca.get()), nullptr);
  EXPECT_EQ(X509_get_signature_nid(ca.get()), NID_sha256WithRSAEncryption);
  EXPECT_EQ(file_mode(ca_key_), 0600u);
  auto key = load_key(ca_key_);
  ASSERT_TRUE(key);
  EXPECT_TRUE(EVP_PKEY_is_a(key.get(), "RSA"));
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 2048);
  EXPECT_EQ(X509_check_private_key(ca.get(), key.get()), 1);
  EXPECT_EQ(verify_against(ca.get(), ca.get(), X509_PURPOSE_ANY), 1);
}

TEST_F(Pki, IssuesNodeCertificateValidForBothClientAndServerAuthentication) {
  auto issued = issue_client_cert(ca_cert_, ca_key_, "CT_SCANNER_1", 365, dir_ / "ct.pem", dir_ / "ct.key");
  ASSERT_TRUE(issued.has_value()) << issued.error().message;
  Cert ca = load_cert(ca_cert_);
  Cert cert = load_cert(issued->cert_file);
  ASSERT_TRUE(cert);
  EXPECT_EQ(common_name(cert.get()), "CT_SCANNER_1");
  // A DICOM node is SCU and SCP: as a C-MOVE destination it is a TLS server.
  EXPECT_EQ(verify_against(cert.get(), ca.get(), X509_PURPOSE_SSL_CLIENT), 1);
  EXPECT_EQ(verify_against(cert.get(), ca.get(), X509_PURPOSE_SSL_SERVER), 1);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_TRUE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_CLIENT);
  EXPECT_TRUE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER);
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_sha256WithRSAEncryption);
  EXPECT_EQ(file_mode(issued->key_file), 0600u);
  auto key = load_key(issued->key_file);
  ASSERT_TRUE(key);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  // Validity: about 365 days.
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert.get()), X509_get0_notAfter(cert.get())), 1);
  EXPECT_EQ(days, 365);
}

TEST_F(Pki, FingerprintIsTheSha256OfTheCertificateDer) {
  auto issued = issue_client_cert(ca_cert_, ca_key_, "WS1", 30, dir_ / "ws.pem", dir_ / "ws.key");
  ASSERT_TRUE(issued.has_value());
  Cert cert = load_cert(issued->cert_file);
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  ASSERT_GT(len, 0);
  const std::string expected = sha256_hex(der, static_cast<std::size_t>(len));
  OPENSSL_free(der);
  EXPECT_EQ(expected.size(), 64u);
  EXPECT_EQ(issued->sha256, expected);
  auto from_file = cert_file_sha256(issued->cert_file);
  ASSERT_TRUE(from_file.has_value());
  EXPECT_EQ(*from_file, expected);
  // Same as `openssl x509 -outform DER | sha256sum`, when the CLI is there.
  const std::string cmd = "openssl x509 -in '" + issued->cert_file.string() + "' -outform DER 2>/dev/null | sha256sum";
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[128] = {};
    const bool got = std::fgets(buf, sizeof buf, p) != nullptr;
    ::pclose(p);
    if (got && std::string(buf).size() > 64) {
      EXPECT_EQ(std::string(buf, 64), expected);
    }
  }
  // Known vector: SHA-256 of "abc".
  const unsigned char abc[] = {'a', 'b', 'c'};
  EXPECT_EQ(sha256_hex(abc, 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(Pki, IssuesServerCertificateWithSansAndServerAuthFor825Days) {
  auto issued = issue_server_cert(ca_cert_, ca_key_, "pacs.example.org", {"pacs.example.org", "localhost"},
                                  {"127.0.0.1", "10.1.2.3"}, dir_ / "server.pem", dir_ / "server.key");
  ASSERT_TRUE(issued.has_value()) << issued.error().message;
  Cert ca = load_cert(ca_cert_);
  Cert cert = load_cert(issued->cert_file);
  ASSERT_TRUE(cert);
  EXPECT_EQ(verify_against(cert.get(), ca.get(), X509_PURPOSE_SSL_SERVER), 1);
  EXPECT_TRUE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER);
  EXPECT_EQ(X509_check_host(cert.get(), "pacs.example.org", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_host(cert.get(), "evil.example.org", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "10.1.2.3", 0), 1);
  EXPECT_NE(X509_check_ip_asc(cert.get(), "10.1.2.4", 0), 1);
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert.get()), X509_get0_notAfter(cert.get())), 1);
  EXPECT_EQ(days, 825);
  EXPECT_EQ(file_mode(issued->key_file), 0600u);
}

TEST_F(Pki, SerialNumbersAreRandomAndPositive) {
  auto a = issue_client_cert(ca_cert_, ca_key_, "A", 1, dir_ / "a.pem", dir_ / "a.key");
  auto b = issue_client_cert(ca_cert_, ca_key_, "B", 1, dir_ / "b.pem", dir_ / "b.key");
  ASSERT_TRUE(a && b);
  Cert ca_ = load_cert(a->cert_file), cb = load_cert(b->cert_file);
  const ASN1_INTEGER* sa = X509_get0_serialNumber(ca_.get());
  const ASN1_INTEGER* sb = X509_get0_serialNumber(cb.get());
  EXPECT_NE(ASN1_INTEGER_cmp(sa, sb), 0);
  BIGNUM* bn = ASN1_INTEGER_to_BN(sa, nullptr);
  EXPECT_FALSE(BN_is_negative(bn));
  EXPECT_GE(BN_num_bits(bn), 121);
  BN_free(bn);
}

TEST_F(Pki, CertificateFromAnotherCaDoesNotVerify) {
  ASSERT_TRUE(create_ca(dir_ / "rogue-ca.pem", dir_ / "rogue-ca.key", "Rogue CA"));
  auto rogue = issue_client_cert(dir_ / "rogue-ca.pem", dir_ / "rogue-ca.key", "CT_SCANNER_1", 30, dir_ / "r.pem",
                                 dir_ / "r.key");
  ASSERT_TRUE(rogue.has_value());
  Cert ca = load_cert(ca_cert_);
  Cert cert = load_cert(rogue->cert_file);
  EXPECT_NE(verify_against(cert.get(), ca.get(), X509_PURPOSE_SSL_CLIENT), 1);
}

TEST_F(Pki, NeverOverwritesExistingFiles) {
  auto again = create_ca(ca_cert_, dir_ / "other.key", "Second CA");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Errc::conflict);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "other.key"));  // nothing left behind
  auto first = issue_client_cert(ca_cert_, ca_key_, "X", 10, dir_ / "x.pem", dir_ / "x.key");
  ASSERT_TRUE(first.has_value());
  auto second = issue_client_cert(ca_cert_, ca_key_, "X", 10, dir_ / "y.pem", dir_ / "x.key");
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, Errc::conflict);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "y.pem"));
}

TEST_F(Pki, RefusesInvalidNamesAddressesAndValidity) {
  auto server = [&](std::vector<std::string> dns, std::vector<std::string> ips) {
    return issue_server_cert(ca_cert_, ca_key_, "srv", dns, ips, dir_ / "s.pem", dir_ / "s.key");
  };
  EXPECT_FALSE(server({"a.example,IP:1.2.3.4"}, {}).has_value());  // no SAN injection
  EXPECT_FALSE(server({"-bad.example"}, {}).has_value());
  EXPECT_FALSE(server({"*.example.org"}, {}).has_value());
  EXPECT_FALSE(server({}, {"300.1.1.1"}).has_value());
  EXPECT_FALSE(server({}, {}).has_value());
  EXPECT_FALSE(issue_client_cert(ca_cert_, ca_key_, "", 10, dir_ / "c.pem", dir_ / "c.key").has_value());
  EXPECT_FALSE(issue_client_cert(ca_cert_, ca_key_, std::string(65, 'A'), 10, dir_ / "c.pem", dir_ / "c.key"));
  EXPECT_FALSE(issue_client_cert(ca_cert_, ca_key_, "OK", 0, dir_ / "c.pem", dir_ / "c.key").has_value());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "c.key"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "s.key"));
}

TEST_F(Pki, RefusesToIssueWithAKeyThatIsNotTheCasOrWithALeafAsCa) {
  ASSERT_TRUE(create_ca(dir_ / "ca2.pem", dir_ / "ca2.key", "CA 2"));
  EXPECT_FALSE(issue_client_cert(ca_cert_, dir_ / "ca2.key", "X", 10, dir_ / "x.pem", dir_ / "x.key").has_value());
  auto leaf = issue_client_cert(ca_cert_, ca_key_, "leaf", 10, dir_ / "leaf.pem", dir_ / "leaf.key");
  ASSERT_TRUE(leaf.has_value());
  EXPECT_FALSE(issue_client_cert(dir_ / "leaf.pem", dir_ / "leaf.key", "X", 10, dir_ / "x.pem", dir_ / "x.key"));
  EXPECT_FALSE(cert_file_sha256(dir_ / "missing.pem").has_value());
}

TEST_F(Pki, NodeCertificatesLiveAtMostTwoYears) {
  EXPECT_EQ(kMaxClientDays, 730);
  auto ok = issue_client_cert(ca_cert_, ca_key_, "OK", 730, dir_ / "ok.pem", dir_ / "ok.key");
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  auto too_long = issue_client_cert(ca_cert_, ca_key_, "LONG", 731, dir_ / "l.pem", dir_ / "l.key");
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().code, Errc::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "l.key"));
}

// X509_verify_cert with the CA and, when given, its CRL (CRL check on the leaf).
int verify_with_crl(X509* cert, X509* ca, const std::filesystem::path& crl_file) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  if (FILE* f = std::fopen(crl_file.c_str(), "r")) {
    X509_CRL* crl = PEM_read_X509_CRL(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (crl) {
      X509_STORE_add_crl(store, crl);
      X509_CRL_free(crl);
    }
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, cert, nullptr);
  const int rc = X509_verify_cert(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return rc;
}

TEST_F(Pki, RevokingASerialPutsItOnACrlSignedByTheCaThatRefusesTheCertificate) {
  auto a = issue_client_cert(ca_cert_, ca_key_, "A", 30, dir_ / "a.pem", dir_ / "a.key");
  auto b = issue_client_cert(ca_cert_, ca_key_, "B", 30, dir_ / "b.pem", dir_ / "b.key");
  ASSERT_TRUE(a && b);
  auto info = cert_file_info(a->cert_file);
  ASSERT_TRUE(info.has_value()) << info.error().message;
  EXPECT_EQ(info->common_name, "A");
  EXPECT_EQ(info->sha256, a->sha256);
  const auto crl = dir_ / "pki" / "crl.pem";
  auto none = revoked_serials(crl);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());

  // Typed with colons and lower case: the same serial.
  std::string typed;
  for (std::size_t i = 0; i < info->serial.size(); ++i) {
    if (i > 0 && i % 2 == 0) typed += ':';
    typed += static_cast<char>(std::tolower(static_cast<unsigned char>(info->serial[i])));
  }
  auto added = revoke_serials(ca_cert_, ca_key_, crl, {typed});
  ASSERT_TRUE(added.has_value()) << added.error().message;
  EXPECT_EQ(*added, std::vector<std::string>{info->serial});
  EXPECT_EQ(*revoked_serials(crl), std::vector<std::string>{info->serial});
  EXPECT_EQ(file_mode(crl), 0644u);

  Cert ca = load_cert(ca_cert_);
  Cert ca_cert = load_cert(a->cert_file), other = load_cert(b->cert_file);
  EXPECT_NE(verify_with_crl(ca_cert.get(), ca.get(), crl), 1);   // revoked
  EXPECT_EQ(verify_with_crl(other.get(), ca.get(), crl), 1);     // still fine
  // Revoking again adds nothing; a second serial keeps the first.
  EXPECT_TRUE(revoke_serials(ca_cert_, ca_key_, crl, {info->serial})->empty());
  auto info_b = cert_file_info(b->cert_file);
  ASSERT_TRUE(info_b.has_value());
  ASSERT_TRUE(revoke_serials(ca_cert_, ca_key_, crl, {info_b->serial}).has_value());
  EXPECT_EQ(revoked_serials(crl)->size(), 2u);
  EXPECT_NE(verify_with_crl(other.get(), ca.get(), crl), 1);
  // Nonsense and a key that is not the CA's are refused.
  EXPECT_FALSE(revoke_serials(ca_cert_, ca_key_, crl, {"not-hex"}).has_value());
  ASSERT_TRUE(create_ca(dir_ / "ca2.pem", dir_ / "ca2.key", "CA 2"));
  EXPECT_FALSE(revoke_serials(ca_cert_, dir_ / "ca2.key", crl, {"01"}).has_value());
}

TEST_F(Pki, RevokesTheRecordedCertificatesOfAPeerByPinOrCommonName) {
  const auto crl = dir_ / "pki" / "crl.pem";
  const auto issued = issued_dir_for(crl);
  auto by_cn = issue_client_cert(ca_cert_, ca_key_, "CT1", 30, dir_ / "ct1.pem", dir_ / "ct1.key");
  auto pinned = issue_client_cert(ca_cert_, ca_key_, "Viewer laptop", 30, dir_ / "v.pem", dir_ / "v.key");
  auto other = issue_client_cert(ca_cert_, ca_key_, "MR1", 30, dir_ / "mr1.pem", dir_ / "mr1.key");
  ASSERT_TRUE(by_cn && pinned && other);
  for (const auto& f : {by_cn->cert_file, pinned->cert_file, other->cert_file})
    ASSERT_TRUE(record_issued(f, issued).has_value());
  auto listed = list_issued(issued);
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->size(), 3u);

  auto revoked = revoke_peer_certificates(ca_cert_, ca_key_, crl, "CT1", pinned->sha256);
  ASSERT_TRUE(revoked.has_value()) << revoked.error().message;
  EXPECT_EQ(revoked->size(), 2u);
  const auto on_crl = *revoked_serials(crl);
  EXPECT_NE(std::ranges::find(on_crl, cert_file_info(by_cn->cert_file)->serial), on_crl.end());
  EXPECT_NE(std::ranges::find(on_crl, cert_file_info(pinned->cert_file)->serial), on_crl.end());
  EXPECT_EQ(std::ranges::find(on_crl, cert_file_info(other->cert_file)->serial), on_crl.end());
}

} // namespace
} // namespace tresor::security
