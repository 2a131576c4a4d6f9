// Pure (DCMTK-free) rules of the DIMSE front end, unit-tested on their own:
// which abstract syntaxes we accept and with which transfer syntax, how AE
// titles and error comments are normalised, how certificate identities are
// read, and how C-GET/C-MOVE sub-operation counts become a final status.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include "core/accounts.h"
#include "core/model.h"

namespace tresor::net::detail {

namespace uid {
inline constexpr const char* verification = "1.2.840.10008.1.1";
inline constexpr const char* find_patient_root = "1.2.840.10008.5.1.4.1.2.1.1";
inline constexpr const char* move_patient_root = "1.2.840.10008.5.1.4.1.2.1.2";
inline constexpr const char* get_patient_root = "1.2.840.10008.5.1.4.1.2.1.3";
inline constexpr const char* find_study_root = "1.2.840.10008.5.1.4.1.2.2.1";
inline constexpr const char* move_study_root = "1.2.840.10008.5.1.4.1.2.2.2";
inline constexpr const char* get_study_root = "1.2.840.10008.5.1.4.1.2.2.3";
inline constexpr const char* commitment_push = "1.2.840.10008.1.20.1";
inline constexpr const char* commitment_push_instance = "1.2.840.10008.1.20.1.1";

inline constexpr const char* implicit_le = "1.2.840.10008.1.2";
inline constexpr const char* explicit_le = "1.2.840.10008.1.2.1";
inline constexpr const char* deflated_le = "1.2.840.10008.1.2.1.99";
inline constexpr const char* explicit_be = "1.2.840.10008.1.2.2";
inline constexpr const char* jpeg_baseline = "1.2.840.10008.1.2.4.50";
inline constexpr const char* jpeg_extended = "1.2.840.10008.1.2.4.51";
inline constexpr const char* jpeg_lossless = "1.2.840.10008.1.2.4.57";
inline constexpr const char* jpeg_lossless_sv1 = "1.2.840.10008.1.2.4.70";
inline constexpr const char* jpegls_lossless = "1.2.840.10008.1.2.4.80";
inline constexpr const char* jpegls_near_lossless = "1.2.840.10008.1.2.4.81";
inline constexpr const char* j2k_lossless = "1.2.840.10008.1.2.4.90";
inline constexpr const char* j2k = "1.2.840.10008.1.2.4.91";
inline constexpr const char* rle = "1.2.840.10008.1.2.5";
} // namespace uid

// DIMSE status codes we send (PS3.4 / PS3.7 Annex C).
namespace status {
inline constexpr std::uint16_t success = 0x0000;
inline constexpr std::uint16_t pending = 0xFF00;
inline constexpr std::uint16_t cancel = 0xFE00;
inline constexpr std::uint16_t sop_class_not_supported = 0x0122;
inline constexpr std::uint16_t not_authorized = 0x0124;
inline constexpr std::uint16_t invalid_attribute_value = 0x0106;
inline constexpr std::uint16_t processing_failure = 0x0110;
inline constexpr std::uint16_t no_such_object_instance = 0x0112;
inline constexpr std::uint16_t out_of_resources = 0xA700;
inline constexpr std::uint16_t sub_operations_impossible = 0xA702;  // C-MOVE/C-GET: out of resources
inline constexpr std::uint16_t move_destination_unknown = 0xA801;
inline constexpr std::uint16_t identifier_mismatch = 0xA900;
inline constexpr std::uint16_t unable_to_process = 0xC000;
inline constexpr std::uint16_t sub_operations_failed = 0xB000;     // warning: one or more failed
} // namespace status

// What an abstract syntax is to us.
enum class ContextKind { verification, storage, find, get, move, commitment, unsupported };

// `is_storage` says whether DCMTK knows the UID as a storage SOP class (the
// caller asks DCMTK; kept outside so this function stays pure).
ContextKind classify_abstract_syntax(std::string_view abstract_syntax, bool is_storage);

// The query model of a FIND/GET/MOVE abstract syntax (nullopt otherwise).
std::optional<QueryModel> query_model_of(std::string_view abstract_syntax);

// Our transfer syntax for a proposed presentation context; nullopt if none of
// the proposed is acceptable. Storage contexts accept uncompressed, deflated,
// JPEG, JPEG-LS, JPEG 2000 and RLE, in the proposer's order (we store what
// is sent and never transcode on receipt); every other kind only the three uncompressed syntaxes, in our
// order (explicit LE, implicit LE, explicit BE).
std::optional<std::string> choose_transfer_syntax(ContextKind kind, const std::vector<std::string>& proposed);

// Transfer syntaxes we accept for storage.
const std::vector<std::string>& storage_transfer_syntaxes();

bool is_uncompressed(std::string_view transfer_syntax);

// AE title as received: leading/trailing spaces removed, cut at a NUL, and
// any character outside printable ASCII (or a backslash) replaced by '?'.
std::string trim_ae(std::string_view raw);

// An ErrorComment (0000,0902) is LO: at most 64 characters, no backslash,
// no control characters.
std::string error_comment(std::string_view message);

// The operation a DIMSE request needs.
Operation operation_for(ContextKind kind);

// Counters of a C-GET / C-MOVE and the final status they lead to.
struct SubOperations {
  std::uint32_t remaining = 0, completed = 0, failed = 0, warning = 0;
  std::vector<std::string> failed_uids;

  void record(std::uint16_t store_status, const std::string& sop_instance_uid);
  void record_failure(const std::string& sop_instance_uid);
  // 0x0000 all done; 0xB000 some failed or warned; 0xA702 all failed;
  // 0xFE00 when cancelled.
  std::uint16_t final_status(bool cancelled) const;
  // For the audit trail, once the sub-operations are over: "" when all
  // `total` instances were sent (completed or with a warning), else why not
  // ("all N sub-operations failed", "K of N sub-operations failed or were not
  // attempted"), the event then being a failure.
  std::string failure_reason(std::size_t total) const;
};

// Identity read from a DER client certificate.
struct CertIdentity {
  std::string sha256_hex;   // lowercase hex of SHA-256(DER)
  std::string common_name;  // the single subject CN ("" if none or ambiguous)
};
std::optional<CertIdentity> read_certificate(const unsigned char* der, std::size_t size);

} // namespace tresor::net::detail

namespace tresor::net::detail {

// A presentation context usable to send C-STORE sub-operations.
struct StoreOffer {
  std::uint8_t id = 0;
  std::string abstract_syntax;
  std::string transfer_syntax;
};

// The context to send an instance of `sop_class` stored in `stored_ts`: the
// exact transfer syntax if offered, else an uncompressed one (explicit LE
// first; the caller converts), else nullopt.
std::optional<StoreOffer> choose_store_offer(const std::vector<StoreOffer>& offers, std::string_view sop_class,
                                             std::string_view stored_ts);

} // namespace tresor::net::detail
