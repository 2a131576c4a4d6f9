// Ingest under faults, against the real SQLite index, filesystem store and
// DCMTK inspection: a full disk, a failing fsync / syncfs / link (injected
// through the store's FileSystem seam) and a busy index (a second SQLite
// connection holding the write lock). Each failure answers with a failure
// status, leaves nothing half-stored (no blob, no temp file, no index row),
// is audited, and the next ingest succeeds.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "../store/faulty_file_system.h"
#include "services/services.h"

using namespace tresor;
namespace fs = std::filesystem;
using Op = fault::FaultyFileSystem::Op;
using Kind = services::StoreResult::Kind;
using namespace std::chrono_literals;

namespace {

const fs::path kFiles = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
constexpr auto kBusyTimeout = 300ms;  // the index's bound on waiting for a lock (config: index_busy_timeout_ms)

// A second connection to the index database, as another process (a second
// `tresor import`, a backup tool) would open it.
class OtherConnection {
public:
  explicit OtherConnection(const fs::path& file) {
    EXPECT_EQ(sqlite3_open(file.c_str(), &db_), SQLITE_OK);
  }
  ~OtherConnection() { sqlite3_close(db_); }
  OtherConnection(const OtherConnection&) = delete;
  OtherConnection& operator=(const OtherConnection&) = delete;
  bool exec(const char* sql) { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK; }

private:
  sqlite3* db_ = nullptr;
};

struct IngestFaults : ::testing::Test {
  fs::path dir;
  fault::FaultyFileSystem fsys;
  std::unique_ptr<store::BlobStore> store;
  std::unique_ptr<index::SqliteIndex> index;
  audit::MemorySink audit;
  std::unique_ptr<services::IngestService> ingest;
  services::StoreContext ctx;

  void SetUp() override {
    dicom::init_globals();
    dir = fs::temp_directory_path() / ("tresor-ingest-faults-" + std::to_string(::getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
    store = std::move(*store::open_fs_store(dir / "store", fsys));
    index = std::move(*index::open_sqlite(dir / "index.db", kBusyTimeout));
    ingest = std::make_unique<services::IngestService>(*store, *index, audit, dicom::Limits{});
    ctx.principal.kind = Principal::Kind::peer;
    ctx.principal.name = "CT1";
    ctx.principal.source = "127.0.0.1";
  }
  void TearDown() override {
    ingest.reset();
    index.reset();
    store.reset();
    fs::remove_all(dir);
  }

  fs::path sample(const std::string& name) {
    static int n = 0;
    fs::path out = dir / ("in-" + std::to_string(n++) + ".dcm");
    fs::copy_file(kFiles / name, out);
    return out;
  }
  // A received object, as the C-STORE receiver leaves it: a filled temp blob.
  store::TempBlob received(const std::string& name) {
    auto t = ingest->begin();
    EXPECT_TRUE(t);
    fs::copy_file(kFiles / name, t->path, fs::copy_options::overwrite_existing);
    return *t;
  }
  std::size_t temp_files() {
    std::size_t n = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator(dir / "store" / "tmp")) ++n;
    return n;
  }
  std::size_t blobs() { return store->list_keys().value().size(); }
  std::size_t rows() {
    QueryRequest q{QueryModel::study_root, Level::image, {{tags::SOPInstanceUID, ""}}, std::nullopt};
    return index->find(q, 100).value().size();
  }
  std::size_t failed_store_events() {
    std::size_t n = 0;
    for (const auto& e : audit.events())
      if (e.type == audit::Type::store && e.outcome == audit::Outcome::failure) ++n;
    return n;
  }
  // Nothing half-stored: exactly `n` instances, each with its blob, and no temp file.
  void expect_archive_holds(std::size_t n) {
    EXPECT_EQ(rows(), n);
    EXPECT_EQ(blobs(), n);
    EXPECT_EQ(temp_files(), 0u);
  }
};

void expect_failure(const Result<services::StoreResult>& r, Errc code, std::uint16_t dimse, int http) {
  ASSERT_FALSE(r) << "stored although a fault was injected";
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_EQ(r.error().dimse_status(), dimse);
  EXPECT_EQ(r.error().http_status(), http);
}

} // namespace

// ---- disk full, failing fsync, failing link: one object (C-STORE, import) ----

TEST_F(IngestFaults, ADiskFullWhileImportingAFileAnswersOutOfResourcesAndKeepsNothing) {
  fsys.fail(Op::write, ENOSPC);
  expect_failure(ingest->ingest_file(ctx, sample("CT_small.dcm")), Errc::resource_exhausted, 0xA700, 503);
  expect_archive_holds(0);

  auto next = ingest->ingest_file(ctx, sample("CT_small.dcm"));
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(next->kind, Kind::stored);
  expect_archive_holds(1);
}

TEST_F(IngestFaults, ADiskFullAtFsyncAnswersOutOfResourcesKeepsNothingAndIsAudited) {
  fsys.fail(Op::fsync, ENOSPC);
  expect_failure(ingest->ingest(ctx, received("CT_small.dcm")), Errc::resource_exhausted, 0xA700, 503);
  expect_archive_holds(0);
  EXPECT_EQ(failed_store_events(), 1u);

  auto next = ingest->ingest(ctx, received("CT_small.dcm"));
  ASSERT_TRUE(next) << next.error().message;
  expect_archive_holds(1);
}

TEST_F(IngestFaults, AFailingFsyncAnswersAFailureAndKeepsNothing) {
  fsys.fail(Op::fsync, EIO);
  expect_failure(ingest->ingest(ctx, received("MR_small.dcm")), Errc::io_error, 0xA700, 500);
  expect_archive_holds(0);
  EXPECT_EQ(failed_store_events(), 1u);
  ASSERT_TRUE(ingest->ingest(ctx, received("MR_small.dcm")));
  expect_archive_holds(1);
}

TEST_F(IngestFaults, AFailingLinkAnswersAFailureAndKeepsNothing) {
  fsys.fail(Op::link, ENOSPC);
  expect_failure(ingest->ingest(ctx, received("CT_small.dcm")), Errc::resource_exhausted, 0xA700, 503);
  fsys.fail(Op::link, EIO);
  expect_failure(ingest->ingest(ctx, received("CT_small.dcm")), Errc::io_error, 0xA700, 500);
  expect_archive_holds(0);
  ASSERT_TRUE(ingest->ingest(ctx, received("CT_small.dcm")));
  expect_archive_holds(1);
}

TEST_F(IngestFaults, AFailureToResyncAStoredObjectLeavesTheStoredInstanceIntact) {
  auto first = ingest->ingest(ctx, received("CT_small.dcm"));
  ASSERT_TRUE(first);
  fsys.fail(Op::fsync, EIO);  // the same object again: its existing blob is fsynced, and that fails
  expect_failure(ingest->ingest(ctx, received("CT_small.dcm")), Errc::io_error, 0xA700, 500);
  expect_archive_holds(1);
  auto loc = index->find_instance(first->sop_instance_uid);
  ASSERT_TRUE(loc && *loc);
  EXPECT_TRUE(store->open((*loc)->blob_key));
}

// ---- the same faults during a STOW-RS group commit ----

TEST_F(IngestFaults, ADiskFullDuringAGroupCommitFailsEveryPartAndKeepsNothing) {
  fsys.fail(Op::link, ENOSPC, 1, /*skip=*/1);  // the second part's link
  auto results = ingest->ingest_batch(
      ctx, {received("CT_small.dcm"), received("MR_small.dcm"), received("waveform_ecg.dcm")});
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) expect_failure(r, Errc::resource_exhausted, 0xA700, 503);
  expect_archive_holds(0);
  EXPECT_EQ(failed_store_events(), 3u);

  auto next = ingest->ingest_batch(
      ctx, {received("CT_small.dcm"), received("MR_small.dcm"), received("waveform_ecg.dcm")});
  for (const auto& r : next) ASSERT_TRUE(r) << r.error().message;
  expect_archive_holds(3);
}

TEST_F(IngestFaults, AFailingSyncfsDuringAGroupCommitFailsEveryPartAndKeepsNothing) {
  fsys.fail(Op::syncfs, EIO);
  auto results = ingest->ingest_batch(
      ctx, {received("CT_small.dcm"), received("MR_small.dcm"), received("waveform_ecg.dcm")});
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) expect_failure(r, Errc::io_error, 0xA700, 500);
  expect_archive_holds(0);

  auto next = ingest->ingest_batch(
      ctx, {received("CT_small.dcm"), received("MR_small.dcm"), received("waveform_ecg.dcm")});
  for (const auto& r : next) ASSERT_TRUE(r) << r.error().message;
  expect_archive_holds(3);
}

TEST_F(IngestFaults, AFailingFsyncInASmallGroupCommitFailsBothPartsAndKeepsNothing) {
  fsys.fail(Op::fsync, EIO, 1, /*skip=*/1);
  auto results = ingest->ingest_batch(ctx, {received("CT_small.dcm"), received("MR_small.dcm")});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) expect_failure(r, Errc::io_error, 0xA700, 500);
  expect_archive_holds(0);
}

// ---- a busy or locked index ----

TEST_F(IngestFaults, ALockedIndexIsWaitedForWithinTheBoundThenFailsCleanlyWithoutAnOrphanBlob) {
  OtherConnection other(dir / "index.db");
  ASSERT_TRUE(other.exec("BEGIN IMMEDIATE"));  // holds the write lock
  const auto start = std::chrono::steady_clock::now();
  expect_failure(ingest->ingest(ctx, received("CT_small.dcm")), Errc::unavailable, 0xA700, 503);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, kBusyTimeout - 20ms);  // retried for the whole bound ...
  EXPECT_LT(waited, kBusyTimeout + 3s);    // ... and not much longer
  expect_archive_holds(0);                 // the blob it had committed is removed again
  EXPECT_EQ(failed_store_events(), 1u);

  ASSERT_TRUE(other.exec("ROLLBACK"));
  auto next = ingest->ingest(ctx, received("CT_small.dcm"));
  ASSERT_TRUE(next) << next.error().message;
  expect_archive_holds(1);
}

TEST_F(IngestFaults, ALockReleasedWithinTheBoundDelaysTheIngestButDoesNotFailIt) {
  index = std::move(*index::open_sqlite(dir / "index.db", 5s));
  ingest = std::make_unique<services::IngestService>(*store, *index, audit, dicom::Limits{});
  OtherConnection other(dir / "index.db");
  ASSERT_TRUE(other.exec("BEGIN IMMEDIATE"));
  std::thread releaser([&] {
    std::this_thread::sleep_for(200ms);
    other.exec("COMMIT");
  });
  const auto start = std::chrono::steady_clock::now();
  auto r = ingest->ingest(ctx, received("CT_small.dcm"));
  const auto waited = std::chrono::steady_clock::now() - start;
  releaser.join();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kind, Kind::stored);
  EXPECT_GE(waited, 150ms);
  expect_archive_holds(1);
}

TEST_F(IngestFaults, ALockedIndexDuringAGroupCommitFailsEachPartAndRemovesTheirBlobs) {
  OtherConnection other(dir / "index.db");
  ASSERT_TRUE(other.exec("BEGIN IMMEDIATE"));
  auto results = ingest->ingest_batch(
      ctx, {received("CT_small.dcm"), received("MR_small.dcm"), received("waveform_ecg.dcm")});
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) expect_failure(r, Errc::unavailable, 0xA700, 503);
  expect_archive_holds(0);
  ASSERT_TRUE(other.exec("ROLLBACK"));
  for (const auto& r : ingest->ingest_batch(ctx, {received("CT_small.dcm"), received("MR_small.dcm")}))
    ASSERT_TRUE(r) << r.error().message;
  expect_archive_holds(2);
}

TEST_F(IngestFaults, AFailingIngestNeverRemovesTheBlobThatAConcurrentIdenticalOneIndexed) {
  // Two byte-identical objects share one blob. A creates it and then fails at
  // the locked index; B, arriving meanwhile, must not find A's blob in place,
  // index it and then lose it to A's clean-up (a row without its blob).
  // Timeline (busy bound 2 s): A waits for the index from 0 to 2 s and fails;
  // B starts at 0.5 s; the lock goes at 2.25 s. Without the per-key lock B
  // would have reused A's blob at 0.5 s and be indexed at 2.25 s, after A
  // removed it; with it B commits its own blob once A is done.
  index = std::move(*index::open_sqlite(dir / "index.db", 2s));
  ingest = std::make_unique<services::IngestService>(*store, *index, audit, dicom::Limits{});
  OtherConnection other(dir / "index.db");
  ASSERT_TRUE(other.exec("BEGIN IMMEDIATE"));
  const auto a_temp = received("CT_small.dcm");
  const auto b_temp = received("CT_small.dcm");
  Result<services::StoreResult> a = std::unexpected(make_error(Errc::internal, "not run"));
  Result<services::StoreResult> b = std::unexpected(make_error(Errc::internal, "not run"));
  std::thread ta([&] { a = ingest->ingest(ctx, a_temp); });
  std::this_thread::sleep_for(500ms);
  std::thread tb([&] { b = ingest->ingest(ctx, b_temp); });
  std::this_thread::sleep_for(1750ms);
  ASSERT_TRUE(other.exec("COMMIT"));
  ta.join();
  tb.join();
  expect_failure(a, Errc::unavailable, 0xA700, 503);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->kind, Kind::stored);
  expect_archive_holds(1);  // B's row and its blob
  auto where = index->find_instance(b->sop_instance_uid);
  ASSERT_TRUE(where && *where);
  auto blob = store->open((*where)->blob_key);
  ASSERT_TRUE(blob) << blob.error().message;
  EXPECT_EQ((*blob)->size(), (*where)->size);
}

// ---- a nearly full file system: refused before a byte is written ----

TEST_F(IngestFaults, ANearlyFullFileSystemRefusesNewObjectsUpFrontWithOutOfResources) {
  fsys.free_space(256 << 10, 64ull << 20);  // 256 KiB left of 64 MiB
  auto temp = ingest->begin();              // what the C-STORE and STOW-RS receivers call first
  ASSERT_FALSE(temp);
  EXPECT_EQ(temp.error().code, Errc::resource_exhausted);
  EXPECT_EQ(temp.error().dimse_status(), 0xA700);
  EXPECT_EQ(temp.error().http_status(), 503);
  expect_failure(ingest->ingest_file(ctx, sample("CT_small.dcm")), Errc::resource_exhausted, 0xA700, 503);
  expect_archive_holds(0);

  fsys.free_space(0, 0);  // space freed
  ASSERT_TRUE(ingest->ingest_file(ctx, sample("CT_small.dcm")));
  expect_archive_holds(1);
}
