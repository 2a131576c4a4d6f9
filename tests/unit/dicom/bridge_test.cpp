#include <gtest/gtest.h>

#include <string>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcsequen.h>

#include "dicom/dcmtk_bridge.h"

namespace tresor::dicom {
namespace {

std::string get(DcmDataset& ds, const DcmTagKey& key) {
  OFString v;
  ds.findAndGetOFStringArray(key, v);
  return std::string(v.c_str(), v.length());
}

DcmEVR vr_of(DcmDataset& ds, const DcmTagKey& key) {
  DcmElement* e = nullptr;
  if (ds.findAndGetElement(key, e).bad() || !e) return EVR_UNKNOWN;
  return e->getTag().getEVR();
}

TEST(ParseQuery, ReadsTheLevelAndEveryStringKey) {
  DcmDataset id;
  id.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  id.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100");
  id.putAndInsertString(DCM_PatientName, "SMITH*");
  id.putAndInsertString(DCM_StudyDate, "20200101-20201231");
  id.putAndInsertString(DCM_StudyInstanceUID, "");
  id.putAndInsertString(DCM_ModalitiesInStudy, "CT\\MR");
  auto q = parse_query(id, QueryModel::study_root);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->model, QueryModel::study_root);
  EXPECT_EQ(q->level, Level::study);
  AttrList expected = {{tags::SpecificCharacterSet, "ISO_IR 100"},
                       {tags::StudyDate, "20200101-20201231"},
                       {tags::ModalitiesInStudy, "CT\\MR"},
                       {tags::PatientName, "SMITH*"},
                       {tags::StudyInstanceUID, ""}};
  EXPECT_EQ(q->keys, expected);
}

TEST(ParseQuery, IgnoresSequencesAndBinaryValues) {
  DcmDataset id;
  id.putAndInsertString(DCM_QueryRetrieveLevel, "SERIES");
  id.putAndInsertString(DCM_SeriesInstanceUID, "");
  DcmItem* item = nullptr;
  ASSERT_TRUE(id.findOrCreateSequenceItem(DCM_ReferencedStudySequence, item, -2).good());
  item->putAndInsertString(DCM_ReferencedSOPInstanceUID, "1.2.3");
  const Uint8 bytes[4] = {1, 2, 3, 4};
  id.putAndInsertUint8Array(DcmTag(0x0009, 0x1001, EVR_OB), bytes, 4);
  auto q = parse_query(id, QueryModel::patient_root);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->level, Level::series);
  ASSERT_EQ(q->keys.size(), 1u);
  EXPECT_EQ(q->keys[0].tag, tags::SeriesInstanceUID);
}

TEST(ParseQuery, RefusesAMissingOrUnknownLevel) {
  DcmDataset none;
  none.putAndInsertString(DCM_PatientID, "X");
  auto q = parse_query(none, QueryModel::study_root);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, Errc::invalid_argument);

  DcmDataset bad;
  bad.putAndInsertString(DCM_QueryRetrieveLevel, "FRAME");
  EXPECT_FALSE(parse_query(bad, QueryModel::study_root));
}

TEST(ParseQuery, RefusesTooManyKeys) {
  DcmDataset id;
  id.putAndInsertString(DCM_QueryRetrieveLevel, "IMAGE");
  for (Uint16 e = 0x1000; e < 0x1000 + 300; ++e) id.putAndInsertString(DcmTag(0x0011, e, EVR_LO), "x");
  auto q = parse_query(id, QueryModel::study_root);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, Errc::invalid_argument);
}

TEST(ParseQuery, RefusesAValueLongerThanSixtyFourKiB) {
  DcmDataset id;
  id.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  id.putAndInsertString(DCM_StudyDescription, std::string(70 * 1024, 'a').c_str());
  auto q = parse_query(id, QueryModel::study_root);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, Errc::invalid_argument);
}

TEST(BuildResponse, EncodesEachAttributeWithItsDictionaryVr) {
  ResultRow row = {{tags::SpecificCharacterSet, "ISO_IR 100"},
                   {tags::PatientName, "SMITH^JOHN"},
                   {tags::StudyDate, "20200315"},
                   {tags::StudyInstanceUID, "1.2.3.4"},
                   {tags::NumberOfStudyRelatedInstances, "12"},
                   {tags::AccessionNumber, ""}};
  DcmDataset out;
  out.putAndInsertString(DCM_PatientID, "stale value from a previous row");
  ASSERT_TRUE(build_response(row, Level::study, "ARCHIVE", out));
  EXPECT_EQ(get(out, DCM_QueryRetrieveLevel), "STUDY");
  EXPECT_EQ(get(out, DCM_RetrieveAETitle), "ARCHIVE");
  EXPECT_EQ(get(out, DCM_SpecificCharacterSet), "ISO_IR 100");
  EXPECT_EQ(get(out, DCM_PatientName), "SMITH^JOHN");
  EXPECT_EQ(vr_of(out, DCM_PatientName), EVR_PN);
  EXPECT_EQ(vr_of(out, DCM_StudyDate), EVR_DA);
  EXPECT_EQ(vr_of(out, DCM_StudyInstanceUID), EVR_UI);
  EXPECT_EQ(vr_of(out, DCM_NumberOfStudyRelatedInstances), EVR_IS);
  EXPECT_TRUE(out.tagExists(DCM_AccessionNumber));
  EXPECT_FALSE(out.tagExists(DCM_PatientID));
}

TEST(BuildResponse, LeavesOutRetrieveAeTitleWhenNoneIsGiven) {
  DcmDataset out;
  ASSERT_TRUE(build_response({{tags::PatientID, "P1"}}, Level::patient, "", out));
  EXPECT_FALSE(out.tagExists(DCM_RetrieveAETitle));
  EXPECT_EQ(get(out, DCM_QueryRetrieveLevel), "PATIENT");
}

TEST(QueryBridge, RoundTripsAResponseThroughParseQuery) {
  ResultRow row = {{tags::SpecificCharacterSet, "ISO_IR 192"},
                   {tags::StudyDate, "20200315"},
                   {tags::Modality, "MR"},
                   {tags::PatientName, "M\xC3\xBCller^Hans"},
                   {tags::PatientID, "P-7"},
                   {tags::SeriesInstanceUID, "1.2.3.4.5"},
                   {tags::SeriesNumber, "3"}};
  DcmDataset out;
  ASSERT_TRUE(build_response(row, Level::series, "PACS", out));
  auto q = parse_query(out, QueryModel::study_root);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->level, Level::series);
  AttrList expected = row;
  expected.push_back({tags::RetrieveAETitle, "PACS"});
  std::sort(expected.begin(), expected.end(), [](const Attr& a, const Attr& b) { return a.tag < b.tag; });
  EXPECT_EQ(q->keys, expected);
}

} // namespace
} // namespace tresor::dicom
