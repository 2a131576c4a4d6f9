// Protocol-neutral DICOM model shared by every module.
// Contract: no DCMTK types here. Values are DICOM string forms (as they appear
// in the data set, trailing padding removed, multiple values joined by '\').
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tresor {

// (gggg,eeee) packed as 0xggggeeee.
using Tag = std::uint32_t;
constexpr Tag make_tag(std::uint16_t g, std::uint16_t e) { return (Tag{g} << 16) | e; }

namespace tags {
constexpr Tag SpecificCharacterSet = 0x00080005;
constexpr Tag SOPClassUID = 0x00080016;
constexpr Tag SOPInstanceUID = 0x00080018;
constexpr Tag StudyDate = 0x00080020;
constexpr Tag SeriesDate = 0x00080021;
constexpr Tag StudyTime = 0x00080030;
constexpr Tag AccessionNumber = 0x00080050;
constexpr Tag QueryRetrieveLevel = 0x00080052;
constexpr Tag RetrieveAETitle = 0x00080054;
constexpr Tag InstanceAvailability = 0x00080056;
constexpr Tag Modality = 0x00080060;
constexpr Tag ModalitiesInStudy = 0x00080061;
constexpr Tag SOPClassesInStudy = 0x00080062;
constexpr Tag InstitutionName = 0x00080080;
constexpr Tag ReferringPhysicianName = 0x00080090;
constexpr Tag StudyDescription = 0x00081030;
constexpr Tag SeriesDescription = 0x0008103E;
constexpr Tag PatientName = 0x00100010;
constexpr Tag PatientID = 0x00100020;
constexpr Tag IssuerOfPatientID = 0x00100021;
constexpr Tag PatientBirthDate = 0x00100030;
constexpr Tag PatientSex = 0x00100040;
constexpr Tag BodyPartExamined = 0x00180015;
constexpr Tag StudyInstanceUID = 0x0020000D;
constexpr Tag SeriesInstanceUID = 0x0020000E;
constexpr Tag StudyID = 0x00200010;
constexpr Tag SeriesNumber = 0x00200011;
constexpr Tag InstanceNumber = 0x00200013;
constexpr Tag NumberOfPatientRelatedStudies = 0x00201200;
constexpr Tag NumberOfPatientRelatedSeries = 0x00201202;
constexpr Tag NumberOfPatientRelatedInstances = 0x00201204;
constexpr Tag NumberOfStudyRelatedSeries = 0x00201206;
constexpr Tag NumberOfStudyRelatedInstances = 0x00201208;
constexpr Tag NumberOfSeriesRelatedInstances = 0x00201209;
constexpr Tag Rows = 0x00280010;
constexpr Tag Columns = 0x00280011;
constexpr Tag NumberOfFrames = 0x00280008;
constexpr Tag TransferSyntaxUID = 0x00020010;
} // namespace tags

enum class Level { patient, study, series, image };
enum class QueryModel { patient_root, study_root };

const char* to_string(Level level) noexcept;
// Parses "PATIENT", "STUDY", "SERIES", "IMAGE" (trailing spaces ignored).
std::optional<Level> parse_level(std::string_view text) noexcept;

struct Attr {
  Tag tag = 0;
  std::string value;  // empty = universal match / "return this key"
  bool operator==(const Attr&) const = default;
};
using AttrList = std::vector<Attr>;

// The attributes of one stored instance that the index keeps (PS3.4 C.6 keys
// plus what viewers ask for). Filled by dicom::inspect, consumed by the index.
struct InstanceRecord {
  std::string specific_character_set;
  // patient
  std::string patient_id, issuer_of_patient_id, patient_name, patient_birth_date, patient_sex;
  // study
  std::string study_uid, study_date, study_time, accession_number, study_id, study_description,
      referring_physician_name, institution_name;
  // series
  std::string series_uid, modality, series_number, series_description, body_part_examined, series_date;
  // instance
  std::string sop_class_uid, sop_instance_uid, instance_number, transfer_syntax_uid, rows, columns,
      number_of_frames;
};

// Which studies a principal may see. An absent scope (std::nullopt where a
// Scope is optional) means every study. A present scope admits a study when it
// matches ANY listed criterion: its InstitutionName equals one of
// `institutions`, its ReferringPhysicianName equals one of
// `referring_physicians`, or it carries one of `labels` (attached by an
// admin). A present but empty scope admits nothing.
struct Scope {
  std::vector<std::string> institutions;
  std::vector<std::string> referring_physicians;
  std::vector<std::string> labels;
  bool operator==(const Scope&) const = default;
};

// What a C-FIND / QIDO asks. `keys` holds both matching keys (non-empty value)
// and return keys (empty value). The QueryRetrieveLevel is in `level`, not in keys.
struct QueryRequest {
  QueryModel model = QueryModel::study_root;
  Level level = Level::study;
  AttrList keys;
  // Set by the services from the principal, never by a front end from input:
  // studies outside it are invisible (not matched, not located, not counted).
  std::optional<Scope> scope;
};

// One match: the requested keys with their values, in request order.
using ResultRow = AttrList;

// Where a stored instance lives, for retrieval.
struct InstanceLocation {
  std::string study_uid, series_uid, sop_class_uid, sop_instance_uid, transfer_syntax_uid;
  std::string patient_id;
  std::string blob_key;   // store key (content hash), never derived from a UID
  std::uint64_t size = 0;
};

} // namespace tresor
