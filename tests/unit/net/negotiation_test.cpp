#include "net/negotiation.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <vector>

using namespace tresor;
using namespace tresor::net::detail;

TEST(Negotiation, TakesTheSendersFirstSupportedSyntaxForStorage) {
  EXPECT_EQ(choose_transfer_syntax(ContextKind::storage, {uid::rle, uid::explicit_le, uid::implicit_le}),
            std::string(uid::rle));
  EXPECT_EQ(choose_transfer_syntax(ContextKind::storage, {uid::implicit_le, uid::explicit_le}),
            std::string(uid::implicit_le));
  EXPECT_EQ(choose_transfer_syntax(ContextKind::storage, {"1.2.840.10008.1.2.4.100", uid::jpeg_baseline}),
            std::string(uid::jpeg_baseline));
}

TEST(Negotiation, AcceptsCompressedStorageWhenOnlyThatIsProposed) {
  EXPECT_EQ(choose_transfer_syntax(ContextKind::storage, {uid::j2k}), std::string(uid::j2k));
  EXPECT_EQ(choose_transfer_syntax(ContextKind::storage, {"1.2.3.4", uid::jpegls_lossless, uid::jpeg_baseline}),
            std::string(uid::jpegls_lossless));
}

TEST(Negotiation, AcceptsOnlyUncompressedSyntaxesForQueryAndVerification) {
  EXPECT_FALSE(choose_transfer_syntax(ContextKind::find, {uid::jpeg_baseline}).has_value());
  EXPECT_FALSE(choose_transfer_syntax(ContextKind::verification, {uid::deflated_le}).has_value());
  EXPECT_EQ(choose_transfer_syntax(ContextKind::move, {uid::explicit_be, uid::implicit_le}),
            std::string(uid::implicit_le));
}

TEST(Negotiation, RefusesUnknownTransferSyntaxesAndAbstractSyntaxes) {
  EXPECT_FALSE(choose_transfer_syntax(ContextKind::storage, {"1.2.3.4"}).has_value());
  EXPECT_FALSE(choose_transfer_syntax(ContextKind::unsupported, {uid::explicit_le}).has_value());
  EXPECT_EQ(classify_abstract_syntax("1.2.840.10008.5.1.4.1.2.3.1", false), ContextKind::unsupported);
}

TEST(Negotiation, ClassifiesTheServicesWeProvide) {
  EXPECT_EQ(classify_abstract_syntax(uid::verification, false), ContextKind::verification);
  EXPECT_EQ(classify_abstract_syntax(uid::find_study_root, false), ContextKind::find);
  EXPECT_EQ(classify_abstract_syntax(uid::get_patient_root, false), ContextKind::get);
  EXPECT_EQ(classify_abstract_syntax(uid::move_study_root, false), ContextKind::move);
  EXPECT_EQ(classify_abstract_syntax(uid::commitment_push, false), ContextKind::commitment);
  EXPECT_EQ(classify_abstract_syntax("1.2.840.10008.5.1.4.1.1.2", true), ContextKind::storage);
  EXPECT_EQ(query_model_of(uid::move_patient_root), QueryModel::patient_root);
  EXPECT_EQ(query_model_of(uid::get_study_root), QueryModel::study_root);
  EXPECT_FALSE(query_model_of(uid::verification).has_value());
}

TEST(Negotiation, MapsEachContextKindToTheOperationItNeeds) {
  EXPECT_EQ(operation_for(ContextKind::storage), Operation::store);
  EXPECT_EQ(operation_for(ContextKind::find), Operation::find);
  EXPECT_EQ(operation_for(ContextKind::get), Operation::get);
  EXPECT_EQ(operation_for(ContextKind::move), Operation::move);
  EXPECT_EQ(operation_for(ContextKind::commitment), Operation::commit);
  EXPECT_EQ(operation_for(ContextKind::verification), Operation::echo);
}

TEST(AeTitle, IsTrimmedOfPaddingAndCutAtNul) {
  EXPECT_EQ(trim_ae("  MODALITY1      "), "MODALITY1");
  EXPECT_EQ(trim_ae(std::string_view("AE\0EVIL", 7)), "AE");
  EXPECT_EQ(trim_ae("                "), "");
}

TEST(AeTitle, ControlCharactersCannotReachTheLogs) {
  EXPECT_EQ(trim_ae("EVIL\nFORGED"), "EVIL?FORGED");
  EXPECT_EQ(trim_ae("A\\B\x7f\xc3"), "A?B??");
}

TEST(ErrorComment, IsAtMost64CharactersWithoutBackslashOrControlCharacters) {
  const std::string long_message(100, 'x');
  EXPECT_EQ(error_comment(long_message).size(), 64u);
  EXPECT_EQ(error_comment("a\\b\nc"), "a b c");
  EXPECT_EQ(error_comment(""), "");
}

TEST(SubOperations, AllCompletedIsSuccess) {
  SubOperations ops;
  ops.remaining = 2;
  ops.record(0x0000, "1.1");
  ops.record(0x0000, "1.2");
  EXPECT_EQ(ops.remaining, 0u);
  EXPECT_EQ(ops.completed, 2u);
  EXPECT_EQ(ops.final_status(false), status::success);
  EXPECT_TRUE(ops.failed_uids.empty());
}

TEST(SubOperations, SomeFailedIsWarningWithTheFailedUids) {
  SubOperations ops;
  ops.remaining = 3;
  ops.record(0x0000, "1.1");
  ops.record(0xA700, "1.2");
  ops.record_failure("1.3");
  EXPECT_EQ(ops.failed, 2u);
  EXPECT_EQ(ops.final_status(false), status::sub_operations_failed);
  EXPECT_EQ(ops.failed_uids, (std::vector<std::string>{"1.2", "1.3"}));
}

TEST(SubOperations, TheAuditNamesAFailureWheneverAnInstanceWasNotSent) {
  SubOperations all_sent;
  all_sent.remaining = 2;
  all_sent.record(0x0000, "1.1");
  all_sent.record(0xB007, "1.2");  // a warning: sent
  EXPECT_EQ(all_sent.failure_reason(2), "");

  SubOperations none;
  none.remaining = 3;
  for (const char* uid : {"1.1", "1.2", "1.3"}) none.record_failure(uid);
  EXPECT_EQ(none.failure_reason(3), "all 3 sub-operations failed");

  SubOperations partial;
  partial.remaining = 3;
  partial.record(0x0000, "1.1");
  partial.record(0xA700, "1.2");
  partial.record_failure("1.3");
  EXPECT_EQ(partial.failure_reason(3), "2 of 3 sub-operations failed or were not attempted");

  // Cancelled after one: the rest were not attempted.
  SubOperations cancelled;
  cancelled.remaining = 4;
  cancelled.record(0x0000, "1.1");
  EXPECT_EQ(cancelled.failure_reason(4), "3 of 4 sub-operations failed or were not attempted");
}

TEST(SubOperations, AllFailedIsRefusedAndWarningsAreNotFailures) {
  SubOperations failed;
  failed.remaining = 1;
  failed.record(0xC000, "1.1");
  EXPECT_EQ(failed.final_status(false), status::sub_operations_impossible);

  SubOperations warned;
  warned.remaining = 1;
  warned.record(0xB007, "1.1");
  EXPECT_EQ(warned.warning, 1u);
  EXPECT_EQ(warned.failed, 0u);
  EXPECT_EQ(warned.final_status(false), status::sub_operations_failed);
}

TEST(SubOperations, CancelledIsCancelWhateverTheCounts) {
  SubOperations ops;
  ops.remaining = 5;
  ops.record(0x0000, "1.1");
  EXPECT_EQ(ops.final_status(true), status::cancel);
  EXPECT_EQ(ops.remaining, 4u);
}

TEST(StoreOffer, PrefersTheStoredTransferSyntax) {
  const std::vector<StoreOffer> offers = {{1, "1.2.840.10008.5.1.4.1.1.2", uid::explicit_le},
                                          {3, "1.2.840.10008.5.1.4.1.1.2", uid::jpeg_lossless_sv1}};
  auto o = choose_store_offer(offers, "1.2.840.10008.5.1.4.1.1.2", uid::jpeg_lossless_sv1);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->id, 3);
}

TEST(StoreOffer, FallsBackToAnUncompressedContextOfTheSameClass) {
  const std::vector<StoreOffer> offers = {{1, "1.2.840.10008.5.1.4.1.1.4", uid::explicit_le},
                                          {3, "1.2.840.10008.5.1.4.1.1.2", uid::implicit_le}};
  auto o = choose_store_offer(offers, "1.2.840.10008.5.1.4.1.1.2", uid::jpeg_baseline);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->id, 3);
  EXPECT_FALSE(choose_store_offer(offers, "1.2.840.10008.5.1.4.1.1.7", uid::explicit_le).has_value());
}

namespace {

// A self-signed certificate with the given subject CNs, as DER.
std::vector<unsigned char> make_certificate(const std::vector<std::string>& cns) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& cn : cns)
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                               0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  X509_sign(cert.get(), key.get(), EVP_sha256());
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert.get(), &der);
  std::vector<unsigned char> out(der, der + len);
  OPENSSL_free(der);
  return out;
}

} // namespace

TEST(Certificate, ReadsTheSha256FingerprintAndCommonName) {
  const auto der = make_certificate({"MODALITY1"});
  auto id = read_certificate(der.data(), der.size());
  ASSERT_TRUE(id);
  EXPECT_EQ(id->common_name, "MODALITY1");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_Digest(der.data(), der.size(), md, &md_len, EVP_sha256(), nullptr);
  ASSERT_EQ(id->sha256_hex.size(), 64u);
  char first[3];
  std::snprintf(first, sizeof first, "%02x", md[0]);
  EXPECT_EQ(id->sha256_hex.substr(0, 2), first);
}

TEST(Certificate, TwoCommonNamesGiveNoCommonName) {
  const auto der = make_certificate({"MODALITY1", "PACS"});
  auto id = read_certificate(der.data(), der.size());
  ASSERT_TRUE(id);
  EXPECT_EQ(id->common_name, "");
  EXPECT_EQ(id->sha256_hex.size(), 64u);
}

TEST(Certificate, GarbageIsNotACertificate) {
  const std::vector<unsigned char> junk(100, 0x42);
  EXPECT_FALSE(read_certificate(junk.data(), junk.size()).has_value());
  EXPECT_FALSE(read_certificate(nullptr, 0).has_value());
}
