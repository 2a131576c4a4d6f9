// Ingest, query and retrieve against the real SQLite index, filesystem store
// and DCMTK-based inspection, with pydicom's test files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>

#include "services/services.h"

using namespace tresor;
namespace fs = std::filesystem;

namespace {

const fs::path kFiles = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

struct Archive : ::testing::Test {
  fs::path dir;
  std::unique_ptr<store::BlobStore> store;
  std::unique_ptr<index::SqliteIndex> index;
  audit::MemorySink audit;
  std::unique_ptr<services::IngestService> ingest;
  std::unique_ptr<services::QueryService> query;
  std::unique_ptr<services::RetrieveService> retrieve;
  Principal modality;

  void SetUp() override {
    dicom::init_globals();
    dir = fs::temp_directory_path() /
          ("tresor-services-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
    store = std::move(*store::open_fs_store(dir / "store"));
    index = std::move(*index::open_sqlite(dir / "index.db"));
    ingest = std::make_unique<services::IngestService>(*store, *index, audit, dicom::Limits{});
    query = std::make_unique<services::QueryService>(*index, audit, 2);
    retrieve = std::make_unique<services::RetrieveService>(*index, *store, audit);
    modality.kind = Principal::Kind::peer;
    modality.name = "CT1";
    modality.source = "127.0.0.1";
    modality.operations = {Operation::store, Operation::find, Operation::get};
  }
  void TearDown() override { fs::remove_all(dir); }

  // A copy of a pydicom file, optionally changed with dcmodify.
  fs::path sample(const std::string& name, const std::string& modify = {}) {
    static int n = 0;
    fs::path out = dir / ("in-" + std::to_string(n++) + ".dcm");
    fs::copy_file(kFiles / name, out);
    if (!modify.empty()) {
      std::string cmd = "dcmodify -nb " + modify + " " + out.string() + " >/dev/null 2>&1";
      EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    return out;
  }
  Result<services::StoreResult> put(const fs::path& file) {
    return ingest->ingest_file(services::StoreContext{modality, {}, {}, {}}, file);
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
};

} // namespace

TEST_F(Archive, StoresAValidInstanceDurablyAndIndexesIt) {
  auto r = put(sample("CT_small.dcm"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kind, services::StoreResult::Kind::stored);
  auto loc = index->find_instance(r->sop_instance_uid);
  ASSERT_TRUE(loc && *loc);
  auto path = store->path_of((*loc)->blob_key);
  ASSERT_TRUE(path);
  EXPECT_TRUE(fs::exists(*path));
  EXPECT_EQ(temp_files(), 0u);
  ASSERT_FALSE(audit.events().empty());
  EXPECT_EQ(audit.events().back().type, audit::Type::store);
  EXPECT_EQ(audit.events().back().outcome, audit::Outcome::success);
}

TEST_F(Archive, ZeroesThePreambleOfStoredFiles) {
  auto in = sample("CT_small.dcm");
  {
    std::fstream f(in, std::ios::in | std::ios::out | std::ios::binary);
    f.write("MZ-executable-polyglot", 22);
  }
  auto r = put(in);
  ASSERT_TRUE(r) << r.error().message;
  auto loc = **index->find_instance(r->sop_instance_uid);
  std::ifstream f(*store->path_of(loc.blob_key), std::ios::binary);
  char head[132];
  f.read(head, sizeof head);
  EXPECT_EQ(std::string(head, 128), std::string(128, '\0'));
  EXPECT_EQ(std::string(head + 128, 4), "DICM");
}

TEST_F(Archive, AcceptsAByteIdenticalResendWithoutASecondCopy) {
  ASSERT_TRUE(put(sample("CT_small.dcm")));
  auto again = put(sample("CT_small.dcm"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->kind, services::StoreResult::Kind::duplicate);
  EXPECT_EQ(store->list_keys()->size(), 1u);
}

TEST_F(Archive, RefusesADifferentObjectUnderAnExistingSopInstanceUid) {
  auto first = put(sample("CT_small.dcm"));
  ASSERT_TRUE(first);
  auto original = **index->find_instance(first->sop_instance_uid);
  auto other = put(sample("CT_small.dcm", "-i \"(0008,103E)=tampered\""));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Errc::conflict);
  EXPECT_EQ((**index->find_instance(first->sop_instance_uid)).blob_key, original.blob_key);
  EXPECT_EQ(store->list_keys()->size(), 1u);
  EXPECT_EQ(temp_files(), 0u);
}

TEST_F(Archive, HoldsAnInstanceWithConflictingDemographicsInQuarantine) {
  ASSERT_TRUE(put(sample("CT_small.dcm")));
  auto r = put(sample("CT_small.dcm", "-m \"(0010,0010)=Other^Patient\" -m \"(0008,0018)=1.2.3.4.5.6.7.8.9\""));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kind, services::StoreResult::Kind::quarantined);
  EXPECT_EQ(image_matches(), 1u);
  auto held = index->list_quarantine();
  ASSERT_TRUE(held);
  ASSERT_EQ(held->size(), 1u);
  EXPECT_EQ(audit.events().back().type, audit::Type::quarantine);

  Principal admin;
  admin.name = "admin";
  ASSERT_TRUE(ingest->release(admin, held->front().id));
  EXPECT_EQ(image_matches(), 2u);
  EXPECT_TRUE(index->list_quarantine()->empty());
}

TEST_F(Archive, DropsAQuarantinedInstanceAndItsBlob) {
  ASSERT_TRUE(put(sample("CT_small.dcm")));
  ASSERT_TRUE(put(sample("CT_small.dcm", "-m \"(0010,0030)=19000101\" -m \"(0008,0018)=1.2.3.4.5.6.7.8.10\"")));
  auto held = *index->list_quarantine();
  ASSERT_EQ(held.size(), 1u);
  ASSERT_TRUE(ingest->drop(Principal{}, held.front().id));
  EXPECT_TRUE(index->list_quarantine()->empty());
  EXPECT_EQ(store->list_keys()->size(), 1u);
}

TEST_F(Archive, RefusesATruncatedObjectAndLeavesNothingBehind) {
  auto r = put(sample("MR_truncated.dcm"));
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error().message.empty());
  EXPECT_EQ(temp_files(), 0u);
  EXPECT_TRUE(store->list_keys()->empty());
  EXPECT_EQ(audit.events().back().outcome, audit::Outcome::failure);
}

TEST_F(Archive, RecoveryReindexesABlobWhoseIndexRowWasLost) {
  auto temp = *store->create_temp();
  fs::copy_file(kFiles / "CT_small.dcm", temp.path, fs::copy_options::overwrite_existing);
  auto inspected = dicom::inspect_file(temp.path, {});
  ASSERT_TRUE(inspected);
  auto key = *store::sha256_file(temp.path, inspected->dataset_offset);
  ASSERT_TRUE(store->commit(temp, key));
  auto leftover = *store->create_temp();
  EXPECT_EQ(image_matches(), 0u);
  auto n = ingest->recover();
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(image_matches(), 1u);
  EXPECT_FALSE(fs::exists(leftover.path));
}

TEST_F(Archive, RecoveryRemovesAnUnreferencedBlobWhoseContentDoesNotMatchItsKey) {
  auto temp = *store->create_temp();
  fs::copy_file(kFiles / "CT_small.dcm", temp.path, fs::copy_options::overwrite_existing);
  const std::string wrong_key(64, 'b');
  ASSERT_TRUE(store->commit(temp, wrong_key));
  auto n = ingest->recover();
  ASSERT_TRUE(n);
  EXPECT_EQ(image_matches(), 0u);
  EXPECT_TRUE(store->list_keys()->empty());
}

TEST_F(Archive, QueryRefusesMoreMatchesThanTheCap) {
  ASSERT_TRUE(put(sample("CT_small.dcm")));
  ASSERT_TRUE(put(sample("MR_small.dcm")));
  ASSERT_TRUE(put(sample("waveform_ecg.dcm")));
  QueryRequest q{QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, ""}}, std::nullopt};
  auto rows = query->find(modality, q);
  ASSERT_FALSE(rows);
  EXPECT_EQ(rows.error().code, Errc::resource_exhausted);
  EXPECT_EQ(rows.error().dimse_status(), 0xA700);
  modality.unlimited_find = true;
  rows = query->find(modality, q);
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->size(), 3u);
}

TEST_F(Archive, QueryIsDeniedAndAuditedWithoutTheFindPermission) {
  modality.operations = {Operation::store};
  QueryRequest q{QueryModel::study_root, Level::study, {{tags::PatientID, "X"}}, std::nullopt};
  auto rows = query->find(modality, q);
  ASSERT_FALSE(rows);
  EXPECT_EQ(rows.error().code, Errc::permission_denied);
  auto e = audit.events().back();
  EXPECT_EQ(e.type, audit::Type::query);
  EXPECT_EQ(e.outcome, audit::Outcome::denied);
  EXPECT_EQ(e.patient_id, "X");
}

TEST_F(Archive, RetrieveListsTheStoredFilesOfAStudy) {
  auto r = put(sample("CT_small.dcm"));
  ASSERT_TRUE(r);
  QueryRequest q{QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, r->study_uid}}, std::nullopt};
  auto items = retrieve->locate(modality, q, audit::Type::retrieve);
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 1u);
  EXPECT_TRUE(fs::exists(items->front().file));
  EXPECT_EQ(items->front().location.sop_instance_uid, r->sop_instance_uid);
  EXPECT_EQ(audit.events().back().type, audit::Type::retrieve);
}

TEST_F(Archive, QueryPagesAreCutAtTheCapAndSayWhenMoreExist) {
  ASSERT_TRUE(put(sample("CT_small.dcm")));
  ASSERT_TRUE(put(sample("MR_small.dcm")));
  ASSERT_TRUE(put(sample("waveform_ecg.dcm")));
  QueryRequest q{QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, ""}}, std::nullopt};
  auto first = query->find_page(modality, q, 0, 0);  // limit 0 = the cap (2)
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->rows.size(), 2u);
  EXPECT_TRUE(first->truncated);
  auto last = query->find_page(modality, q, 2, 10);
  ASSERT_TRUE(last);
  ASSERT_EQ(last->rows.size(), 1u);
  EXPECT_FALSE(last->truncated);
  std::set<std::string> seen;
  for (const auto& rows : {first->rows, last->rows})
    for (const auto& row : rows) seen.insert(row.front().value);
  EXPECT_EQ(seen.size(), 3u);
}

TEST_F(Archive, QueryAndRetrieveApplyThePrincipalsScopeNotTheRequests) {
  auto ct = put(sample("CT_small.dcm"));  // InstitutionName "JFK IMAGING CENTER"
  auto mr = put(sample("MR_small.dcm"));  // InstitutionName "TOSHIBA"
  ASSERT_TRUE(ct && mr);
  modality.unlimited_find = true;
  modality.scope = Scope{{"TOSHIBA"}, {}, {}};
  QueryRequest q{QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, ""}}, std::nullopt};
  q.scope = Scope{};  // a front end cannot widen (or set) the scope
  auto rows = query->find(modality, q);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().front().value, mr->study_uid);
  QueryRequest get{QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, ct->study_uid}}, std::nullopt};
  auto items = retrieve->locate(modality, get, audit::Type::retrieve);
  ASSERT_TRUE(items);
  EXPECT_TRUE(items->empty());
}

TEST_F(Archive, IngestRefusesAnInstanceOfAnotherStudyThanExpected) {
  auto r = ingest->ingest_file(services::StoreContext{modality, {}, {}, "1.2.3.4"}, sample("CT_small.dcm"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(image_matches(), 0u);
  EXPECT_EQ(temp_files(), 0u);
}
