#include "index_test_support.h"

namespace tresor::index::test {
namespace {

constexpr const char* kCtClass = "1.2.840.10008.5.1.4.1.1.2";
constexpr const char* kMrClass = "1.2.840.10008.5.1.4.1.1.4";
constexpr const char* kSrClass = "1.2.840.10008.5.1.4.1.1.88.11";
constexpr const char* kCrClass = "1.2.840.10008.5.1.4.1.1.1";

using S = std::vector<std::string>;

// A small archive:
//  PAT001 SMITH^JOHN 19700101
//    1.2.3.1 20200115 101500 ACC1 "CT HEAD": series 1.2.3.1.1 CT (3 images, numbers 3,1,2), 1.2.3.1.2 SR (1)
//    1.2.3.2 20211201 083000 ACC2 "MR KNEE": series 1.2.3.2.1 MR (2 images)
//  PAT002 SMYTHE^JANE 19851231
//    1.2.3.3 20201231 235959 ACC[3] "CHEST": series 1.2.3.3.1 CR (1 image)
//  X?Y* JONES^BOB (no birth date)
//    1.2.3.4 (no date, no time) "": series 1.2.3.4.1 CT (1 image)
class Find : public IndexTest {
protected:
  void SetUp() override {
    IndexTest::SetUp();
    add("PAT001", "SMITH^JOHN", "19700101", "1.2.3.1", "20200115", "101500", "ACC1", "CT HEAD", "1.2.3.1.1", "CT", "1",
        kCtClass, {"3", "1", "2"});
    add("PAT001", "SMITH^JOHN", "19700101", "1.2.3.1", "20200115", "101500", "ACC1", "CT HEAD", "1.2.3.1.2", "SR", "2",
        kSrClass, {"1"});
    add("PAT001", "SMITH^JOHN", "19700101", "1.2.3.2", "20211201", "083000", "ACC2", "MR KNEE", "1.2.3.2.1", "MR", "1",
        kMrClass, {"1", "2"});
    add("PAT002", "SMYTHE^JANE", "19851231", "1.2.3.3", "20201231", "235959", "ACC[3]", "CHEST", "1.2.3.3.1", "CR",
        "1", kCrClass, {"1"});
    add("X?Y*", "JONES^BOB", "", "1.2.3.4", "", "", "", "", "1.2.3.4.1", "CT", "1", kCtClass, {"1"});
  }

  void add(const std::string& pid, const std::string& name, const std::string& birth, const std::string& study,
           const std::string& date, const std::string& time, const std::string& accession, const std::string& desc,
           const std::string& series, const std::string& modality, const std::string& series_number,
           const std::string& sop_class, const std::vector<std::string>& numbers) {
    for (const auto& n : numbers) {
      auto r = make_record(pid, study, series, series + "." + n);
      r.patient_name = name;
      r.patient_birth_date = birth;
      r.patient_sex = pid == "PAT002" ? "F" : "M";
      r.study_date = date;
      r.study_time = time;
      r.accession_number = accession;
      r.study_description = desc;
      r.modality = modality;
      r.series_number = series_number;
      r.sop_class_uid = sop_class;
      r.instance_number = n;
      ASSERT_EQ(store(r), InsertOutcome::stored);
    }
  }

  // StudyInstanceUIDs of a study-level Study Root query with one matching key.
  S studies(Tag tag, const std::string& value) {
    return column(find(request(QueryModel::study_root, Level::study, {{tag, value}})), tags::StudyInstanceUID);
  }
};

// ---- single value, universal, wildcard ----

TEST_F(Find, SingleValueMatchesExactly) {
  EXPECT_EQ(studies(tags::PatientID, "PAT001"), (S{"1.2.3.1", "1.2.3.2"}));
  EXPECT_EQ(studies(tags::AccessionNumber, "ACC2"), (S{"1.2.3.2"}));
  EXPECT_EQ(studies(tags::StudyDescription, "CT HEAD"), (S{"1.2.3.1"}));
  EXPECT_TRUE(studies(tags::PatientID, "PAT00").empty());
}

TEST_F(Find, EmptyValueAndLoneStarMatchEverything) {
  EXPECT_EQ(studies(tags::PatientName, "").size(), 4u);
  EXPECT_EQ(studies(tags::StudyDate, "*").size(), 4u);
  EXPECT_EQ(studies(tags::AccessionNumber, "**").size(), 4u);
}

TEST_F(Find, PrefixWildcardUsesTheLiteralPrefix) {
  EXPECT_EQ(studies(tags::PatientName, "SMI*"), (S{"1.2.3.1", "1.2.3.2"}));
  EXPECT_EQ(studies(tags::PatientName, "SM*"), (S{"1.2.3.1", "1.2.3.2", "1.2.3.3"}));
  EXPECT_EQ(studies(tags::PatientName, "SMYTHE^JANE*"), (S{"1.2.3.3"}));
}

TEST_F(Find, QuestionMarkMatchesExactlyOneCharacter) {
  EXPECT_EQ(studies(tags::PatientName, "SM?TH*"), (S{"1.2.3.1", "1.2.3.2", "1.2.3.3"}));
  EXPECT_EQ(studies(tags::PatientName, "SM?TH^JOHN"), (S{"1.2.3.1", "1.2.3.2"}));
  EXPECT_TRUE(studies(tags::PatientName, "SM??TH^JOHN").empty());
  EXPECT_EQ(studies(tags::AccessionNumber, "ACC?"), (S{"1.2.3.1", "1.2.3.2"}));
}

TEST_F(Find, LeadingAndInnerWildcardsMatch) {
  EXPECT_EQ(studies(tags::PatientName, "*JANE"), (S{"1.2.3.3"}));
  EXPECT_EQ(studies(tags::StudyDescription, "*HEAD*"), (S{"1.2.3.1"}));
  EXPECT_EQ(studies(tags::PatientName, "S*^J*N"), (S{"1.2.3.1", "1.2.3.2"}));
}

TEST_F(Find, PersonNamesMatchRegardlessOfAsciiCase) {
  EXPECT_EQ(studies(tags::PatientName, "smi*"), (S{"1.2.3.1", "1.2.3.2"}));
  EXPECT_EQ(studies(tags::PatientName, "smith^john"), (S{"1.2.3.1", "1.2.3.2"}));
  EXPECT_EQ(studies(tags::PatientName, "*jane"), (S{"1.2.3.3"}));
  EXPECT_EQ(studies(tags::PatientName, "Sm?tH^*"), (S{"1.2.3.1", "1.2.3.2"}));
  EXPECT_EQ(studies(tags::PatientName, "sm*^j*"), (S{"1.2.3.1", "1.2.3.2", "1.2.3.3"}));
  EXPECT_EQ(studies(tags::PatientName, "jones^bob\\smythe^jane"), (S{"1.2.3.3", "1.2.3.4"}));
  EXPECT_TRUE(studies(tags::PatientName, "smith").empty());
}

TEST_F(Find, OtherTextMatchingStaysCaseSensitive) {
  EXPECT_TRUE(studies(tags::StudyDescription, "ct*").empty());
  EXPECT_TRUE(studies(tags::AccessionNumber, "acc1").empty());
  EXPECT_EQ(studies(tags::StudyDescription, "CT*"), (S{"1.2.3.1"}));
}

TEST_F(Find, PersonNamePrefixQueriesUseTheCaseInsensitiveIndex) {
  RawDb raw(db_file());
  auto plan = raw.rows(
      "EXPLAIN QUERY PLAN SELECT id FROM patient p WHERE p.name >= 'smi' COLLATE NOCASE AND p.name < 'smj' COLLATE NOCASE");
  ASSERT_FALSE(plan.empty());
  EXPECT_NE(plan[0].find("patient_name_nocase"), std::string::npos) << plan[0];
}

TEST_F(Find, PersonNameMatchesTheStoredValueExactly) {
  EXPECT_EQ(studies(tags::PatientName, "SMITH^JOHN"), (S{"1.2.3.1", "1.2.3.2"}));
  EXPECT_TRUE(studies(tags::PatientName, "SMITH").empty());
}

TEST_F(Find, GlobMetacharactersInValuesAreLiteral) {
  EXPECT_EQ(studies(tags::AccessionNumber, "ACC[3]"), (S{"1.2.3.3"}));
  EXPECT_EQ(studies(tags::AccessionNumber, "ACC[*"), (S{"1.2.3.3"}));
  EXPECT_EQ(studies(tags::AccessionNumber, "*[3]"), (S{"1.2.3.3"}));
  EXPECT_EQ(studies(tags::PatientID, "X?Y*"), (S{"1.2.3.4"}));
  EXPECT_EQ(studies(tags::PatientID, "X[?]Y*"), S{});
}

// ---- dates, times, UID lists ----

TEST_F(Find, DateMatchesSingleValuesAndRanges) {
  EXPECT_EQ(studies(tags::StudyDate, "20200115"), (S{"1.2.3.1"}));
  EXPECT_EQ(studies(tags::StudyDate, "20200101-20201231"), (S{"1.2.3.1", "1.2.3.3"}));
  EXPECT_EQ(studies(tags::StudyDate, "20201231-20201231"), (S{"1.2.3.3"}));
  EXPECT_EQ(studies(tags::StudyDate, "20210101-"), (S{"1.2.3.2"}));
  EXPECT_EQ(studies(tags::StudyDate, "20201231-"), (S{"1.2.3.2", "1.2.3.3"}));
}

TEST_F(Find, OpenStartDateRangeDoesNotMatchMissingDates) {
  EXPECT_EQ(studies(tags::StudyDate, "-20201231"), (S{"1.2.3.1", "1.2.3.3"}));
  EXPECT_EQ(studies(tags::PatientBirthDate, "-19991231"), (S{"1.2.3.1", "1.2.3.2", "1.2.3.3"}));
}

TEST_F(Find, TimeMatchesRangesAndPrefixes) {
  EXPECT_EQ(studies(tags::StudyTime, "080000-110000"), (S{"1.2.3.1", "1.2.3.2"}));
  EXPECT_EQ(studies(tags::StudyTime, "2359-"), (S{"1.2.3.3"}));
  EXPECT_EQ(studies(tags::StudyTime, "-1015"), (S{"1.2.3.1", "1.2.3.2"}));
  EXPECT_EQ(studies(tags::StudyTime, "1015"), (S{"1.2.3.1"}));
  EXPECT_EQ(studies(tags::StudyTime, "101500"), (S{"1.2.3.1"}));
}

TEST_F(Find, UidListMatchesAnyListedUid) {
  EXPECT_EQ(studies(tags::StudyInstanceUID, "1.2.3.1\\1.2.3.3\\9.9.9"), (S{"1.2.3.1", "1.2.3.3"}));
  EXPECT_EQ(studies(tags::StudyInstanceUID, "1.2.3.2"), (S{"1.2.3.2"}));
  EXPECT_TRUE(studies(tags::StudyInstanceUID, "1.2.3.*").empty()) << "UIDs take no wildcards";
}

TEST_F(Find, ValueListsOfOtherAttributesMatchAnyValue) {
  EXPECT_EQ(studies(tags::AccessionNumber, "ACC1\\ACC[3]"), (S{"1.2.3.1", "1.2.3.3"}));
  EXPECT_EQ(studies(tags::StudyDate, "20200115\\20211201-"), (S{"1.2.3.1", "1.2.3.2"}));
}

TEST_F(Find, SeveralKeysMustAllMatch) {
  auto rows = find(request(QueryModel::study_root, Level::study,
                           {{tags::PatientName, "SM*"}, {tags::StudyDate, "20200101-20201231"},
                            {tags::AccessionNumber, "ACC1"}}));
  EXPECT_EQ(column(rows, tags::StudyInstanceUID), (S{"1.2.3.1"}));
}

// ---- levels and models ----

TEST_F(Find, PatientLevelReturnsOnePatientWithItsCounts) {
  auto rows = find(request(QueryModel::patient_root, Level::patient,
                           {{tags::PatientName, "SM*"},
                            {tags::PatientID, ""},
                            {tags::PatientBirthDate, ""},
                            {tags::PatientSex, ""},
                            {tags::NumberOfPatientRelatedStudies, ""},
                            {tags::NumberOfPatientRelatedSeries, ""},
                            {tags::NumberOfPatientRelatedInstances, ""}}));
  ASSERT_EQ(rows.size(), 2u);
  const auto& smith = value_of(rows[0], tags::PatientID) == "PAT001" ? rows[0] : rows[1];
  EXPECT_EQ(value_of(smith, tags::PatientBirthDate), "19700101");
  EXPECT_EQ(value_of(smith, tags::PatientSex), "M");
  EXPECT_EQ(value_of(smith, tags::NumberOfPatientRelatedStudies), "2");
  EXPECT_EQ(value_of(smith, tags::NumberOfPatientRelatedSeries), "3");
  EXPECT_EQ(value_of(smith, tags::NumberOfPatientRelatedInstances), "6");
}

TEST_F(Find, StudyRootRefusesThePatientLevel) {
  auto res = index_->find(request(QueryModel::study_root, Level::patient, {{tags::PatientID, ""}}), 10);
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code, Errc::invalid_argument);
}

TEST_F(Find, PatientRootStudyLevelReturnsStudiesOfThePatient) {
  auto rows = find(request(QueryModel::patient_root, Level::study,
                           {{tags::PatientID, "PAT001"}, {tags::StudyInstanceUID, ""}, {tags::StudyDescription, ""}}));
  EXPECT_EQ(column(rows, tags::StudyDescription), (S{"CT HEAD", "MR KNEE"}));
}

TEST_F(Find, SeriesLevelIsConstrainedByUpperLevelKeysInBothModels) {
  for (auto model : {QueryModel::study_root, QueryModel::patient_root}) {
    auto rows = find(request(model, Level::series,
                             {{tags::PatientID, "PAT001"}, {tags::Modality, ""}, {tags::SeriesNumber, ""}}));
    EXPECT_EQ(column(rows, tags::SeriesInstanceUID), (S{"1.2.3.1.1", "1.2.3.1.2", "1.2.3.2.1"}));
    EXPECT_EQ(column(rows, tags::Modality), (S{"CT", "MR", "SR"}));
  }
  auto ct = find(request(QueryModel::study_root, Level::series,
                         {{tags::StudyInstanceUID, "1.2.3.1"}, {tags::Modality, "CT"}}));
  EXPECT_EQ(column(ct, tags::SeriesInstanceUID), (S{"1.2.3.1.1"}));
}

TEST_F(Find, ImageLevelMatchesInstanceKeysUnderUpperLevelKeys) {
  for (auto model : {QueryModel::study_root, QueryModel::patient_root}) {
    auto rows = find(request(model, Level::image,
                             {{tags::PatientName, "SMITH^JOHN"},
                              {tags::Modality, "CT"},
                              {tags::InstanceNumber, ""},
                              {tags::SOPClassUID, ""},
                              {tags::Rows, ""}}));
    EXPECT_EQ(column(rows, tags::SOPInstanceUID), (S{"1.2.3.1.1.1", "1.2.3.1.1.2", "1.2.3.1.1.3"}));
    EXPECT_EQ(column(rows, tags::InstanceNumber), (S{"1", "2", "3"}));
    EXPECT_EQ(column(rows, tags::SOPClassUID), (S{kCtClass, kCtClass, kCtClass}));
    EXPECT_EQ(column(rows, tags::Rows), (S{"512", "512", "512"}));
  }
  auto one = find(request(QueryModel::study_root, Level::image,
                          {{tags::SOPInstanceUID, "1.2.3.2.1.2"}, {tags::InstanceNumber, "2"}}));
  EXPECT_EQ(column(one, tags::SOPInstanceUID), (S{"1.2.3.2.1.2"}));
}

TEST_F(Find, KeysBelowTheQueryLevelNeitherMatchNorReturnValues) {
  auto rows = find(request(QueryModel::study_root, Level::study, {{tags::PatientID, "PAT001"}, {tags::Modality, "CR"}}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(value_of(rows[0], tags::Modality), "");
  auto patients = find(request(QueryModel::patient_root, Level::patient, {{tags::StudyDate, "19000101"}}));
  EXPECT_EQ(patients.size(), 3u);
}

// ---- return keys ----

TEST_F(Find, ReturnsRequestedKeysInRequestOrderThenMissingUniqueKeys) {
  const Tag unknown = make_tag(0x0009, 0x1010);
  auto rows = find(request(QueryModel::patient_root, Level::series,
                           {{tags::Modality, "MR"}, {unknown, ""}, {tags::StudyDate, ""}, {tags::PatientName, ""}}));
  ASSERT_EQ(rows.size(), 1u);
  const ResultRow expected{{tags::Modality, "MR"},
                           {unknown, ""},
                           {tags::StudyDate, "20211201"},
                           {tags::PatientName, "SMITH^JOHN"},
                           {tags::PatientID, "PAT001"},
                           {tags::StudyInstanceUID, "1.2.3.2"},
                           {tags::SeriesInstanceUID, "1.2.3.2.1"}};
  EXPECT_EQ(rows[0], expected);
}

TEST_F(Find, StudyRootDoesNotAddThePatientId) {
  auto rows = find(request(QueryModel::study_root, Level::study, {{tags::AccessionNumber, "ACC2"}}));
  ASSERT_EQ(rows.size(), 1u);
  const ResultRow expected{{tags::AccessionNumber, "ACC2"}, {tags::StudyInstanceUID, "1.2.3.2"}};
  EXPECT_EQ(rows[0], expected);
}

TEST_F(Find, EchoesLevelCharacterSetAndAvailability) {
  auto rows = find(request(QueryModel::study_root, Level::study,
                           {{tags::SpecificCharacterSet, ""},
                            {tags::QueryRetrieveLevel, ""},
                            {tags::InstanceAvailability, ""},
                            {tags::StudyInstanceUID, "1.2.3.3"}}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(value_of(rows[0], tags::SpecificCharacterSet), "ISO_IR 192");
  EXPECT_EQ(value_of(rows[0], tags::QueryRetrieveLevel), "STUDY");
  EXPECT_EQ(value_of(rows[0], tags::InstanceAvailability), "ONLINE");
}

// ---- computed keys ----

TEST_F(Find, ComputesStudyRelatedCountsModalitiesAndSopClasses) {
  auto rows = find(request(QueryModel::study_root, Level::study,
                           {{tags::StudyInstanceUID, "1.2.3.1"},
                            {tags::NumberOfStudyRelatedSeries, ""},
                            {tags::NumberOfStudyRelatedInstances, ""},
                            {tags::ModalitiesInStudy, ""},
                            {tags::SOPClassesInStudy, ""},
                            {tags::NumberOfPatientRelatedStudies, ""}}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(value_of(rows[0], tags::NumberOfStudyRelatedSeries), "2");
  EXPECT_EQ(value_of(rows[0], tags::NumberOfStudyRelatedInstances), "4");
  EXPECT_EQ(value_of(rows[0], tags::ModalitiesInStudy), "CT\\SR");
  EXPECT_EQ(value_of(rows[0], tags::SOPClassesInStudy), std::string(kCtClass) + "\\" + kSrClass);
  EXPECT_EQ(value_of(rows[0], tags::NumberOfPatientRelatedStudies), "2");
}

TEST_F(Find, ComputesSeriesRelatedInstances) {
  auto rows = find(request(QueryModel::study_root, Level::series,
                           {{tags::StudyInstanceUID, "1.2.3.1"}, {tags::NumberOfSeriesRelatedInstances, ""}}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(column(rows, tags::NumberOfSeriesRelatedInstances), (S{"1", "3"}));
}

TEST_F(Find, ModalitiesInStudyMatchesStudiesHavingAnyListedModality) {
  EXPECT_EQ(studies(tags::ModalitiesInStudy, "MR"), (S{"1.2.3.2"}));
  EXPECT_EQ(studies(tags::ModalitiesInStudy, "CR\\MR"), (S{"1.2.3.2", "1.2.3.3"}));
  EXPECT_EQ(studies(tags::ModalitiesInStudy, "CT"), (S{"1.2.3.1", "1.2.3.4"}));
  EXPECT_EQ(studies(tags::ModalitiesInStudy, "S*"), (S{"1.2.3.1"}));
  EXPECT_TRUE(studies(tags::ModalitiesInStudy, "US").empty());
}

TEST_F(Find, ModalitiesInStudyCombinesWithOtherKeys) {
  auto rows = find(request(QueryModel::study_root, Level::study,
                           {{tags::PatientID, "PAT001"}, {tags::ModalitiesInStudy, "SR\\CR"}}));
  EXPECT_EQ(column(rows, tags::StudyInstanceUID), (S{"1.2.3.1"}));
  EXPECT_EQ(column(rows, tags::ModalitiesInStudy), (S{"CT\\SR"}));
  auto series = find(request(QueryModel::study_root, Level::series, {{tags::ModalitiesInStudy, "MR"}}));
  EXPECT_EQ(column(series, tags::SeriesInstanceUID), (S{"1.2.3.2.1"}));
}

TEST_F(Find, SopClassesInStudyMatchesStudiesHavingAnyListedClass) {
  EXPECT_EQ(studies(tags::SOPClassesInStudy, kSrClass), (S{"1.2.3.1"}));
  EXPECT_EQ(studies(tags::SOPClassesInStudy, std::string(kMrClass) + "\\" + kCrClass), (S{"1.2.3.2", "1.2.3.3"}));
}

// ---- limit and bounds ----

TEST_F(Find, LimitCapsTheNumberOfRows) {
  EXPECT_EQ(find(request(QueryModel::study_root, Level::study, {}), 2).size(), 2u);
  EXPECT_EQ(find(request(QueryModel::study_root, Level::image, {}), 5).size(), 5u);
  EXPECT_EQ(find(request(QueryModel::study_root, Level::image, {}), 100).size(), 8u);
  EXPECT_TRUE(find(request(QueryModel::study_root, Level::study, {}), 0).empty());
}

TEST_F(Find, RefusesOversizedRequests) {
  AttrList keys(300, Attr{tags::PatientID, ""});
  auto res = index_->find(request(QueryModel::study_root, Level::study, keys), 10);
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code, Errc::too_large);
  std::string many;
  for (int i = 0; i < 5000; ++i) many += "1.2.\\";
  auto list = index_->find(request(QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, many}}), 10);
  ASSERT_FALSE(list.has_value());
  EXPECT_EQ(list.error().code, Errc::too_large);
}

// ---- locate ----

TEST_F(Find, LocateReturnsEveryInstanceUnderTheMatchedStudyInOrder) {
  auto loc = index_->locate(request(QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, "1.2.3.1"}}), 100);
  ASSERT_TRUE(loc.has_value()) << loc.error().message;
  S uids;
  for (const auto& l : *loc) uids.push_back(l.sop_instance_uid);
  EXPECT_EQ(uids, (S{"1.2.3.1.1.1", "1.2.3.1.1.2", "1.2.3.1.1.3", "1.2.3.1.2.1"}));
  for (const auto& l : *loc) {
    EXPECT_EQ(l.study_uid, "1.2.3.1");
    EXPECT_EQ(l.patient_id, "PAT001");
    EXPECT_EQ(l.blob_key, blob_for(l.sop_instance_uid).key);
    EXPECT_EQ(l.size, blob_for(l.sop_instance_uid).size);
    EXPECT_FALSE(l.transfer_syntax_uid.empty());
  }
}

TEST_F(Find, LocateUsesTheSameMatchingAtEveryLevel) {
  auto by_patient =
      index_->locate(request(QueryModel::patient_root, Level::patient, {{tags::PatientName, "SMI*"}}), 100);
  ASSERT_TRUE(by_patient.has_value());
  EXPECT_EQ(by_patient->size(), 6u);
  auto by_series = index_->locate(
      request(QueryModel::study_root, Level::series, {{tags::PatientID, "PAT001"}, {tags::Modality, "MR\\SR"}}), 100);
  ASSERT_TRUE(by_series.has_value());
  EXPECT_EQ(by_series->size(), 3u);
  auto by_image = index_->locate(
      request(QueryModel::study_root, Level::image, {{tags::SOPInstanceUID, "1.2.3.3.1.1\\1.2.3.4.1.1"}}), 100);
  ASSERT_TRUE(by_image.has_value());
  EXPECT_EQ(by_image->size(), 2u);
  auto capped = index_->locate(request(QueryModel::study_root, Level::study, {}), 3);
  ASSERT_TRUE(capped.has_value());
  EXPECT_EQ(capped->size(), 3u);
  auto none = index_->locate(request(QueryModel::study_root, Level::study, {{tags::StudyDate, "19000101"}}), 100);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

TEST_F(Find, FindInstanceReportsUnknownUidsAsEmpty) {
  auto none = index_->find_instance("9.9.9");
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
}

} // namespace
} // namespace tresor::index::test
