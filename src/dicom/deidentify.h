// De-identification of one stored object: PS3.15 Annex E, the Basic
// Application Level Confidentiality Profile (Table E.1-1) with the options
// Retain Longitudinal Temporal Information with Modified Dates, Retain Patient
// Characteristics, Retain Device Identity, Clean Descriptors and Clean
// Structured Content (docs/conformance.md, "De-identification"). DCMTK-free.
//
// Contract of deidentify():
//  - reads a Part-10 object (or a bare data set), writes a new Part-10 file at
//    `out` (a fresh file meta header: no SourceApplicationEntityTitle, no
//    private meta information), never modifies `in`;
//  - every attribute of Table E.1-1 gets its action (X remove, Z empty,
//    D dummy, K keep, U/UID replaced, C cleaned) at every sequence depth; the
//    combined actions take the least destructive member that keeps the object
//    valid whatever the IOD (X/Z -> Z, X/D and Z/D and X/Z/D -> D, X/Z/U* ->
//    items kept, their UIDs replaced); an option's column overrides the basic
//    action where it names one;
//  - PatientID and PatientName become the project pseudonym (pseudonym());
//  - every UI value that is not a registered DICOM UID (SOP classes,
//    transfer syntaxes, coding schemes, ...) becomes map_uid(value) - also
//    inside sequences and in the file meta - so references between exported
//    objects stay consistent;
//  - private attributes are removed unless listed in the safe private list
//    (deidentify_table.cpp) with a numeric VR; overlay (60xx) and curve
//    (50xx) groups are removed whole;
//  - as a safety net beyond the profile, every remaining text value (PN, LO,
//    SH, ST, LT, UT, UC) has the object's own identifying words (patient
//    name components, IDs, birth date, accession number, institution,
//    physician names) replaced by 'X's;
//  - with retain_dates every DA/DT value is shifted back by
//    date_shift_days(project key, PatientID) whole days (times unchanged);
//    without it, dates follow Table E.1-1 (removed, emptied or a dummy);
//  - PatientIdentityRemoved YES, LongitudinalTemporalInformationModified,
//    DeidentificationMethod and its code sequence (CID 7050: 113100 ...)
//    are set;
//  - objects that may carry identities in their pixels or documents are left
//    out (outcome.left_out, with the reason) unless allow_burned_in:
//    BurnedInAnnotation YES; or BurnedInAnnotation absent/not NO on secondary
//    capture, ultrasound, video and visible-light photography, scanned and
//    encapsulated documents; an SR (top-level ContentSequence) without
//    clean_structured_content is left out too (removing its content would
//    leave an invalid object);
//  - errors: invalid_argument for unreadable input, io_error for the output.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_source.h"
#include "core/error.h"

namespace tresor::dicom {

struct DeidProfile {
  bool retain_dates = false;              // 113107
  bool retain_patient_chars = false;      // 113108
  bool retain_device = false;             // 113109
  bool clean_descriptors = false;         // 113105
  bool clean_structured_content = false;  // 113104
  bool operator==(const DeidProfile&) const = default;
};

// "basic[,retain-dates,retain-patient-chars,retain-device,clean-descriptors,clean-sc]":
// invalid_argument naming the unknown word, or when "basic" is missing.
Result<DeidProfile> parse_profile(std::string_view text);
// The canonical text form (the parse_profile input that yields `profile`).
std::string to_string(const DeidProfile& profile);

// The 32-byte HMAC key of one research project:
// HMAC-SHA256(root, "tresor-deid-project\0" + project). `root` is the
// keyring's pseudonym purpose key.
std::string project_key(std::string_view root, std::string_view project);
// "2.25." + the decimal value of the first 128 bits of
// HMAC-SHA256(project key, "uid\0" + uid) (PS3.5 B.2).
std::string map_uid(std::string_view key, std::string_view uid);
// "PSN" + 16 upper-case hex digits of HMAC-SHA256(project key, "patient\0" + patient_id).
std::string pseudonym(std::string_view key, std::string_view patient_id);
// 1..3652 days: how far back the dates of this patient move in this project.
int date_shift_days(std::string_view key, std::string_view patient_id);
// Shifts a DA (YYYYMMDD) back by `days`; "" when it is not a valid date.
std::string shift_date(std::string_view da, int days);

struct DeidRequest {
  DeidProfile profile;
  std::string key;              // project_key()
  bool allow_burned_in = false;
};

struct DeidOutcome {
  bool left_out = false;
  std::string reason;           // when left out (names no value of the object)
  std::string patient_id;       // the original PatientID (for the pseudonym map; audit only)
  std::string pseudonym;
  std::string sop_class_uid;
  std::string study_uid, series_uid, sop_instance_uid;   // the NEW UIDs
};

// `in`: the stored object (BlobStore::open); read through DCMTK without a
// temporary copy (dicom/source_stream.h).
Result<DeidOutcome> deidentify(std::shared_ptr<ByteSource> in, const std::filesystem::path& out,
                               const DeidRequest& request);

} // namespace tresor::dicom
