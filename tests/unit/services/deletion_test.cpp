// services::DeletionService and RetentionService against the real SQLite
// index, filesystem store and DCMTK inspection: rows and blobs go together,
// holds refuse, the typed confirmation must match, every deletion is audited,
// and a crash or a failing disk between the index commit and the blob
// removals never leaves a row without its blob or a blob nobody will remove.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "../store/faulty_file_system.h"
#include "ingest_fixture.h"
#include "services/deletion.h"

using namespace tresor;
namespace fs = std::filesystem;
using Op = fault::FaultyFileSystem::Op;

namespace {

struct Deletion : test::IngestFixture {
  fault::FaultyFileSystem fsys;
  std::unique_ptr<services::DeletionService> deletion;
  Principal admin;

  void SetUp() override {
    open("deletion");
    reopen_store();
    ctx.principal.kind = Principal::Kind::peer;
    ctx.principal.name = "CT1";
    admin.kind = Principal::Kind::user;
    admin.name = "alice";
    admin.source = "127.0.0.9";
    admin.operations = {Operation::admin};
  }
  void TearDown() override {
    deletion.reset();
    ingest.reset();
    store.reset();
    index.reset();
    IngestFixture::TearDown();
  }
  // The store on the faulty file system, and services over it.
  void reopen_store() {
    deletion.reset();
    ingest.reset();
    store = std::move(*store::open_fs_store(dir / "store", fsys));
    ingest = std::make_unique<services::IngestService>(*store, *index, audit, dicom::Limits{});
    deletion = std::make_unique<services::DeletionService>(*store, *index, audit, ingest->key_locks());
  }
  // As after a crash: every object dropped, then opened again.
  void restart() {
    deletion.reset();
    ingest.reset();
    store.reset();
    index.reset();
    index = std::move(*index::open_sqlite(dir / "index.db"));
    reopen_store();
  }
  services::StoreResult put(const fs::path& file) {
    auto r = ingest->ingest_file(ctx, file);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : services::StoreResult{};
  }
  std::string key_of(const std::string& sop) {
    auto loc = index->find_instance(sop);
    EXPECT_TRUE(loc && *loc);
    return loc && *loc ? (*loc)->blob_key : std::string();
  }
  bool blob_exists(const std::string& key) { return fs::exists(*store->path_of(key)); }
  bool stored(const std::string& sop) {
    auto loc = index->find_instance(sop);
    return loc && loc->has_value();
  }
  // Every key an index row references has its blob (no dangling row).
  void expect_no_dangling_row() {
    const std::vector<std::string> pending = index->pending_deletions().value();
    const std::vector<std::string> referenced = index->referenced_blob_keys().value();
    for (const auto& key : referenced) {
      if (std::ranges::find(pending, key) == pending.end()) {
        EXPECT_TRUE(blob_exists(key)) << key;
      }
    }
  }
  std::vector<audit::Event> deletions() {
    std::vector<audit::Event> out;
    for (const auto& e : audit.events())
      if (e.type == audit::Type::deletion) out.push_back(e);
    return out;
  }
  services::DeleteRequest study(const std::string& uid, std::string reason = "duplicate scan") {
    return {{index::DeleteLevel::study, uid, {}}, std::move(reason), std::nullopt};
  }
};

std::string detail(const audit::Event& e, const std::string& key) {
  for (const auto& [k, v] : e.details)
    if (k == key) return v;
  return "<absent>";
}

} // namespace

TEST_F(Deletion, DeletingAStudyRemovesItsRowsAndBlobsAndAuditsOneStudyDeletedEvent) {
  auto ct = put(sample("CT_small.dcm"));
  auto ct2 = put(sample("CT_small.dcm", "-m \"(0008,0018)=1.2.826.0.1.3680043.2.1125.77.1\""));
  auto mr = put(sample("MR_small.dcm"));
  const std::string ct_key = key_of(ct.sop_instance_uid), ct2_key = key_of(ct2.sop_instance_uid);
  const std::string mr_key = key_of(mr.sop_instance_uid);
  auto r = deletion->remove(admin, study(ct.study_uid));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->blobs_removed, 2u);
  EXPECT_EQ(r->blobs_pending, 0u);
  EXPECT_FALSE(stored(ct.sop_instance_uid));
  EXPECT_FALSE(stored(ct2.sop_instance_uid));
  EXPECT_FALSE(blob_exists(ct_key));
  EXPECT_FALSE(blob_exists(ct2_key));
  EXPECT_TRUE(stored(mr.sop_instance_uid));
  EXPECT_TRUE(blob_exists(mr_key));
  EXPECT_TRUE(index->pending_deletions()->empty());
  auto events = deletions();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].outcome, audit::Outcome::success);
  EXPECT_EQ(events[0].actor, "alice");
  EXPECT_EQ(events[0].source, "127.0.0.9");
  EXPECT_EQ(events[0].patient_id, "1CT1");
  EXPECT_EQ(events[0].study_uid, ct.study_uid);
  EXPECT_EQ(events[0].reason, "duplicate scan");
  EXPECT_EQ(detail(events[0], "instances"), "2");
  EXPECT_EQ(detail(events[0], "whole_study"), "true");
  // Gone for every reader: a second delete finds nothing.
  auto again = deletion->remove(admin, study(ct.study_uid));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::not_found);
}

TEST_F(Deletion, OnlyAnAdminWithAReasonMayDeleteAndEveryRefusalIsAudited) {
  auto ct = put(sample("CT_small.dcm"));
  Principal clinician = admin;
  clinician.operations = {Operation::find, Operation::get};
  auto denied = deletion->remove(clinician, study(ct.study_uid));
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, Errc::permission_denied);
  auto no_reason = deletion->remove(admin, study(ct.study_uid, ""));
  ASSERT_FALSE(no_reason);
  EXPECT_EQ(no_reason.error().code, Errc::invalid_argument);
  EXPECT_TRUE(stored(ct.sop_instance_uid));
  auto events = deletions();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].outcome, audit::Outcome::denied);
  EXPECT_EQ(events[1].outcome, audit::Outcome::failure);
}

TEST_F(Deletion, AHeldStudyIsRefusedWithConflictUntilTheHoldIsLifted) {
  auto ct = put(sample("CT_small.dcm"));
  ASSERT_TRUE(deletion->set_hold(admin, ct.study_uid, true, "litigation 2026-17"));
  auto refused = deletion->remove(admin, study(ct.study_uid));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::conflict);
  EXPECT_NE(refused.error().message.find("legal hold"), std::string::npos);
  EXPECT_TRUE(stored(ct.sop_instance_uid));
  EXPECT_TRUE(blob_exists(key_of(ct.sop_instance_uid)));
  auto holds = deletion->holds(admin);
  ASSERT_TRUE(holds);
  ASSERT_EQ(holds->size(), 1u);
  EXPECT_EQ((*holds)[0].study_uid, ct.study_uid);
  ASSERT_TRUE(deletion->set_hold(admin, ct.study_uid, false, ""));
  EXPECT_TRUE(deletion->remove(admin, study(ct.study_uid)));
  bool hold_audited = false;
  for (const auto& e : audit.events())
    if (e.type == audit::Type::admin && detail(e, "action") == "hold.add" &&
        detail(e, "hold_reason") == "litigation 2026-17")
      hold_audited = true;
  EXPECT_TRUE(hold_audited);
}

TEST_F(Deletion, TheTypedPatientNameMustMatchTheStoredOneOrNothingIsDeleted) {
  auto ct = put(sample("CT_small.dcm"));
  auto req = study(ct.study_uid);
  req.confirm_patient_name = "CompressedSamples^MR1";
  auto wrong = deletion->remove(admin, req);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::invalid_argument);
  EXPECT_TRUE(stored(ct.sop_instance_uid));
  req.confirm_patient_name = "compressedsamples ct1";
  EXPECT_TRUE(deletion->remove(admin, req));
  EXPECT_FALSE(stored(ct.sop_instance_uid));
}

TEST(PatientNameMatch, ComparesPersonNameComponentsInOrderIgnoringCase) {
  EXPECT_TRUE(services::patient_name_matches("DOE^JOHN", "doe^john"));
  EXPECT_TRUE(services::patient_name_matches("DOE^JOHN^^^", "Doe John"));
  EXPECT_TRUE(services::patient_name_matches("DOE^JOHN=\xe5\xb1\xb1\xe7\x94\xb0", "DOE, JOHN"));
  EXPECT_FALSE(services::patient_name_matches("DOE^JOHN", "JOHN DOE"));
  EXPECT_FALSE(services::patient_name_matches("DOE^JOHN", "DOE"));
  EXPECT_FALSE(services::patient_name_matches("", ""));
}

TEST_F(Deletion, ACrashAfterTheIndexCommitIsFinishedByRecoveryAndNeverReindexed) {
  auto ct = put(sample("CT_small.dcm"));
  const std::string key = key_of(ct.sop_instance_uid);
  // The state a crash right after the index transaction leaves: rows gone,
  // key queued, blob still on disk.
  ASSERT_TRUE(index->delete_entities({index::DeleteLevel::study, ct.study_uid, {}}));
  restart();
  ASSERT_TRUE(blob_exists(key));
  // Even if the ingest recovery ran first, it must not bring the object back.
  ASSERT_TRUE(ingest->recover());
  EXPECT_FALSE(stored(ct.sop_instance_uid));
  auto finished = deletion->recover();
  ASSERT_TRUE(finished) << finished.error().message;
  EXPECT_EQ(*finished, 1u);
  EXPECT_FALSE(blob_exists(key));
  EXPECT_TRUE(index->pending_deletions()->empty());
  ASSERT_TRUE(ingest->recover());
  EXPECT_FALSE(stored(ct.sop_instance_uid));
}

TEST_F(Deletion, AFailingBlobRemovalStaysQueuedWithNoDanglingRowAndRecoveryFinishesIt) {
  auto ct = put(sample("CT_small.dcm"));
  auto ct2 = put(sample("CT_small.dcm", "-m \"(0008,0018)=1.2.826.0.1.3680043.2.1125.77.2\""));
  auto mr = put(sample("MR_small.dcm"));
  fsys.fail(Op::unlink, EIO, 1, /*skip=*/1);  // the second blob removal fails
  auto r = deletion->remove(admin, study(ct.study_uid));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->blobs_removed, 1u);
  EXPECT_EQ(r->blobs_pending, 1u);
  EXPECT_FALSE(stored(ct.sop_instance_uid));
  EXPECT_FALSE(stored(ct2.sop_instance_uid));
  EXPECT_TRUE(stored(mr.sop_instance_uid));
  expect_no_dangling_row();
  const std::vector<std::string> pending = index->pending_deletions().value();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_TRUE(blob_exists(pending[0]));
  fsys.heal();
  restart();
  ASSERT_TRUE(deletion->recover());
  EXPECT_FALSE(blob_exists(pending[0]));
  EXPECT_TRUE(index->pending_deletions()->empty());
  expect_no_dangling_row();
  EXPECT_EQ(store->list_keys()->size(), 1u);  // the MR only
}

TEST_F(Deletion, ABlobStillReferencedByAnotherRowIsKept) {
  auto ct = put(sample("CT_small.dcm"));
  const std::string key = key_of(ct.sop_instance_uid);
  // A held copy that shares the blob (content-addressed keys may be shared).
  InstanceRecord held;
  held.patient_id = "OTHER";
  held.patient_name = "OTHER^PATIENT";
  held.study_uid = ct.study_uid;
  held.series_uid = "1.2.826.0.1.3680043.2.1125.77.3";
  held.sop_class_uid = ct.sop_class_uid;
  held.sop_instance_uid = "1.2.826.0.1.3680043.2.1125.77.4";
  auto q = index->insert(held, index::BlobInfo{key, 100, key});
  ASSERT_TRUE(q);
  ASSERT_EQ(q->outcome, index::InsertOutcome::quarantined);
  services::DeleteRequest one{{index::DeleteLevel::instance, ct.sop_instance_uid, {}}, "wrong patient", std::nullopt};
  auto r = deletion->remove(admin, one);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->blobs_shared, 1u);
  EXPECT_TRUE(blob_exists(key));
  EXPECT_TRUE(index->pending_deletions()->empty());
}

TEST_F(Deletion, RetentionDeletesOnlyOldUnheldStudiesWithThePolicyAsReason) {
  auto old_ct = put(sample("CT_small.dcm"));  // StudyDate 20040119
  auto held = put(sample("CT_small.dcm",
                         "-m \"(0020,000D)=1.2.826.0.1.3680043.2.1125.77.10\" -m \"(0008,0018)=1.2.826.0.1.3680043.2.1125.77.11\" -m \"(0020,000E)=1.2.826.0.1.3680043.2.1125.77.12\""));
  ASSERT_EQ(held.kind, services::StoreResult::Kind::stored);
  auto recent = put(sample("MR_small.dcm", "-m \"(0008,0020)=20260101\""));
  auto hold = deletion->set_hold(admin, held.study_uid, true, "");
  ASSERT_TRUE(hold) << hold.error().message;
  services::RetentionService retention(*index, *deletion);
  const auto now = std::chrono::sys_days{std::chrono::year{2026} / 12 / 7};
  std::vector<services::RetentionPolicy> policies{{"ten-years", 10, "", ""}};
  auto dry = retention.run(admin, policies, now, /*dry_run=*/true);
  ASSERT_TRUE(dry) << dry.error().message;
  ASSERT_EQ(dry->size(), 1u);
  EXPECT_EQ((*dry)[0].study.study_uid, old_ct.study_uid);
  EXPECT_EQ((*dry)[0].study.study_date, "20040119");
  EXPECT_TRUE(stored(old_ct.sop_instance_uid));
  EXPECT_TRUE(deletions().empty());
  // A modality the study does not consist of matches nothing.
  EXPECT_TRUE(retention.run(admin, {{"mr", 10, "MR", ""}}, now, true)->empty());
  auto run = retention.run(admin, policies, now, /*dry_run=*/false);
  ASSERT_TRUE(run);
  ASSERT_EQ(run->size(), 1u);
  EXPECT_TRUE((*run)[0].deleted);
  EXPECT_FALSE(stored(old_ct.sop_instance_uid));
  EXPECT_TRUE(stored(held.sop_instance_uid));
  EXPECT_TRUE(stored(recent.sop_instance_uid));
  auto events = deletions();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, "retention policy ten-years");
}

TEST(RetentionCutoff, CountsWholeYearsBackAndMapsTheLeapDay) {
  using namespace std::chrono;
  auto [date, time] = services::retention_cutoff(sys_days{year{2024} / 2 / 29} + hours{13}, 1);
  EXPECT_EQ(date, "20230228");
  EXPECT_EQ(time.substr(0, 19), "2023-02-28T13:00:00");
  EXPECT_EQ(services::retention_cutoff(sys_days{year{2026} / 12 / 7}, 10).first, "20161207");
}
