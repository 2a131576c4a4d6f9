// PS3.15 Annex E de-identification (dicom/deidentify.h).
#include "dicom/deidentify.h"

#include <gtest/gtest.h>

#include <set>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcuid.h>

#include "test_support.h"

namespace tresor::dicom {
namespace {

using test::ScratchDir;

const std::string kRoot(32, 'r');

DcmTag private_tag(Uint16 g, Uint16 e, const char* creator, DcmEVR vr) {
  DcmTag t(g, e, creator);
  t.setVR(DcmVR(vr));
  return t;
}

// A CT-like object with identities in the usual places, a nested sequence,
// a private block, an overlay and SR-like content.
std::filesystem::path make_object(const std::filesystem::path& dir, const std::string& patient_id = "PID-12345") {
  DcmFileFormat ff;
  DcmDataset* ds = ff.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, "1.2.3.4.5.6.7.1");
  ds->putAndInsertString(DCM_StudyInstanceUID, "1.2.3.4.5.6.7.2");
  ds->putAndInsertString(DCM_SeriesInstanceUID, "1.2.3.4.5.6.7.3");
  ds->putAndInsertString(DCM_FrameOfReferenceUID, "1.2.3.4.5.6.7.4");
  ds->putAndInsertString(DCM_Modality, "CT");
  ds->putAndInsertString(DCM_PatientName, "SMITHERSON^JOHANNA");
  ds->putAndInsertString(DCM_PatientID, patient_id.c_str());
  ds->putAndInsertString(DCM_PatientBirthDate, "19610412");
  ds->putAndInsertString(DCM_PatientSex, "F");
  ds->putAndInsertString(DCM_PatientAge, "063Y");
  ds->putAndInsertString(DCM_AccessionNumber, "ACC778899");
  ds->putAndInsertString(DCM_InstitutionName, "SAINT GRUBERIUS CLINIC");
  ds->putAndInsertString(DCM_StationName, "CTSTATION7");
  ds->putAndInsertString(DCM_StudyDate, "20240315");
  ds->putAndInsertString(DCM_SeriesDate, "20240315");
  ds->putAndInsertString(DCM_AcquisitionDateTime, "20240315101112");
  ds->putAndInsertString(DCM_StudyTime, "101112");
  ds->putAndInsertString(DCM_StudyDescription, "CT HEAD for SMITHERSON");
  ds->putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL");
  ds->putAndInsertString(DCM_BurnedInAnnotation, "NO");
  // nested: a referenced image and an identity two levels down
  DcmItem* ref = nullptr;
  ds->findOrCreateSequenceItem(DCM_ReferencedImageSequence, ref, -2);
  ref->putAndInsertString(DCM_ReferencedSOPClassUID, UID_CTImageStorage);
  ref->putAndInsertString(DCM_ReferencedSOPInstanceUID, "1.2.3.4.5.6.7.9");
  DcmItem* deep = nullptr;
  ds->findOrCreateSequenceItem(DCM_SourceImageSequence, deep, -2);
  DcmItem* deeper = nullptr;
  deep->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, deeper, -2);
  deeper->putAndInsertString(DCM_PatientName, "SMITHERSON^JOHANNA");
  deeper->putAndInsertString(DCM_CodeMeaning, "seen by SMITHERSON");
  // private blocks: one safe numeric value, one name
  ds->putAndInsertString(DcmTag(0x0019, 0x0010, EVR_LO), "SIEMENS MR HEADER");
  ds->putAndInsertString(private_tag(0x0019, 0x100C, "SIEMENS MR HEADER", EVR_IS), "1000");
  ds->putAndInsertString(DcmTag(0x0029, 0x0010, EVR_LO), "ACME SECRET");
  ds->putAndInsertString(private_tag(0x0029, 0x1001, "ACME SECRET", EVR_LO), "SMITHERSON^JOHANNA");
  // overlay
  ds->putAndInsertUint16(DcmTagKey(0x6000, 0x0010), 2);
  ds->putAndInsertUint16(DcmTagKey(0x6000, 0x0011), 2);
  ds->putAndInsertString(DcmTagKey(0x6000, 0x4000), "drawn by SMITHERSON");
  // pixels
  ds->putAndInsertUint16(DCM_Rows, 2);
  ds->putAndInsertUint16(DCM_Columns, 2);
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds->putAndInsertUint16(DCM_BitsAllocated, 16);
  ds->putAndInsertUint16(DCM_BitsStored, 16);
  ds->putAndInsertUint16(DCM_HighBit, 15);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  const Uint16 px[4] = {1, 2, 3, 4};
  ds->putAndInsertUint16Array(DCM_PixelData, px, 4);
  const auto path = dir / ("in-" + patient_id + ".dcm");
  EXPECT_TRUE(ff.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
  return path;
}

struct Output {
  std::unique_ptr<DcmFileFormat> ff;
  DeidOutcome outcome;
  std::string bytes;
  DcmDataset& ds() { return *ff->getDataset(); }
  std::string get(const DcmTagKey& k) {
    OFString v;
    ds().findAndGetOFStringArray(k, v);  // top level only
    return v.c_str();
  }
};

Output run(const std::filesystem::path& in, const std::filesystem::path& out, const std::string& project,
           DeidProfile profile = {}, bool allow = false) {
  DeidRequest req;
  req.profile = profile;
  req.key = project_key(kRoot, project);
  req.allow_burned_in = allow;
  auto source = std::make_shared<test::PreadSource>(in);
  auto r = deidentify(source, out, req);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  Output o;
  if (!r) return o;
  o.outcome = *r;
  if (r->left_out) return o;
  o.ff = std::make_unique<DcmFileFormat>();
  EXPECT_TRUE(o.ff->loadFile(out.c_str()).good());
  o.bytes = test::read_bytes(out);
  return o;
}

TEST(Deidentify, RemovesEveryIdentifierFromTheBytesOfTheBasicProfile) {
  ScratchDir dir;
  auto o = run(make_object(dir.path()), dir.path() / "out.dcm", "P1");
  ASSERT_TRUE(o.ff);
  for (const char* needle : {"SMITHERSON", "JOHANNA", "PID-12345", "19610412", "ACC778899", "GRUBERIUS",
                             "CTSTATION7", "1.2.3.4.5.6.7", "ACME SECRET", "20240315"})
    EXPECT_EQ(o.bytes.find(needle), std::string::npos) << needle;
  EXPECT_EQ(o.get(DCM_PatientID), o.outcome.pseudonym);
  EXPECT_EQ(o.get(DCM_PatientName), o.outcome.pseudonym);
  EXPECT_EQ(o.get(DCM_PatientIdentityRemoved), "YES");
  EXPECT_EQ(o.get(DCM_PatientBirthDate), "");
  EXPECT_FALSE(o.ds().tagExists(DCM_PatientAge));
  EXPECT_FALSE(o.ds().tagExists(DCM_StudyDescription));
  EXPECT_EQ(o.get(DCM_ImageType), "ORIGINAL\\PRIMARY\\AXIAL");
}

TEST(Deidentify, SetsTheMethodCodesOfEveryOption) {
  ScratchDir dir;
  DeidProfile p{true, true, true, true, true};
  auto o = run(make_object(dir.path()), dir.path() / "out.dcm", "P1", p);
  ASSERT_TRUE(o.ff);
  std::set<std::string> codes;
  DcmItem* item = nullptr;
  for (int i = 0; o.ds().findAndGetSequenceItem(DCM_DeidentificationMethodCodeSequence, item, i).good(); ++i) {
    const char* v = nullptr;
    item->findAndGetString(DCM_CodeValue, v);
    codes.insert(v ? v : "");
  }
  EXPECT_EQ(codes, (std::set<std::string>{"113100", "113104", "113105", "113107",
                                          "113108", "113109"}));
  EXPECT_EQ(o.get(DCM_LongitudinalTemporalInformationModified), "MODIFIED");
}

TEST(Deidentify, MapsUidsConsistentlyWithinAProjectAndDifferentlyAcrossProjects) {
  ScratchDir dir;
  const auto in = make_object(dir.path());
  auto a = run(in, dir.path() / "a.dcm", "P1");
  auto b = run(in, dir.path() / "b.dcm", "P1");
  auto c = run(in, dir.path() / "c.dcm", "P2");
  ASSERT_TRUE(a.ff && b.ff && c.ff);
  EXPECT_EQ(a.outcome.study_uid, map_uid(project_key(kRoot, "P1"), "1.2.3.4.5.6.7.2"));
  EXPECT_TRUE(a.outcome.study_uid.starts_with("2.25."));
  EXPECT_LE(a.outcome.study_uid.size(), 64u);
  EXPECT_EQ(a.outcome.sop_instance_uid, b.outcome.sop_instance_uid);
  EXPECT_NE(a.outcome.sop_instance_uid, c.outcome.sop_instance_uid);
  EXPECT_EQ(a.outcome.pseudonym, b.outcome.pseudonym);
  EXPECT_NE(a.outcome.pseudonym, c.outcome.pseudonym);
  // the file meta follows the data set
  OFString meta;
  a.ff->getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPInstanceUID, meta);
  EXPECT_EQ(meta.c_str(), a.outcome.sop_instance_uid);
  EXPECT_FALSE(a.ff->getMetaInfo()->tagExists(DCM_SourceApplicationEntityTitle));
}

TEST(Deidentify, ReplacesUidsInsideSequencesAndKeepsClassUids) {
  ScratchDir dir;
  auto o = run(make_object(dir.path()), dir.path() / "out.dcm", "P1");
  ASSERT_TRUE(o.ff);
  DcmItem* ref = nullptr;
  ASSERT_TRUE(o.ds().findAndGetSequenceItem(DCM_ReferencedImageSequence, ref, 0).good());
  const char* uid = nullptr;
  ref->findAndGetString(DCM_ReferencedSOPInstanceUID, uid);
  ASSERT_NE(uid, nullptr);
  EXPECT_EQ(std::string(uid), map_uid(project_key(kRoot, "P1"), "1.2.3.4.5.6.7.9"));
  const char* cls = nullptr;
  ref->findAndGetString(DCM_ReferencedSOPClassUID, cls);
  EXPECT_EQ(std::string(cls ? cls : ""), UID_CTImageStorage);
}

TEST(Deidentify, RemovesPrivateTagsExceptTheSafeNumericOnes) {
  ScratchDir dir;
  auto o = run(make_object(dir.path()), dir.path() / "out.dcm", "P1");
  ASSERT_TRUE(o.ff);
  EXPECT_TRUE(o.ds().tagExists(DcmTagKey(0x0019, 0x100C)));
  EXPECT_TRUE(o.ds().tagExists(DcmTagKey(0x0019, 0x0010)));
  EXPECT_FALSE(o.ds().tagExists(DcmTagKey(0x0029, 0x0010)));
  EXPECT_FALSE(o.ds().tagExists(DcmTagKey(0x0029, 0x1001)));
  EXPECT_FALSE(o.ds().tagExists(DcmTagKey(0x6000, 0x0010)));  // the whole overlay group
}

TEST(Deidentify, ShiftsDatesOfOnePatientByOneOffsetWithRetainDates) {
  ScratchDir dir;
  DeidProfile p;
  p.retain_dates = true;
  auto o = run(make_object(dir.path()), dir.path() / "out.dcm", "P1", p);
  ASSERT_TRUE(o.ff);
  const int days = date_shift_days(project_key(kRoot, "P1"), "PID-12345");
  EXPECT_GE(days, 1);
  const std::string shifted = shift_date("20240315", days);
  EXPECT_EQ(o.get(DCM_StudyDate), shifted);
  EXPECT_EQ(o.get(DCM_SeriesDate), shifted);
  EXPECT_EQ(o.get(DCM_AcquisitionDateTime), shifted + "101112");
  EXPECT_EQ(o.get(DCM_StudyTime), "101112");
  EXPECT_EQ(shift_date("20240301", 1), "20240229");
  EXPECT_EQ(shift_date("2024031", 1), "");
}

TEST(Deidentify, RemovesDatesWithoutRetainDates) {
  ScratchDir dir;
  auto o = run(make_object(dir.path()), dir.path() / "out.dcm", "P1");
  ASSERT_TRUE(o.ff);
  EXPECT_EQ(o.get(DCM_StudyDate), "");
  EXPECT_EQ(o.get(DCM_SeriesDate), "19000101");
  EXPECT_EQ(o.get(DCM_LongitudinalTemporalInformationModified), "REMOVED");
}

TEST(Deidentify, KeepsPatientCharacteristicsAndDeviceOnlyWithTheirOptions) {
  ScratchDir dir;
  const auto in = make_object(dir.path());
  DeidProfile p;
  p.retain_patient_chars = true;
  p.retain_device = true;
  auto kept = run(in, dir.path() / "k.dcm", "P1", p);
  auto basic = run(in, dir.path() / "b.dcm", "P1");
  ASSERT_TRUE(kept.ff && basic.ff);
  EXPECT_EQ(kept.get(DCM_PatientAge), "063Y");
  EXPECT_EQ(kept.get(DCM_PatientSex), "F");
  EXPECT_EQ(kept.get(DCM_StationName), "CTSTATION7");
  EXPECT_EQ(basic.get(DCM_PatientSex), "");
  EXPECT_EQ(basic.get(DCM_StationName), "ANONYMIZED");
}

TEST(Deidentify, CleanDescriptorsKeepsTheDescriptionWithoutTheName) {
  ScratchDir dir;
  DeidProfile p;
  p.clean_descriptors = true;
  auto o = run(make_object(dir.path()), dir.path() / "out.dcm", "P1", p);
  ASSERT_TRUE(o.ff);
  EXPECT_EQ(o.get(DCM_StudyDescription), "CT HEAD for XXXXXXXXXX");
}

TEST(Deidentify, LeavesOutStructuredContentUnlessCleanScAndCleansIt) {
  ScratchDir dir;
  DcmFileFormat ff;
  DcmDataset* ds = ff.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_BasicTextSRStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, "1.2.3.4.5.6.8.1");
  ds->putAndInsertString(DCM_StudyInstanceUID, "1.2.3.4.5.6.8.2");
  ds->putAndInsertString(DCM_SeriesInstanceUID, "1.2.3.4.5.6.8.3");
  ds->putAndInsertString(DCM_Modality, "SR");
  ds->putAndInsertString(DCM_PatientName, "QUIRINIUS^ODA");
  ds->putAndInsertString(DCM_PatientID, "SR-777");
  DcmItem* item = nullptr;
  ds->findOrCreateSequenceItem(DCM_ContentSequence, item, -2);
  item->putAndInsertString(DCM_ValueType, "TEXT");
  item->putAndInsertString(DCM_TextValue, "Patient Oda Quirinius (SR-777) seen today");
  DcmItem* pn = nullptr;
  ds->findOrCreateSequenceItem(DCM_ContentSequence, pn, -2);
  pn->putAndInsertString(DCM_ValueType, "PNAME");
  pn->putAndInsertString(DCM_PersonName, "DOCTOR^WHOEVER");
  const auto in = dir.path() / "sr.dcm";
  ASSERT_TRUE(ff.saveFile(in.c_str(), EXS_LittleEndianExplicit).good());
  auto left = run(in, dir.path() / "a.dcm", "P1");
  EXPECT_TRUE(left.outcome.left_out);
  EXPECT_NE(left.outcome.reason.find("clean-sc"), std::string::npos);
  DeidProfile p;
  p.clean_structured_content = true;
  auto o = run(in, dir.path() / "b.dcm", "P1", p);
  ASSERT_TRUE(o.ff);
  for (const char* needle : {"QUIRINIUS", "Quirinius", "Oda", "SR-777", "WHOEVER"})
    EXPECT_EQ(o.bytes.find(needle), std::string::npos) << needle;
  EXPECT_NE(o.bytes.find("seen today"), std::string::npos);
}

TEST(Deidentify, LeavesOutBurnedInRisksUnlessAllowed) {
  ScratchDir dir;
  DcmFileFormat ff;
  DcmDataset* ds = ff.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, "1.2.3.4.5.6.9.1");
  ds->putAndInsertString(DCM_StudyInstanceUID, "1.2.3.4.5.6.9.2");
  ds->putAndInsertString(DCM_SeriesInstanceUID, "1.2.3.4.5.6.9.3");
  ds->putAndInsertString(DCM_PatientID, "SC-1");
  const auto in = dir.path() / "sc.dcm";
  ASSERT_TRUE(ff.saveFile(in.c_str(), EXS_LittleEndianExplicit).good());
  auto left = run(in, dir.path() / "a.dcm", "P1");
  EXPECT_TRUE(left.outcome.left_out);
  EXPECT_EQ(left.outcome.reason, "secondary capture without BurnedInAnnotation NO");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "a.dcm"));
  auto allowed = run(in, dir.path() / "b.dcm", "P1", {}, true);
  EXPECT_FALSE(allowed.outcome.left_out);
  ds->putAndInsertString(DCM_BurnedInAnnotation, "NO");
  ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  ds->putAndInsertString(DCM_BurnedInAnnotation, "YES");
  ASSERT_TRUE(ff.saveFile(in.c_str(), EXS_LittleEndianExplicit).good());
  auto yes = run(in, dir.path() / "c.dcm", "P1");
  EXPECT_EQ(yes.outcome.reason, "BurnedInAnnotation is YES");
}

TEST(Deidentify, ParsesProfilesAndRefusesUnknownOptions) {
  auto p = parse_profile("basic,retain-dates,clean-sc");
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->retain_dates);
  EXPECT_TRUE(p->clean_structured_content);
  EXPECT_FALSE(p->retain_device);
  EXPECT_EQ(to_string(*p), "basic,retain-dates,clean-sc");
  EXPECT_FALSE(parse_profile("retain-dates").has_value());
  EXPECT_FALSE(parse_profile("basic,keep-everything").has_value());
}

} // namespace
} // namespace tresor::dicom
