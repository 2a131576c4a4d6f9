// Ingest, query and retrieve against the real SQLite index, filesystem store
// and DCMTK-based inspection, with pydicom's test files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <span>

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
  auto object = store->open((*loc)->blob_key);
  ASSERT_TRUE(object) << object.error().message;
  EXPECT_EQ((*object)->size(), (*loc)->size);
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
  auto object = store->open(loc.blob_key);
  ASSERT_TRUE(object) << object.error().message;
  char head[132];
  auto got = (*object)->read_at(0, std::as_writable_bytes(std::span<char>(head)));
  ASSERT_TRUE(got && *got == sizeof head);
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
  auto object = retrieve->open(items->front());
  ASSERT_TRUE(object) << object.error().message;
  EXPECT_EQ((*object)->size(), items->front().location.size);
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

namespace {

// Delegates to a real index and records what find() was asked.
class SpyIndex final : public index::Index {
public:
  explicit SpyIndex(index::Index& real) : real_(real) {}
  Result<index::InsertResult> insert(const InstanceRecord& r, const index::BlobInfo& b, bool force) override {
    return real_.insert(r, b, force);
  }
  Result<std::vector<ResultRow>> find(const QueryRequest& q, std::size_t limit, std::size_t offset) override {
    ++finds;
    last_limit = limit;
    last_offset = offset;
    return real_.find(q, limit, offset);
  }
  Result<std::vector<InstanceLocation>> locate(const QueryRequest& q, std::size_t limit) override {
    last_locate_limit = limit;
    return real_.locate(q, limit);
  }
  Result<std::optional<InstanceLocation>> find_instance(const std::string& uid) override {
    return real_.find_instance(uid);
  }
  Result<std::vector<index::QuarantineEntry>> list_quarantine() override { return real_.list_quarantine(); }
  Result<std::optional<index::QuarantineEntry>> get_quarantine(std::int64_t id) override {
    return real_.get_quarantine(id);
  }
  Status remove_quarantine(std::int64_t id) override { return real_.remove_quarantine(id); }
  Status set_study_labels(const std::string& s, const std::vector<std::string>& l) override {
    return real_.set_study_labels(s, l);
  }
  Result<std::vector<std::string>> study_labels(const std::string& s) override { return real_.study_labels(s); }
  Result<index::PatientDemographics> update_patient(const std::string& id, const std::string& issuer,
                                                    const index::PatientChange& c) override {
    return real_.update_patient(id, issuer, c);
  }
  Result<std::vector<std::string>> referenced_blob_keys() override { return real_.referenced_blob_keys(); }

  int finds = 0;
  std::size_t last_limit = 0, last_offset = 0, last_locate_limit = 0;

private:
  index::Index& real_;
};

std::string detail(const audit::Event& e, const std::string& key) {
  for (const auto& [k, v] : e.details)
    if (k == key) return v;
  return "<absent>";
}

} // namespace

// Issue 11 item 3: find_page used to ask the index for offset + limit + 1 rows
// and cut the page in memory (?offset=998999 built a million rows).
TEST_F(Archive, QueryPagesAskTheIndexForTheOffsetAndOnlyOnePageOfRows) {
  ASSERT_TRUE(put(sample("CT_small.dcm")));
  ASSERT_TRUE(put(sample("MR_small.dcm")));
  ASSERT_TRUE(put(sample("waveform_ecg.dcm")));
  SpyIndex spy(*index);
  services::QueryService paged(spy, audit, 2);
  QueryRequest q{QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, ""}}, std::nullopt};
  auto page = paged.find_page(modality, q, 2, 1);
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(spy.last_offset, 2u);
  EXPECT_EQ(spy.last_limit, 2u) << "one page plus one row to tell whether more exist";
  EXPECT_EQ(page->rows.size(), 1u);
  EXPECT_FALSE(page->truncated);
  auto first = paged.find_page(modality, q, 0, 1);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->rows.size(), 1u);
  EXPECT_TRUE(first->truncated);

  const int finds = spy.finds;
  auto deep = paged.find_page(modality, q, services::kMaxPageOffset + 1, 1);
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().code, Errc::invalid_argument);
  EXPECT_EQ(deep.error().http_status(), 400);
  EXPECT_NE(deep.error().message.find(std::to_string(services::kMaxPageOffset)), std::string::npos);
  EXPECT_EQ(spy.finds, finds) << "a refused offset never reaches the index";
  EXPECT_EQ(audit.events().back().outcome, audit::Outcome::failure);
  auto at_max = paged.find_page(modality, q, services::kMaxPageOffset, 1);
  ASSERT_TRUE(at_max);
  EXPECT_TRUE(at_max->rows.empty());
}

// Issue 11 item 2: demographics change only through this audited action.
TEST_F(Archive, PatientDemographicsChangeOnlyThroughTheAuditedAdminAction) {
  auto ct = put(sample("CT_small.dcm"));
  ASSERT_TRUE(ct);
  auto loc = index->find_instance(ct->sop_instance_uid);
  ASSERT_TRUE(loc && *loc);
  const std::string pid = (*loc)->patient_id;
  services::PatientService patients(*index, audit);
  services::PatientUpdate u;
  u.patient_id = pid;
  u.change.name = "CORRECTED^NAME";
  u.change.birth_date = "19800229";

  auto denied = patients.update(modality, u);  // store + find + get, no admin
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, Errc::permission_denied);
  EXPECT_EQ(audit.events().back().outcome, audit::Outcome::denied);

  Principal admin;
  admin.kind = Principal::Kind::user;
  admin.name = "root";
  admin.source = "127.0.0.1";
  admin.operations = {Operation::admin};
  for (auto bad : {std::string("19800230"), std::string("1980-01-01"), std::string("2024131")}) {
    services::PatientUpdate v = u;
    v.change.birth_date = bad;
    auto r = patients.update(admin, v);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << bad;
  }
  services::PatientUpdate odd = u;
  odd.change.name = "A\\B";
  EXPECT_FALSE(patients.update(admin, odd));
  odd.change.name = std::nullopt;
  odd.change.birth_date = std::nullopt;
  EXPECT_FALSE(patients.update(admin, odd)) << "nothing to change";
  services::PatientUpdate sex = u;
  sex.change.sex = "X";
  EXPECT_FALSE(patients.update(admin, sex));
  services::PatientUpdate nobody = u;
  nobody.patient_id = "NO-SUCH-PATIENT";
  auto missing = patients.update(admin, nobody);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);

  ASSERT_TRUE(patients.update(admin, u));
  const auto e = audit.events().back();
  EXPECT_EQ(e.type, audit::Type::admin);
  EXPECT_EQ(e.outcome, audit::Outcome::success);
  EXPECT_EQ(e.actor, "root");
  EXPECT_EQ(e.patient_id, pid);
  EXPECT_EQ(detail(e, "action"), "patient.update");
  EXPECT_EQ(detail(e, "PatientName.new"), "CORRECTED^NAME");
  EXPECT_NE(detail(e, "PatientName.old"), "<absent>");
  EXPECT_EQ(detail(e, "PatientBirthDate.new"), "19800229");
  EXPECT_EQ(detail(e, "PatientSex.new"), "<absent>") << "only the changed attributes are recorded";
  EXPECT_EQ(e.reason.find("CORRECTED"), std::string::npos) << "values stay in the details";

  modality.unlimited_find = true;
  QueryRequest q{QueryModel::study_root, Level::study, {{tags::PatientName, ""}, {tags::PatientBirthDate, ""}},
                 std::nullopt};
  auto rows = query->find(modality, q);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0][0].value, "CORRECTED^NAME");
  EXPECT_EQ((*rows)[0][1].value, "19800229");
}

// Issue 11 item 3: a retrieve names entities by their unique keys (PS3.4
// C.4.2.2.1); `QueryRetrieveLevel=STUDY` alone used to send the whole archive.
TEST_F(Archive, RetrieveRefusesAnIdentifierWithoutTheUniqueKeyOfItsLevel) {
  auto ct = put(sample("CT_small.dcm"));
  ASSERT_TRUE(ct);
  auto loc = index->find_instance(ct->sop_instance_uid);
  ASSERT_TRUE(loc && *loc);
  const std::string study = ct->study_uid, series = (*loc)->series_uid;
  auto refused = [&](Level level, AttrList keys) {
    QueryRequest q{QueryModel::study_root, level, std::move(keys), std::nullopt};
    auto items = retrieve->locate(modality, q, audit::Type::retrieve);
    if (items) return ::testing::AssertionFailure() << items->size() << " instance(s) located";
    if (items.error().code != Errc::invalid_argument || items.error().dimse_status() != 0xA900)
      return ::testing::AssertionFailure() << "refused with " << items.error().message;
    if (audit.events().back().outcome != audit::Outcome::failure) return ::testing::AssertionFailure() << "not audited";
    return ::testing::AssertionSuccess();
  };
  EXPECT_TRUE(refused(Level::study, {}));
  EXPECT_TRUE(refused(Level::study, {{tags::StudyInstanceUID, ""}}));
  EXPECT_TRUE(refused(Level::study, {{tags::PatientName, "*"}}));
  EXPECT_TRUE(refused(Level::study, {{tags::StudyInstanceUID, "*"}}));
  EXPECT_TRUE(refused(Level::study, {{tags::StudyInstanceUID, study.substr(0, 5) + "*"}}));
  EXPECT_TRUE(refused(Level::series, {{tags::StudyInstanceUID, study}}));
  EXPECT_TRUE(refused(Level::series, {{tags::StudyInstanceUID, study + "\\1.2.3"}, {tags::SeriesInstanceUID, series}}));
  EXPECT_TRUE(refused(Level::image, {{tags::StudyInstanceUID, study}, {tags::SeriesInstanceUID, series}}));
  QueryRequest patient{QueryModel::patient_root, Level::patient, {{tags::PatientName, "*"}}, std::nullopt};
  EXPECT_FALSE(retrieve->locate(modality, patient, audit::Type::retrieve));

  auto ok = [&](QueryModel model, Level level, AttrList keys) {
    QueryRequest q{model, level, std::move(keys), std::nullopt};
    auto items = retrieve->locate(modality, q, audit::Type::retrieve);
    return items && items->size() == 1;
  };
  EXPECT_TRUE(ok(QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, study}}));
  EXPECT_TRUE(ok(QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, study + "\\1.2.3.4"}}));
  EXPECT_TRUE(ok(QueryModel::study_root, Level::series, {{tags::StudyInstanceUID, study}, {tags::SeriesInstanceUID, series}}));
  EXPECT_TRUE(ok(QueryModel::study_root, Level::image, {{tags::SOPInstanceUID, ct->sop_instance_uid}}))
      << "relational retrieve: the keys above the level may be omitted";
  EXPECT_TRUE(ok(QueryModel::patient_root, Level::patient, {{tags::PatientID, (*loc)->patient_id}}));
}

TEST_F(Archive, RetrieveRefusesMoreInstancesThanTheCapWithoutUnlimitedRetrieve) {
  auto ct = put(sample("CT_small.dcm"));
  auto mr = put(sample("MR_small.dcm"));
  ASSERT_TRUE(ct && mr);
  services::RetrieveService capped(*index, *store, audit, 1);
  modality.operations.insert(Operation::move);
  QueryRequest both{QueryModel::study_root, Level::study,
                    {{tags::StudyInstanceUID, ct->study_uid + "\\" + mr->study_uid}}, std::nullopt};
  auto items = capped.locate(modality, both, audit::Type::move, "DEST");
  ASSERT_FALSE(items);
  EXPECT_EQ(items.error().code, Errc::resource_exhausted);
  const auto e = audit.events().back();
  EXPECT_EQ(e.type, audit::Type::move);
  EXPECT_EQ(e.outcome, audit::Outcome::failure);
  EXPECT_EQ(e.reason, "retrieve cap exceeded");
  QueryRequest one{QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, ct->study_uid}}, std::nullopt};
  EXPECT_TRUE(capped.locate(modality, one, audit::Type::retrieve)) << "at the cap is allowed";
  modality.unlimited_find = true;
  EXPECT_FALSE(capped.locate(modality, both, audit::Type::retrieve)) << "unlimited_find is not unlimited_retrieve";
  modality.unlimited_retrieve = true;
  items = capped.locate(modality, both, audit::Type::retrieve);
  ASSERT_TRUE(items) << items.error().message;
  EXPECT_EQ(items->size(), 2u);
}

// Issue 11 item 3: storage commitment confirmed any stored SOP Instance UID.
TEST_F(Archive, CommitmentConfirmsOnlyInstancesInsideTheRequestersScope) {
  auto ct = put(sample("CT_small.dcm"));  // InstitutionName "JFK IMAGING CENTER"
  auto mr = put(sample("MR_small.dcm"));  // InstitutionName "TOSHIBA"
  ASSERT_TRUE(ct && mr);
  services::CommitmentService commitment(*index, audit);
  Principal scoped = modality;
  scoped.operations = {Operation::store, Operation::commit};
  scoped.scope = Scope{{"TOSHIBA"}, {}, {}};
  const std::vector<services::CommitmentItem> asked{{ct->sop_class_uid, ct->sop_instance_uid},
                                                    {mr->sop_class_uid, mr->sop_instance_uid},
                                                    {ct->sop_class_uid, "1.2.3.4.5.6.7.8.9.99"}};
  auto r = commitment.check(scoped, asked);
  ASSERT_EQ(r.success.size(), 1u);
  EXPECT_EQ(r.success[0].sop_instance_uid, mr->sop_instance_uid);
  ASSERT_EQ(r.failed.size(), 2u) << "out of scope is answered like missing";
  EXPECT_EQ(r.failed[0].sop_instance_uid, ct->sop_instance_uid);
  scoped.scope.reset();
  EXPECT_EQ(commitment.check(scoped, asked).success.size(), 2u);
}

// Issue 11 item 3: a scoped principal's store into a study outside its scope
// used to answer stored / duplicate / held / conflict, telling whether the
// study and instance exist and whether the demographics match.
TEST_F(Archive, StoreIntoAStudyOutsideTheScopeIsRefusedAlikeInEveryCase) {
  auto ct = put(sample("CT_small.dcm"));  // by the unscoped modality; InstitutionName "JFK IMAGING CENTER"
  ASSERT_TRUE(ct);
  modality.scope = Scope{{"TOSHIBA"}, {}, {}};
  std::vector<Result<services::StoreResult>> attempts;
  attempts.push_back(put(sample("CT_small.dcm")));  // identical duplicate
  attempts.push_back(put(sample("CT_small.dcm", "-m \"(0008,0018)=1.2.3.4.5.6.7.8.11\"")));  // same study, same patient
  attempts.push_back(put(sample("CT_small.dcm", "-m \"(0008,0018)=1.2.3.4.5.6.7.8.12\" -m \"(0010,0010)=Other^Patient\"")));
  attempts.push_back(put(sample("CT_small.dcm", "-i \"(0008,103E)=tampered\"")));  // same UID, other content
  // Its own study, but the SOP Instance UID of the out-of-scope instance.
  attempts.push_back(put(sample("CT_small.dcm", "-m \"(0020,000D)=1.2.3.4.5.6.7.8.13\" -m \"(0008,0080)=TOSHIBA\"")));
  // A new study of another institution.
  attempts.push_back(put(sample("CT_small.dcm", "-m \"(0020,000D)=1.2.3.4.5.6.7.8.14\" -m \"(0008,0018)=1.2.3.4.5.6.7.8.15\"")));
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    ASSERT_FALSE(attempts[i]) << "attempt " << i << " was accepted";
    EXPECT_EQ(attempts[i].error().code, Errc::permission_denied) << i;
    EXPECT_EQ(attempts[i].error().message, attempts[0].error().message) << i;
  }
  auto list = index->list_quarantine();
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty()) << "nothing reached the index";
  EXPECT_EQ(temp_files(), 0u);
  // A new study of its own institution is stored, and so are later instances of it.
  auto mine = put(sample("MR_small.dcm"));
  ASSERT_TRUE(mine) << mine.error().message;
  EXPECT_EQ(mine->kind, services::StoreResult::Kind::stored);
  auto more = put(sample("MR_small.dcm", "-m \"(0008,0018)=1.2.3.4.5.6.7.8.16\""));
  ASSERT_TRUE(more) << more.error().message;
}

TEST_F(Archive, QueryAuditNamesThePatientsOfItsResultsWithoutAddingThemToTheRows) {
  auto ct = put(sample("CT_small.dcm"));
  auto mr = put(sample("MR_small.dcm"));
  ASSERT_TRUE(ct && mr);
  modality.unlimited_find = true;
  QueryRequest q{QueryModel::study_root, Level::study, {{tags::StudyInstanceUID, ""}}, std::nullopt};
  auto rows = query->find(modality, q);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 2u);
  for (const auto& row : *rows) EXPECT_EQ(row.size(), 1u);  // only what was asked
  auto e = audit.events().back();
  std::map<std::string, std::string> details(e.details.begin(), e.details.end());
  EXPECT_EQ(details["result_patient_count"], "2");
  const std::string& listed = details["result_patients"];
  EXPECT_NE(listed.find("1CT1"), std::string::npos) << listed;  // CT_small.dcm's PatientID
  EXPECT_NE(listed.find("4MR1"), std::string::npos) << listed;  // MR_small.dcm's
  EXPECT_NE(listed.find('\\'), std::string::npos) << listed;

  auto page = query->find_page(modality, q, 1, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->rows.size(), 1u);
  EXPECT_EQ(page->rows.front().size(), 1u);
  const auto last = audit.events().back();
  std::map<std::string, std::string> paged(last.details.begin(), last.details.end());
  EXPECT_EQ(paged["result_patient_count"], "1");
}
