// Deletion, legal hold and retention queries of the SQLite index (index.h,
// sqlite/deletion.cpp): one transaction removes the rows and queues their
// blob keys; empty parents go; counters stay exact; a hold refuses.
#include <gtest/gtest.h>

#include <algorithm>

#include "index_test_support.h"

namespace tresor::index::test {
namespace {

using Deletion = IndexTest;

std::string study_count(RawDb& raw) { return raw.rows("SELECT count(*) FROM study").at(0); }

TEST_F(Deletion, DeletingASeriesQueuesItsBlobsAndRemovesOnlyItsRowsWithExactCounters) {
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.1")), InsertOutcome::stored);
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.2")), InsertOutcome::stored);
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.2", "1.1.2.1")), InsertOutcome::stored);
  auto plan = index_->delete_entities({DeleteLevel::series, "1.1.1", {}});
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_EQ(plan->studies.size(), 1u);
  EXPECT_EQ(plan->studies[0].study_uid, "1.1");
  EXPECT_EQ(plan->studies[0].instances, 2u);
  EXPECT_EQ(plan->studies[0].series, 1u);
  EXPECT_FALSE(plan->studies[0].whole_study);
  auto keys = plan->blob_keys;
  std::ranges::sort(keys);
  EXPECT_EQ(keys, (std::vector<std::string>{blob_for("1.1.1.1").key, blob_for("1.1.1.2").key}));
  auto pending = index_->pending_deletions();
  ASSERT_TRUE(pending);
  std::ranges::sort(*pending);
  EXPECT_EQ(*pending, keys);

  RawDb raw(db_file());
  EXPECT_EQ(raw.rows("SELECT series_uid FROM series"), std::vector<std::string>{"1.1.2"});
  EXPECT_EQ(raw.rows("SELECT num_series || '/' || num_instances FROM study"), std::vector<std::string>{"1/1"});
  EXPECT_EQ(raw.rows("SELECT num_studies || '/' || num_series || '/' || num_instances FROM patient"),
            std::vector<std::string>{"1/1/1"});
  auto gone = index_->find_instance("1.1.1.1");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
  // Queued keys count as referenced, so the ingest recovery never re-indexes them.
  auto refs = index_->referenced_blob_keys();
  ASSERT_TRUE(refs);
  EXPECT_NE(std::ranges::find(*refs, blob_for("1.1.1.1").key), refs->end());
  EXPECT_TRUE(index_->clear_pending_deletion(blob_for("1.1.1.1").key));
  EXPECT_EQ(index_->pending_deletions()->size(), 1u);
}

TEST_F(Deletion, DeletingAPatientRemovesEveryStudyAndThePatientRowAndTheirHeldCopies) {
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.1")), InsertOutcome::stored);
  ASSERT_EQ(store(make_record("P1", "1.2", "1.2.1", "1.2.1.1")), InsertOutcome::stored);
  ASSERT_EQ(store(make_record("P2", "2.1", "2.1.1", "2.1.1.1")), InsertOutcome::stored);
  auto other = make_record("P1", "1.1", "1.1.1", "1.1.1.9");
  other.patient_name = "OTHER^NAME";  // held back: the study is known under other demographics
  ASSERT_EQ(store(other), InsertOutcome::quarantined);
  auto plan = index_->delete_entities({DeleteLevel::patient, "P1", {}});
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_EQ(plan->studies.size(), 2u);
  EXPECT_TRUE(plan->studies[0].whole_study);
  EXPECT_EQ(plan->studies[0].quarantined, 1u);
  EXPECT_EQ(plan->blob_keys.size(), 3u);
  RawDb raw(db_file());
  EXPECT_EQ(raw.rows("SELECT patient_id FROM patient"), std::vector<std::string>{"P2"});
  EXPECT_EQ(study_count(raw), "1");
  EXPECT_EQ(raw.rows("SELECT count(*) FROM quarantine"), std::vector<std::string>{"0"});
  auto again = index_->delete_entities({DeleteLevel::patient, "P1", {}});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::not_found);
}

TEST_F(Deletion, AStudyUnderLegalHoldIsNotDeletedAndTheRefusalNamesIt) {
  ASSERT_EQ(store(make_record("P1", "1.1", "1.1.1", "1.1.1.1")), InsertOutcome::stored);
  auto held = index_->set_study_label("1.1", kHoldLabel, true);
  ASSERT_TRUE(held);
  EXPECT_TRUE(*held);
  EXPECT_FALSE(*index_->set_study_label("1.1", kHoldLabel, true));  // already held
  for (auto level : {DeleteLevel::instance, DeleteLevel::series, DeleteLevel::study}) {
    std::string uid = level == DeleteLevel::instance ? "1.1.1.1" : level == DeleteLevel::series ? "1.1.1" : "1.1";
    auto refused = index_->delete_entities({level, uid, {}});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Errc::conflict);
    EXPECT_NE(refused.error().message.find("1.1"), std::string::npos);
    EXPECT_NE(refused.error().message.find("hold"), std::string::npos);
  }
  auto refused = index_->delete_entities({DeleteLevel::patient, "P1", {}});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::conflict);
  EXPECT_TRUE(index_->pending_deletions()->empty());
  EXPECT_EQ(index_->studies_with_label(kHoldLabel)->size(), 1u);
  ASSERT_TRUE(index_->set_study_label("1.1", kHoldLabel, false));
  EXPECT_TRUE(index_->delete_entities({DeleteLevel::study, "1.1", {}}));
  EXPECT_EQ(index_->set_study_label("1.1", kHoldLabel, true).error().code, Errc::not_found);
}

TEST_F(Deletion, RetentionCandidatesAreOldStudiesByDateOrReceivedTimeNeverHeldOnes) {
  auto old_ct = make_record("P1", "1.1", "1.1.1", "1.1.1.1");
  old_ct.study_date = "20000101";
  auto old_held = make_record("P1", "1.2", "1.2.1", "1.2.1.1");
  old_held.study_date = "20000102";
  auto recent = make_record("P1", "1.3", "1.3.1", "1.3.1.1");
  recent.study_date = "20250101";
  auto undated = make_record("P1", "1.4", "1.4.1", "1.4.1.1");
  undated.study_date = "";   // received now: recent by its received time
  auto old_mr = make_record("P1", "1.5", "1.5.1", "1.5.1.1");
  old_mr.study_date = "19990101";
  old_mr.modality = "MR";
  for (const auto& r : {old_ct, old_held, recent, undated, old_mr}) ASSERT_EQ(store(r), InsertOutcome::stored);
  ASSERT_TRUE(index_->set_study_label("1.2", kHoldLabel, true));
  auto uids = [&](RetentionQuery q) {
    auto rows = index_->retention_candidates(q);
    EXPECT_TRUE(rows) << rows.error().message;
    std::vector<std::string> out;
    for (const auto& s : *rows) out.push_back(s.study_uid);
    return out;
  };
  EXPECT_EQ(uids({"20100101", "2010-01-01T00:00:00Z", "", "", 100}), (std::vector<std::string>{"1.5", "1.1"}));
  EXPECT_EQ(uids({"20100101", "2010-01-01T00:00:00Z", "MR", "", 100}), (std::vector<std::string>{"1.5"}));
  EXPECT_EQ(uids({"20100101", "2010-01-01T00:00:00Z", "", "1.2.3.4", 100}), std::vector<std::string>{});
  // A cut-off after now: the undated study goes by its received time.
  auto all = uids({"20990101", "2099-01-01T00:00:00Z", "", "", 100});
  EXPECT_EQ(all, (std::vector<std::string>{"1.4", "1.5", "1.1", "1.3"}));
}

} // namespace
} // namespace tresor::index::test
