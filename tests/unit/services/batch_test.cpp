// IngestService::ingest_batch (STOW-RS requests of several parts) against
// the real SQLite index, filesystem store and DCMTK-based inspection.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "services/services.h"
#include "ingest_fixture.h"

using namespace tresor;
namespace fs = std::filesystem;

namespace {

const fs::path kFiles = test::kPydicomFiles;
using Kind = services::StoreResult::Kind;

struct BatchIngest : test::IngestFixture {
  void SetUp() override {
    open("batch");
    ctx.principal.kind = Principal::Kind::user;
    ctx.principal.name = "stow-user";
    ctx.principal.source = "127.0.0.1";
  }
  // A received part: the file's bytes in a store temp blob.
  store::TempBlob part(const fs::path& file) {
    auto t = ingest->begin();
    EXPECT_TRUE(t);
    fs::copy_file(file, t->path, fs::copy_options::overwrite_existing);
    return *t;
  }
  store::TempBlob text_part(const std::string& text) {
    auto t = ingest->begin();
    EXPECT_TRUE(t);
    std::ofstream(t->path, std::ios::binary | std::ios::trunc) << text;
    return *t;
  }
  std::size_t temp_files() {
    std::size_t n = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator(dir / "store" / "tmp")) ++n;
    return n;
  }
  std::size_t image_matches() {
    QueryRequest q{QueryModel::study_root, Level::image, {{tags::SOPInstanceUID, ""}}, std::nullopt};
    return index->find(q, 100)->size();
  }
  std::size_t store_events() {
    std::size_t n = 0;
    for (const auto& e : audit.events())
      if (e.type == audit::Type::store || e.type == audit::Type::quarantine) ++n;
    return n;
  }
};

} // namespace

TEST_F(BatchIngest, AnswersEachPartOfAMixedBatchInOrder) {
  auto results = ingest->ingest_batch(ctx, {part(sample("CT_small.dcm")), part(sample("MR_truncated.dcm")),
                                            part(sample("MR_small.dcm")), text_part("not DICOM at all"),
                                            part(sample("waveform_ecg.dcm"))});
  ASSERT_EQ(results.size(), 5u);
  ASSERT_TRUE(results[0]) << results[0].error().message;
  EXPECT_EQ(results[0]->kind, Kind::stored);
  EXPECT_FALSE(results[1]);
  ASSERT_TRUE(results[2]) << results[2].error().message;
  EXPECT_EQ(results[2]->kind, Kind::stored);
  EXPECT_FALSE(results[3]);
  ASSERT_TRUE(results[4]) << results[4].error().message;
  EXPECT_NE(results[0]->sop_instance_uid, results[2]->sop_instance_uid);

  EXPECT_EQ(image_matches(), 3u);
  EXPECT_EQ(store->list_keys()->size(), 3u);
  EXPECT_EQ(temp_files(), 0u);
  for (const auto* r : {&results[0], &results[2], &results[4]}) {
    auto loc = index->find_instance((*r)->sop_instance_uid);
    ASSERT_TRUE(loc && *loc);
    EXPECT_TRUE(store->open((*loc)->blob_key));
  }
  // One audit event per part, with the part's outcome.
  ASSERT_EQ(store_events(), 5u);
  std::size_t ok = 0, failed = 0;
  for (const auto& e : audit.events()) {
    EXPECT_EQ(e.actor, "stow-user");
    (e.outcome == audit::Outcome::success ? ok : failed)++;
  }
  EXPECT_EQ(ok, 3u);
  EXPECT_EQ(failed, 2u);
}

TEST_F(BatchIngest, StoresIdenticalPartsOnceAndReportsTheRepeatAsADuplicate) {
  ASSERT_TRUE(ingest->ingest_file(ctx, sample("MR_small.dcm")));
  auto results = ingest->ingest_batch(
      ctx, {part(sample("CT_small.dcm")), part(sample("CT_small.dcm")), part(sample("MR_small.dcm"))});
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0] && results[1] && results[2]);
  EXPECT_EQ(results[0]->kind, Kind::stored);
  EXPECT_EQ(results[1]->kind, Kind::duplicate);
  EXPECT_EQ(results[2]->kind, Kind::duplicate);
  EXPECT_EQ(image_matches(), 2u);
  EXPECT_EQ(store->list_keys()->size(), 2u);
  EXPECT_EQ(temp_files(), 0u);
  EXPECT_EQ(store_events(), 4u);
}

TEST_F(BatchIngest, RefusesAConflictingPartAndRemovesOnlyItsBlob) {
  auto first = ingest->ingest_file(ctx, sample("CT_small.dcm"));
  ASSERT_TRUE(first);
  const auto original = (**index->find_instance(first->sop_instance_uid)).blob_key;
  // Two other objects under the CT's SOP Instance UID, one new instance.
  auto results = ingest->ingest_batch(ctx, {part(sample("CT_small.dcm", "-i \"(0008,103E)=tampered\"")),
                                            part(sample("MR_small.dcm")),
                                            part(sample("CT_small.dcm", "-i \"(0008,103E)=other\""))});
  ASSERT_EQ(results.size(), 3u);
  ASSERT_FALSE(results[0]);
  EXPECT_EQ(results[0].error().code, Errc::conflict);
  ASSERT_TRUE(results[1]) << results[1].error().message;
  EXPECT_EQ(results[1]->kind, Kind::stored);
  ASSERT_FALSE(results[2]);
  EXPECT_EQ(results[2].error().code, Errc::conflict);
  EXPECT_EQ((**index->find_instance(first->sop_instance_uid)).blob_key, original);
  EXPECT_EQ(store->list_keys()->size(), 2u);  // the first CT and the MR
  EXPECT_EQ(temp_files(), 0u);
  EXPECT_EQ(audit.events().back().outcome, audit::Outcome::failure);
}

TEST_F(BatchIngest, RefusesTheSecondOfTwoDifferentPartsWithTheSameSopInstanceUid) {
  auto results = ingest->ingest_batch(ctx, {part(sample("CT_small.dcm")),
                                            part(sample("CT_small.dcm", "-i \"(0008,103E)=tampered\"")),
                                            part(sample("MR_small.dcm"))});
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0]);
  ASSERT_FALSE(results[1]);
  EXPECT_EQ(results[1].error().code, Errc::conflict);
  ASSERT_TRUE(results[2]);
  auto kept = **index->find_instance(results[0]->sop_instance_uid);
  EXPECT_TRUE(store->open(kept.blob_key));
  EXPECT_EQ(store->list_keys()->size(), 2u);
}

TEST_F(BatchIngest, HoldsAPartWithConflictingDemographicsInQuarantine) {
  auto results = ingest->ingest_batch(
      ctx, {part(sample("CT_small.dcm")),
            part(sample("CT_small.dcm", "-m \"(0010,0010)=Other^Patient\" -m \"(0008,0018)=1.2.3.4.5.6.7.8.9\"")),
            part(sample("MR_small.dcm"))});
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0] && results[1] && results[2]);
  EXPECT_EQ(results[0]->kind, Kind::stored);
  EXPECT_EQ(results[1]->kind, Kind::quarantined);
  EXPECT_EQ(results[2]->kind, Kind::stored);
  EXPECT_EQ(image_matches(), 2u);
  auto held = index->list_quarantine();
  ASSERT_TRUE(held);
  ASSERT_EQ(held->size(), 1u);
  EXPECT_TRUE(store->open(held->front().blob.key));  // the held blob is kept
  EXPECT_EQ(store->list_keys()->size(), 3u);
  std::size_t quarantine_events = 0;
  for (const auto& e : audit.events())
    if (e.type == audit::Type::quarantine) ++quarantine_events;
  EXPECT_EQ(quarantine_events, 1u);
}

TEST_F(BatchIngest, RefusesPartsOfAnotherStudyThanTheRequestNames) {
  auto ct = ingest->ingest_batch(ctx, {part(sample("CT_small.dcm")), part(sample("CT_small.dcm"))});
  ASSERT_TRUE(ct[0]);
  ctx.expected_study = ct[0]->study_uid;
  auto results = ingest->ingest_batch(ctx, {part(sample("MR_small.dcm")), part(sample("CT_small.dcm")),
                                            part(sample("waveform_ecg.dcm"))});
  ASSERT_EQ(results.size(), 3u);
  ASSERT_FALSE(results[0]);
  EXPECT_EQ(results[0].error().code, Errc::invalid_argument);
  ASSERT_TRUE(results[1]);
  EXPECT_EQ(results[1]->kind, Kind::duplicate);
  ASSERT_FALSE(results[2]);
  EXPECT_EQ(image_matches(), 1u);
  EXPECT_EQ(store->list_keys()->size(), 1u);
  EXPECT_EQ(temp_files(), 0u);
}

TEST_F(BatchIngest, ConsumesEveryTempWhenNoPartIsValid) {
  auto results = ingest->ingest_batch(
      ctx, {text_part("junk"), part(sample("MR_truncated.dcm")), text_part(std::string(300, '\0'))});
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) EXPECT_FALSE(r);
  EXPECT_EQ(temp_files(), 0u);
  EXPECT_TRUE(store->list_keys()->empty());
  EXPECT_EQ(store_events(), 3u);
  for (const auto& e : audit.events()) EXPECT_EQ(e.outcome, audit::Outcome::failure);
}

TEST_F(BatchIngest, AcceptsAnEmptyBatch) {
  EXPECT_TRUE(ingest->ingest_batch(ctx, {}).empty());
  EXPECT_TRUE(audit.events().empty());
}

TEST_F(BatchIngest, LeavesBlobsThatRecoveryFindsReferenced) {
  auto results = ingest->ingest_batch(ctx, {part(sample("CT_small.dcm")), part(sample("MR_small.dcm")),
                                            part(sample("waveform_ecg.dcm"))});
  for (const auto& r : results) ASSERT_TRUE(r);
  auto recovered = ingest->recover();
  ASSERT_TRUE(recovered);
  EXPECT_EQ(*recovered, 0u);
  EXPECT_EQ(image_matches(), 3u);
}
