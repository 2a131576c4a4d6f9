// Access scopes in find() and locate(), and study labels.
#include "index/sqlite/query.h"
#include "index_test_support.h"

namespace tresor::index::test {
namespace {

using S = std::vector<std::string>;

// The archive:
//  PAT1  1.9.1  NORTH  DR^A   series 1.9.1.1 CT (2 images)
//        1.9.2  SOUTH  DR^B   series 1.9.2.1 MR (1), 1.9.2.2 SR (1)
//  PAT2  1.9.3  SOUTH  DR^A   series 1.9.3.1 CR (1)
//  PAT3  1.9.4  (none) (none) series 1.9.4.1 CT (1), 1.9.4.2 CT (1)
class Scoped : public IndexTest {
protected:
  void SetUp() override {
    IndexTest::SetUp();
    add("PAT1", "1.9.1", "NORTH", "DR^A", "1.9.1.1", "CT", 2);
    add("PAT1", "1.9.2", "SOUTH", "DR^B", "1.9.2.1", "MR", 1);
    add("PAT1", "1.9.2", "SOUTH", "DR^B", "1.9.2.2", "SR", 1);
    add("PAT2", "1.9.3", "SOUTH", "DR^A", "1.9.3.1", "CR", 1);
    add("PAT3", "1.9.4", "", "", "1.9.4.1", "CT", 1);
    add("PAT3", "1.9.4", "", "", "1.9.4.2", "CT", 1);
  }

  void add(const std::string& pid, const std::string& study, const std::string& institution,
           const std::string& physician, const std::string& series, const std::string& modality, int images) {
    for (int i = 1; i <= images; ++i) {
      auto r = make_record(pid, study, series, series + "." + std::to_string(i));
      r.institution_name = institution;
      r.referring_physician_name = physician;
      r.modality = modality;
      r.instance_number = std::to_string(i);
      ASSERT_EQ(store(r), InsertOutcome::stored);
    }
  }

  static Scope institutions(S v) { return Scope{std::move(v), {}, {}}; }
  static Scope physicians(S v) { return Scope{{}, std::move(v), {}}; }
  static Scope labels(S v) { return Scope{{}, {}, std::move(v)}; }

  static QueryRequest scoped(QueryModel model, Level level, AttrList keys, std::optional<Scope> scope) {
    auto q = request(model, level, std::move(keys));
    q.scope = std::move(scope);
    return q;
  }

  S studies(const std::optional<Scope>& scope, AttrList keys = {}) {
    return column(find(scoped(QueryModel::study_root, Level::study, std::move(keys), scope)), tags::StudyInstanceUID);
  }
  S series(const std::optional<Scope>& scope) {
    return column(find(scoped(QueryModel::study_root, Level::series, {}, scope)), tags::SeriesInstanceUID);
  }
  S images(const std::optional<Scope>& scope) {
    return column(find(scoped(QueryModel::study_root, Level::image, {}, scope)), tags::SOPInstanceUID);
  }
  S located(const QueryRequest& q) {
    auto res = index_->locate(q, 1000);
    EXPECT_TRUE(res.has_value()) << res.error().message;
    S out;
    if (res)
      for (const auto& l : *res) out.push_back(l.sop_instance_uid);
    std::sort(out.begin(), out.end());
    return out;
  }
  void label(const std::string& study, S values) {
    auto s = index_->set_study_labels(study, values);
    ASSERT_TRUE(s.has_value()) << s.error().message;
  }
};

// ---- study, series and image levels ----

TEST_F(Scoped, ScopeByInstitutionLimitsStudiesSeriesAndImages) {
  const auto north = institutions({"NORTH"});
  EXPECT_EQ(studies(north), (S{"1.9.1"}));
  EXPECT_EQ(series(north), (S{"1.9.1.1"}));
  EXPECT_EQ(images(north), (S{"1.9.1.1.1", "1.9.1.1.2"}));
  EXPECT_EQ(studies(institutions({"SOUTH", "NORTH"})), (S{"1.9.1", "1.9.2", "1.9.3"}));
}

TEST_F(Scoped, ScopeByReferringPhysicianLimitsStudiesSeriesAndImages) {
  const auto dr_a = physicians({"DR^A"});
  EXPECT_EQ(studies(dr_a), (S{"1.9.1", "1.9.3"}));
  EXPECT_EQ(series(dr_a), (S{"1.9.1.1", "1.9.3.1"}));
  EXPECT_EQ(images(dr_a), (S{"1.9.1.1.1", "1.9.1.1.2", "1.9.3.1.1"}));
}

TEST_F(Scoped, ScopeByLabelSeesOnlyLabelledStudies) {
  const auto trial = labels({"trial-7"});
  EXPECT_TRUE(studies(trial).empty());
  label("1.9.4", {"trial-7", "other"});
  label("1.9.2", {"unrelated"});
  EXPECT_EQ(studies(trial), (S{"1.9.4"}));
  EXPECT_EQ(series(trial), (S{"1.9.4.1", "1.9.4.2"}));
  EXPECT_EQ(images(trial), (S{"1.9.4.1.1", "1.9.4.2.1"}));
  label("1.9.4", {});
  EXPECT_TRUE(studies(trial).empty()) << "removing the label removes the access";
}

TEST_F(Scoped, ScopeAdmitsAStudyMatchingAnyCriterion) {
  label("1.9.4", {"trial-7"});
  const Scope any{{"NORTH"}, {"DR^B"}, {"trial-7"}};
  EXPECT_EQ(studies(any), (S{"1.9.1", "1.9.2", "1.9.4"}));
}

TEST_F(Scoped, ScopeValuesMatchExactlyAndCaseSensitively) {
  EXPECT_TRUE(studies(institutions({"north"})).empty());
  EXPECT_TRUE(studies(institutions({"NORTH*"})).empty()) << "no wildcard in scopes";
  EXPECT_TRUE(studies(physicians({"DR"})).empty());
}

TEST_F(Scoped, MatchingKeysCannotReachStudiesOutsideTheScope) {
  const auto north = institutions({"NORTH"});
  EXPECT_TRUE(studies(north, {{tags::InstitutionName, "SOUTH"}}).empty());
  EXPECT_TRUE(studies(north, {{tags::StudyInstanceUID, "1.9.2\\1.9.3"}}).empty());
  EXPECT_EQ(studies(north, {{tags::PatientID, "PAT1"}}), (S{"1.9.1"}));
  EXPECT_EQ(studies(north, {{tags::ModalitiesInStudy, "CT"}}), (S{"1.9.1"}));
  EXPECT_TRUE(studies(north, {{tags::ModalitiesInStudy, "MR"}}).empty());
}

TEST_F(Scoped, StudyLevelCountersAreThoseOfTheStudy) {
  auto rows = find(scoped(QueryModel::study_root, Level::study,
                          {{tags::StudyInstanceUID, ""},
                           {tags::NumberOfStudyRelatedSeries, ""},
                           {tags::NumberOfStudyRelatedInstances, ""},
                           {tags::ModalitiesInStudy, ""}},
                          institutions({"SOUTH"})));
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    if (value_of(row, tags::StudyInstanceUID) == "1.9.2") {
      EXPECT_EQ(value_of(row, tags::NumberOfStudyRelatedSeries), "2");
      EXPECT_EQ(value_of(row, tags::NumberOfStudyRelatedInstances), "2");
      EXPECT_EQ(value_of(row, tags::ModalitiesInStudy), "MR\\SR");
    } else {
      EXPECT_EQ(value_of(row, tags::StudyInstanceUID), "1.9.3");
      EXPECT_EQ(value_of(row, tags::NumberOfStudyRelatedInstances), "1");
    }
  }
}

// ---- patient level ----

const AttrList kPatientCounters{{tags::PatientID, ""},
                                {tags::NumberOfPatientRelatedStudies, ""},
                                {tags::NumberOfPatientRelatedSeries, ""},
                                {tags::NumberOfPatientRelatedInstances, ""}};

std::string counters(const std::vector<ResultRow>& rows, const std::string& pid) {
  for (const auto& r : rows)
    if (value_of(r, tags::PatientID) == pid)
      return value_of(r, tags::NumberOfPatientRelatedStudies) + "/" + value_of(r, tags::NumberOfPatientRelatedSeries) +
             "/" + value_of(r, tags::NumberOfPatientRelatedInstances);
  return "absent";
}

TEST_F(Scoped, PatientIsVisibleOnlyThroughAStudyInScopeAndCountsOnlySuchStudies) {
  const auto rows = find(scoped(QueryModel::patient_root, Level::patient, kPatientCounters, institutions({"SOUTH"})));
  EXPECT_EQ(column(rows, tags::PatientID), (S{"PAT1", "PAT2"}));
  EXPECT_EQ(counters(rows, "PAT1"), "1/2/2") << "the NORTH study of PAT1 is not counted";
  EXPECT_EQ(counters(rows, "PAT2"), "1/1/1");

  const auto all = find(request(QueryModel::patient_root, Level::patient, kPatientCounters));
  EXPECT_EQ(column(all, tags::PatientID), (S{"PAT1", "PAT2", "PAT3"}));
  EXPECT_EQ(counters(all, "PAT1"), "2/3/4") << "without a scope the stored counters are returned";
  EXPECT_EQ(counters(all, "PAT3"), "1/2/2");
}

TEST_F(Scoped, PatientLevelMatchingKeysCombineWithTheScope) {
  const auto south = institutions({"SOUTH"});
  auto keys = kPatientCounters;
  keys[0].value = "PAT1";
  const auto pat1 = find(scoped(QueryModel::patient_root, Level::patient, keys, south));
  ASSERT_EQ(pat1.size(), 1u);
  EXPECT_EQ(counters(pat1, "PAT1"), "1/2/2");
  keys[0].value = "PAT3";
  EXPECT_TRUE(find(scoped(QueryModel::patient_root, Level::patient, keys, south)).empty());
  keys[0].value = "PAT*";
  EXPECT_EQ(column(find(scoped(QueryModel::patient_root, Level::patient, keys, south)), tags::PatientID),
            (S{"PAT1", "PAT2"}));
}

TEST_F(Scoped, PatientCountersBelowPatientLevelAreScopedToo) {
  auto keys = kPatientCounters;
  keys.push_back({tags::StudyInstanceUID, ""});
  const auto rows = find(scoped(QueryModel::patient_root, Level::study, keys, physicians({"DR^B"})));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(value_of(rows[0], tags::StudyInstanceUID), "1.9.2");
  EXPECT_EQ(counters(rows, "PAT1"), "1/2/2");
}

TEST_F(Scoped, PatientLevelByLabel) {
  label("1.9.1", {"teaching"});
  const auto rows = find(scoped(QueryModel::patient_root, Level::patient, kPatientCounters, labels({"teaching"})));
  EXPECT_EQ(column(rows, tags::PatientID), (S{"PAT1"}));
  EXPECT_EQ(counters(rows, "PAT1"), "1/1/2");
}

// ---- empty and absent scopes ----

TEST_F(Scoped, EmptyScopeSeesNothingAtAnyLevel) {
  const Scope none;
  EXPECT_TRUE(studies(none).empty());
  EXPECT_TRUE(series(none).empty());
  EXPECT_TRUE(images(none).empty());
  EXPECT_TRUE(find(scoped(QueryModel::patient_root, Level::patient, kPatientCounters, none)).empty());
  EXPECT_TRUE(located(scoped(QueryModel::study_root, Level::study, {}, none)).empty());
  EXPECT_TRUE(located(scoped(QueryModel::patient_root, Level::patient, {{tags::PatientID, "PAT1"}}, none)).empty());
}

TEST_F(Scoped, EmptyValuesInAScopeAdmitNothing) {
  EXPECT_TRUE(studies(institutions({""})).empty()) << "a study without InstitutionName is not admitted by \"\"";
  EXPECT_TRUE(studies(Scope{{""}, {""}, {""}}).empty());
  EXPECT_TRUE(find(scoped(QueryModel::patient_root, Level::patient, kPatientCounters, physicians({""}))).empty());
}

TEST_F(Scoped, NoScopeSeesEverything) {
  EXPECT_EQ(studies(std::nullopt), (S{"1.9.1", "1.9.2", "1.9.3", "1.9.4"}));
  EXPECT_EQ(series(std::nullopt).size(), 6u);
  EXPECT_EQ(images(std::nullopt).size(), 7u);
  EXPECT_EQ(located(request(QueryModel::study_root, Level::study, {})).size(), 7u);
}

TEST_F(Scoped, ScopeWithTooManyEntriesIsRefused) {
  Scope huge;
  huge.institutions.assign(sqlite::kMaxQueryValues + 1, "X");
  auto res = index_->find(scoped(QueryModel::study_root, Level::study, {}, huge), 10);
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code, Errc::too_large);
}

// ---- locate ----

TEST_F(Scoped, LocateHonoursTheScopeAtEveryLevel) {
  const auto north = institutions({"NORTH"});
  EXPECT_EQ(located(scoped(QueryModel::study_root, Level::study, {}, north)), (S{"1.9.1.1.1", "1.9.1.1.2"}));
  EXPECT_TRUE(located(scoped(QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, "1.9.2"}}, north)).empty());
  EXPECT_TRUE(located(scoped(QueryModel::study_root, Level::series, {{tags::SeriesInstanceUID, "1.9.3.1"}}, north)).empty());
  EXPECT_TRUE(located(scoped(QueryModel::study_root, Level::image, {{tags::SOPInstanceUID, "1.9.2.1.1"}}, north)).empty());
  EXPECT_EQ(located(scoped(QueryModel::study_root, Level::image, {{tags::SOPInstanceUID, "1.9.1.1.2"}}, north)),
            (S{"1.9.1.1.2"}));
  EXPECT_EQ(located(scoped(QueryModel::patient_root, Level::patient, {{tags::PatientID, "PAT1"}}, institutions({"SOUTH"}))),
            (S{"1.9.2.1.1", "1.9.2.2.1"}))
      << "a patient-level retrieve takes only the patient's studies in scope";
}

// ---- the SQL ----

TEST_F(Scoped, ScopeValuesAreBoundParametersNeverSqlText) {
  const std::string evil = "X') OR 1=1 --";
  auto q = sqlite::build_find(scoped(QueryModel::patient_root, Level::patient, kPatientCounters,
                                     Scope{{evil}, {evil}, {"lbl"}}),
                              10);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->sql.find("OR 1=1"), std::string::npos);
  EXPECT_EQ(q->sql.find("lbl"), std::string::npos);
  EXPECT_EQ(std::count(q->params.begin(), q->params.end(), evil), 2);
  EXPECT_TRUE(studies(institutions({evil})).empty());
}

TEST_F(Scoped, WithoutAScopeTheSqlHasNoScopeTerms) {
  for (Level level : {Level::patient, Level::study, Level::series, Level::image}) {
    auto q = sqlite::build_find(request(QueryModel::patient_root, level, kPatientCounters), 10);
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->sql.find("study_label"), std::string::npos) << q->sql;
    EXPECT_EQ(q->sql.find(" sc"), std::string::npos) << q->sql;
    EXPECT_NE(q->sql.find("p.num_studies"), std::string::npos) << "stored counters: " << q->sql;
  }
  auto l = sqlite::build_locate(request(QueryModel::study_root, Level::study, {}), 10);
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->sql.find("institution"), std::string::npos) << l->sql;
}

// ---- labels ----

using Labels = Scoped;

TEST_F(Labels, SetStudyLabelsReplacesTheWholeSet) {
  label("1.9.1", {"b", "a.1", "b"});
  EXPECT_EQ(index_->study_labels("1.9.1").value(), (S{"a.1", "b"}));
  label("1.9.1", {"C_2"});
  EXPECT_EQ(index_->study_labels("1.9.1").value(), (S{"C_2"}));
  label("1.9.1", {});
  EXPECT_TRUE(index_->study_labels("1.9.1").value().empty());
  EXPECT_TRUE(index_->study_labels("1.9.2").value().empty()) << "a known study without labels";
}

TEST_F(Labels, InvalidLabelsAreRefusedAndNothingChanges) {
  label("1.9.1", {"keep"});
  for (const std::string& bad : {std::string(), std::string(65, 'a'), std::string("two words"), std::string("a/b"),
                                std::string("caf\xc3\xa9"), std::string("x,y")}) {
    auto s = index_->set_study_labels("1.9.1", {"fine", bad});
    ASSERT_FALSE(s.has_value()) << bad;
    EXPECT_EQ(s.error().code, Errc::invalid_argument) << bad;
  }
  EXPECT_EQ(index_->study_labels("1.9.1").value(), (S{"keep"}));
  EXPECT_TRUE(index_->set_study_labels("1.9.1", {std::string(64, 'z'), "A-Z_0.9"}).has_value());
}

TEST_F(Labels, UnknownStudyIsNotFound) {
  auto s = index_->set_study_labels("9.9.9", {"x"});
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, Errc::not_found);
  auto g = index_->study_labels("9.9.9");
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().code, Errc::not_found);
}

TEST_F(Labels, LabelsSurviveReopeningTheDatabase) {
  label("1.9.3", {"keep"});
  reopen();
  EXPECT_EQ(index_->study_labels("1.9.3").value(), (S{"keep"}));
  EXPECT_EQ(studies(labels({"keep"})), (S{"1.9.3"}));
}

} // namespace
} // namespace tresor::index::test
