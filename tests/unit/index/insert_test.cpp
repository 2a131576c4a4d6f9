#include "index_test_support.h"

namespace tresor::index::test {
namespace {

using Insert = IndexTest;

std::size_t instance_count(SqliteIndex& idx) {
  auto rows = idx.find(request(QueryModel::study_root, Level::image, {}), 100000);
  EXPECT_TRUE(rows.has_value());
  return rows ? rows->size() : 0;
}

TEST_F(Insert, StoresANewInstanceAndMakesItFindable) {
  auto r = make_record("P1", "1.1", "1.1.1", "1.1.1.1");
  auto res = index_->insert(r, blob_for("1.1.1.1"));
  ASSERT_TRUE(res.has_value()) << res.error().message;
  EXPECT_EQ(res->outcome, InsertOutcome::stored);
  EXPECT_EQ(res->quarantine_id, 0);

  auto loc = index_->find_instance("1.1.1.1");
  ASSERT_TRUE(loc.has_value());
  ASSERT_TRUE(loc->has_value());
  EXPECT_EQ((*loc)->study_uid, "1.1");
  EXPECT_EQ((*loc)->series_uid, "1.1.1");
  EXPECT_EQ((*loc)->sop_instance_uid, "1.1.1.1");
  EXPECT_EQ((*loc)->sop_class_uid, "1.2.840.10008.5.1.4.1.1.2");
  EXPECT_EQ((*loc)->transfer_syntax_uid, "1.2.840.10008.1.2.1");
  EXPECT_EQ((*loc)->patient_id, "P1");
  EXPECT_EQ((*loc)->blob_key, blob_for("1.1.1.1").key);
  EXPECT_EQ((*loc)->size, blob_for("1.1.1.1").size);
}

TEST_F(Insert, ReportsTheSameInstanceWithTheSameDigestAsDuplicate) {
  auto r = make_record("P1", "1.1", "1.1.1", "1.1.1.1");
  ASSERT_EQ(store(r), InsertOutcome::stored);
  EXPECT_EQ(store(r), InsertOutcome::duplicate);
  EXPECT_EQ(instance_count(*index_), 1u);
}

TEST_F(Insert, ReportsTheSameUidWithOtherContentAsConflictAndKeepsTheOriginal) {
  auto r = make_record("P1", "1.1", "1.1.1", "1.1.1.1");
  ASSERT_EQ(store(r), InsertOutcome::stored);
  auto res = index_->insert(r, blob_for("1.1.1.1", "-other"));
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->outcome, InsertOutcome::conflict);
  EXPECT_FALSE(res->reason.empty());
  auto loc = index_->find_instance("1.1.1.1");
  ASSERT_TRUE(loc.has_value() && loc->has_value());
  EXPECT_EQ((*loc)->blob_key, blob_for("1.1.1.1").key);
  EXPECT_EQ(instance_count(*index_), 1u);
}

TEST_F(Insert, QuarantinesAnInstanceWhosePatientNameDiffersFromItsStudy) {
  auto first = make_record("P1", "1.1", "1.1.1", "1.1.1.1");
  ASSERT_EQ(store(first), InsertOutcome::stored);
  auto second = make_record("P1", "1.1", "1.1.1", "1.1.1.2");
  second.patient_name = "SOMEONE^ELSE";
  auto res = index_->insert(second, blob_for("1.1.1.2"));
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->outcome, InsertOutcome::quarantined);
  EXPECT_GT(res->quarantine_id, 0);
  EXPECT_NE(res->reason.find("PatientName"), std::string::npos);
  EXPECT_EQ(res->reason.find("SOMEONE"), std::string::npos) << "reasons carry no patient data";

  auto q = index_->get_quarantine(res->quarantine_id);
  ASSERT_TRUE(q.has_value() && q->has_value());
  EXPECT_EQ((*q)->reason, res->reason);
  EXPECT_EQ((*q)->record.patient_name, "SOMEONE^ELSE");
  EXPECT_EQ((*q)->record.sop_instance_uid, "1.1.1.2");
  EXPECT_EQ((*q)->record.rows, "512");
  EXPECT_EQ((*q)->record.specific_character_set, "ISO_IR 192");
  EXPECT_EQ((*q)->blob.key, blob_for("1.1.1.2").key);
  EXPECT_EQ((*q)->blob.size, blob_for("1.1.1.2").size);
  EXPECT_EQ((*q)->blob.digest, blob_for("1.1.1.2").digest);
  EXPECT_FALSE((*q)->received_at.empty());
  EXPECT_EQ(instance_count(*index_), 1u);
}

TEST_F(Insert, QuarantinesAnInstanceWhosePatientIdOrBirthDateDiffersFromItsStudy) {
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.1")), InsertOutcome::stored);
  auto other_id = make_record("P2", "1.1", "1.1.1", "1.1.1.2");
  other_id.patient_name = "NAME^P1";
  auto r1 = index_->insert(other_id, blob_for("1.1.1.2"));
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(r1->outcome, InsertOutcome::quarantined);
  EXPECT_NE(r1->reason.find("PatientID"), std::string::npos);

  auto other_birth = make_record("P1", "1.1", "1.1.1", "1.1.1.3");
  other_birth.patient_birth_date = "19990909";
  auto r2 = index_->insert(other_birth, blob_for("1.1.1.3"));
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->outcome, InsertOutcome::quarantined);
  EXPECT_NE(r2->reason.find("PatientBirthDate"), std::string::npos);
  EXPECT_NE(r1->quarantine_id, r2->quarantine_id);

  auto list = index_->list_quarantine();
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, r1->quarantine_id);
  EXPECT_EQ((*list)[1].id, r2->quarantine_id);
}

TEST_F(Insert, ResendingAQuarantinedInstanceReusesItsQuarantineEntry) {
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.1")), InsertOutcome::stored);
  auto bad = make_record("P1", "1.1", "1.1.1", "1.1.1.2");
  bad.patient_name = "OTHER";
  auto a = index_->insert(bad, blob_for("1.1.1.2"));
  auto b = index_->insert(bad, blob_for("1.1.1.2"));
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(b->outcome, InsertOutcome::quarantined);
  EXPECT_EQ(a->quarantine_id, b->quarantine_id);
  auto list = index_->list_quarantine();
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(list->size(), 1u);
}

TEST_F(Insert, ForcedInsertSkipsTheDemographicsCheckAndKeepsTheStudyPatient) {
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.1")), InsertOutcome::stored);
  auto bad = make_record("P1", "1.1", "1.1.1", "1.1.1.2");
  bad.patient_name = "OTHER";
  auto q = index_->insert(bad, blob_for("1.1.1.2"));
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->outcome, InsertOutcome::quarantined);

  // The release flow: insert with force, then drop the quarantine row.
  auto entry = index_->get_quarantine(q->quarantine_id);
  ASSERT_TRUE(entry.has_value() && entry->has_value());
  auto forced = index_->insert((*entry)->record, (*entry)->blob, true);
  ASSERT_TRUE(forced.has_value());
  EXPECT_EQ(forced->outcome, InsertOutcome::stored);
  ASSERT_TRUE(index_->remove_quarantine(q->quarantine_id).has_value());

  EXPECT_EQ(instance_count(*index_), 2u);
  auto studies = find(request(QueryModel::study_root, Level::study, {{tags::PatientName, ""}}));
  ASSERT_EQ(studies.size(), 1u);
  EXPECT_EQ(value_of(studies[0], tags::PatientName), "NAME^P1");
  auto list = index_->list_quarantine();
  ASSERT_TRUE(list.has_value());
  EXPECT_TRUE(list->empty());
}

TEST_F(Insert, QuarantinesASeriesUidAlreadyUsedByAnotherStudyAndRefusesToForceIt) {
  ASSERT_EQ(store(make_record("P1", "1.1", "9.9", "1.1.1.1")), InsertOutcome::stored);
  auto clash = make_record("P1", "1.2", "9.9", "1.2.1.1");
  auto q = index_->insert(clash, blob_for("1.2.1.1"));
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->outcome, InsertOutcome::quarantined);
  auto forced = index_->insert(clash, blob_for("1.2.1.1"), true);
  ASSERT_TRUE(forced.has_value());
  EXPECT_EQ(forced->outcome, InsertOutcome::conflict);
  EXPECT_EQ(instance_count(*index_), 1u);
}

// Issue 11 item 2: one store of a fake study under a known PatientID used to
// rewrite the patient row, i.e. what every study of that patient shows, and
// then sent the patient's genuine images to quarantine.
TEST_F(Insert, AFakeStudyOfAKnownPatientIdIsQuarantinedAndChangesNoOtherStudy) {
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.1")), InsertOutcome::stored);
  auto fake = make_record("P1", "6.6", "6.6.1", "6.6.1.1");
  fake.patient_name = "MALLORY^EVE";
  auto res = index_->insert(fake, blob_for("6.6.1.1"));
  ASSERT_TRUE(res.has_value()) << res.error().message;
  EXPECT_EQ(res->outcome, InsertOutcome::quarantined);
  EXPECT_NE(res->reason.find("PatientName"), std::string::npos) << res->reason;
  EXPECT_EQ(res->reason.find("MALLORY"), std::string::npos) << "reasons carry no patient data";

  // The genuine study's rows (QIDO-RS and C-FIND share find()) are unchanged.
  auto studies = find(request(QueryModel::study_root, Level::study,
                              {{tags::StudyInstanceUID, ""}, {tags::PatientName, ""}, {tags::PatientID, ""}}));
  ASSERT_EQ(studies.size(), 1u);
  EXPECT_EQ(value_of(studies[0], tags::StudyInstanceUID), "1.1");
  EXPECT_EQ(value_of(studies[0], tags::PatientName), "NAME^P1");
  auto patients = find(request(QueryModel::patient_root, Level::patient,
                               {{tags::PatientName, ""}, {tags::NumberOfPatientRelatedStudies, ""}}));
  ASSERT_EQ(patients.size(), 1u);
  EXPECT_EQ(value_of(patients[0], tags::PatientName), "NAME^P1");
  EXPECT_EQ(value_of(patients[0], tags::NumberOfPatientRelatedStudies), "1");
  EXPECT_TRUE(find(request(QueryModel::study_root, Level::study, {{tags::PatientName, "MALLORY*"}})).empty());

  // A later genuine instance of the original study is stored, not quarantined.
  EXPECT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.2")), InsertOutcome::stored);
  EXPECT_EQ(instance_count(*index_), 2u);
  auto list = index_->list_quarantine();
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().record.sop_instance_uid, "6.6.1.1");
}

TEST_F(Insert, ANewStudyOfAKnownPatientWithAnotherBirthDateOrSexIsQuarantined) {
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.1")), InsertOutcome::stored);
  auto born = make_record("P1", "2.2", "2.2.1", "2.2.1.1");
  born.patient_birth_date = "19991231";
  auto sex = make_record("P1", "3.3", "3.3.1", "3.3.1.1");
  sex.patient_sex = "F";
  auto a = index_->insert(born, blob_for("2.2.1.1"));
  auto b = index_->insert(sex, blob_for("3.3.1.1"));
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->outcome, InsertOutcome::quarantined);
  EXPECT_NE(a->reason.find("PatientBirthDate"), std::string::npos) << a->reason;
  EXPECT_EQ(a->reason.find("1999"), std::string::npos);
  EXPECT_EQ(b->outcome, InsertOutcome::quarantined);
  EXPECT_NE(b->reason.find("PatientSex"), std::string::npos) << b->reason;
  // Same demographics: a new study simply joins the patient.
  EXPECT_EQ(store(make_record("P1", "4.4", "4.4.1", "4.4.1.1")), InsertOutcome::stored);
  auto patients = find(request(QueryModel::patient_root, Level::patient,
                               {{tags::PatientBirthDate, ""}, {tags::PatientSex, ""}, {tags::NumberOfPatientRelatedStudies, ""}}));
  ASSERT_EQ(patients.size(), 1u);
  EXPECT_EQ(value_of(patients[0], tags::PatientBirthDate), "19700101");
  EXPECT_EQ(value_of(patients[0], tags::PatientSex), "O");
  EXPECT_EQ(value_of(patients[0], tags::NumberOfPatientRelatedStudies), "2");
}

TEST_F(Insert, AReleasedNewStudyJoinsThePatientWithoutRewritingItsDemographics) {
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.1")), InsertOutcome::stored);
  auto other = make_record("P1", "2.2", "2.2.1", "2.2.1.1");
  other.patient_name = "OTHER^NAME";
  auto q = index_->insert(other, blob_for("2.2.1.1"));
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->outcome, InsertOutcome::quarantined);
  auto forced = index_->insert(other, blob_for("2.2.1.1"), true);
  ASSERT_TRUE(forced.has_value());
  EXPECT_EQ(forced->outcome, InsertOutcome::stored);
  auto studies = find(request(QueryModel::study_root, Level::study, {{tags::PatientName, ""}}));
  EXPECT_EQ(column(studies, tags::PatientName), (std::vector<std::string>{"NAME^P1", "NAME^P1"}));
}

TEST_F(Insert, AnAdministrativeUpdateChangesThePatientForEveryStudyAndReturnsTheOldValues) {
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.1")), InsertOutcome::stored);
  ASSERT_EQ(store(make_record("P1", "1.2", "1.2.1", "1.2.1.1")), InsertOutcome::stored);
  PatientChange change;
  change.name = "NEW^NAME";
  change.sex = "F";
  auto old = index_->update_patient("P1", "", change);
  ASSERT_TRUE(old.has_value()) << old.error().message;
  EXPECT_EQ(old->name, "NAME^P1");
  EXPECT_EQ(old->birth_date, "19700101");
  EXPECT_EQ(old->sex, "O");
  auto studies = find(request(QueryModel::study_root, Level::study,
                              {{tags::PatientName, ""}, {tags::PatientSex, ""}, {tags::PatientBirthDate, ""}}));
  ASSERT_EQ(studies.size(), 2u);
  for (const auto& row : studies) {
    EXPECT_EQ(value_of(row, tags::PatientName), "NEW^NAME");
    EXPECT_EQ(value_of(row, tags::PatientSex), "F");
    EXPECT_EQ(value_of(row, tags::PatientBirthDate), "19700101") << "an absent value stays";
  }
  // A new study with the corrected demographics joins the patient.
  auto next = make_record("P1", "1.3", "1.3.1", "1.3.1.1");
  next.patient_name = "NEW^NAME";
  next.patient_sex = "F";
  EXPECT_EQ(store(next), InsertOutcome::stored);
  auto missing = index_->update_patient("NOBODY", "", change);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  auto other_issuer = index_->update_patient("P1", "HOSP_X", change);
  ASSERT_FALSE(other_issuer.has_value());
  EXPECT_EQ(other_issuer.error().code, Errc::not_found);
}

TEST_F(Insert, PatientIdentityIncludesTheIssuer) {
  auto a = make_record("P1", "1.1", "1.1.1", "1.1.1.1");
  a.issuer_of_patient_id = "HOSP_A";
  auto b = make_record("P1", "1.2", "1.2.1", "1.2.1.1");
  b.issuer_of_patient_id = "HOSP_B";
  ASSERT_EQ(store(a), InsertOutcome::stored);
  ASSERT_EQ(store(b), InsertOutcome::stored);
  auto patients = find(request(QueryModel::patient_root, Level::patient, {{tags::IssuerOfPatientID, ""}}));
  EXPECT_EQ(column(patients, tags::IssuerOfPatientID), (std::vector<std::string>{"HOSP_A", "HOSP_B"}));
}

TEST_F(Insert, RejectsARecordWithoutUids) {
  auto r = make_record("P1", "1.1", "1.1.1", "");
  auto res = index_->insert(r, blob_for("x"));
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code, Errc::invalid_argument);
  auto no_blob = index_->insert(make_record("P1", "1.1", "1.1.1", "1.1.1.1"), BlobInfo{});
  ASSERT_FALSE(no_blob.has_value());
  EXPECT_EQ(no_blob.error().code, Errc::invalid_argument);
}

TEST_F(Insert, RejectsOversizedAttributes) {
  auto r = make_record("P1", "1.1", "1.1.1", "1.1.1.1");
  r.study_description.assign(100000, 'x');
  auto res = index_->insert(r, blob_for("1.1.1.1"));
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code, Errc::too_large);
}

TEST_F(Insert, RemovingAQuarantineEntryTwiceReportsNotFound) {
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.1")), InsertOutcome::stored);
  auto bad = make_record("P1", "1.1", "1.1.1", "1.1.1.2");
  bad.patient_birth_date = "20000101";
  auto q = index_->insert(bad, blob_for("1.1.1.2"));
  ASSERT_TRUE(q.has_value());
  ASSERT_TRUE(index_->remove_quarantine(q->quarantine_id).has_value());
  auto again = index_->remove_quarantine(q->quarantine_id);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Errc::not_found);
  auto gone = index_->get_quarantine(q->quarantine_id);
  ASSERT_TRUE(gone.has_value());
  EXPECT_FALSE(gone->has_value());
}

TEST_F(Insert, ReferencedBlobKeysCoverInstancesAndQuarantine) {
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.1")), InsertOutcome::stored);
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.2")), InsertOutcome::stored);
  auto bad = make_record("P9", "1.1", "1.1.1", "1.1.1.3");
  ASSERT_EQ(store(bad), InsertOutcome::quarantined);
  auto keys = index_->referenced_blob_keys();
  ASSERT_TRUE(keys.has_value());
  std::sort(keys->begin(), keys->end());
  std::vector<std::string> expected{blob_for("1.1.1.1").key, blob_for("1.1.1.2").key, blob_for("1.1.1.3").key};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(*keys, expected);
}

TEST_F(Insert, QuarantinedInstancesAreNeverVisible) {
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.1")), InsertOutcome::stored);
  auto bad = make_record("P9", "1.1", "1.1.2", "1.1.2.1");
  ASSERT_EQ(store(bad), InsertOutcome::quarantined);

  auto by_uid = find(request(QueryModel::study_root, Level::image, {{tags::SOPInstanceUID, "1.1.2.1"}}));
  EXPECT_TRUE(by_uid.empty());
  auto series = find(request(QueryModel::study_root, Level::series, {{tags::StudyInstanceUID, "1.1"}}));
  EXPECT_EQ(column(series, tags::SeriesInstanceUID), std::vector<std::string>{"1.1.1"});
  auto patients = find(request(QueryModel::patient_root, Level::patient, {{tags::PatientID, "P9"}}));
  EXPECT_TRUE(patients.empty());
  auto located = index_->locate(request(QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, "1.1"}}), 100);
  ASSERT_TRUE(located.has_value());
  ASSERT_EQ(located->size(), 1u);
  EXPECT_EQ((*located)[0].sop_instance_uid, "1.1.1.1");
  auto direct = index_->find_instance("1.1.2.1");
  ASSERT_TRUE(direct.has_value());
  EXPECT_FALSE(direct->has_value());
}

} // namespace
} // namespace tresor::index::test
