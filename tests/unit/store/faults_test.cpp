// The blob store under file-system faults (disk full, failing fsync or
// syncfs, failing link), injected through the store's FileSystem seam: every
// failure is reported with the right error, leaves no temp file and no blob
// behind, never touches what was already stored, and the next commit works.
#include <gtest/gtest.h>

#include <fstream>

#include "faulty_file_system.h"
#include "store/blob_store.h"

using namespace tresor;
namespace fs = std::filesystem;
using Op = fault::FaultyFileSystem::Op;

namespace {

struct StoreFaults : ::testing::Test {
  fs::path dir;
  fault::FaultyFileSystem fsys;
  std::unique_ptr<store::BlobStore> store;

  void SetUp() override {
    dir = fs::temp_directory_path() / ("tresor-store-faults-" + std::to_string(::getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    reopen(kNfs);  // POSIX's rule: new objects' directories are fsynced too
  }
  void reopen(long fs_type) {
    store.reset();
    fsys.fs_type(fs_type);
    auto opened = store::open_fs_store(dir, fsys);
    ASSERT_TRUE(opened) << opened.error().message;
    store = std::move(*opened);
  }
  void TearDown() override {
    store.reset();
    fs::remove_all(dir);
  }

  store::TempBlob temp(const std::string& text) {
    auto t = store->create_temp();
    EXPECT_TRUE(t) << t.error().message;
    std::ofstream(t->path, std::ios::binary | std::ios::trunc) << text;
    return *t;
  }
  std::size_t temp_files() {
    std::size_t n = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator(dir / "tmp")) ++n;
    return n;
  }
  std::size_t blobs() { return store->list_keys().value().size(); }
  std::string read(const std::string& key) {
    std::ifstream in(*store->path_of(key), std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  std::vector<std::pair<store::TempBlob, std::string>> batch(const std::string& chars) {
    std::vector<std::pair<store::TempBlob, std::string>> items;
    for (char c : chars) items.emplace_back(temp(std::string("payload ") + c), key(c));
    return items;
  }
  static std::string key(char c) { return std::string(64, c); }
  static constexpr long kNfs = 0x6969, kExt4 = 0xEF53, kXfs = 0x58465342, kBtrfs = 0x9123683E;
};

} // namespace

TEST_F(StoreFaults, ReportsAFullDiskAsOutOfResourcesWhenNoTempFileCanBeCreated) {
  fsys.fail(Op::create, ENOSPC);
  auto t = store->create_temp();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::resource_exhausted);
  EXPECT_EQ(t.error().dimse_status(), 0xA700);
  EXPECT_EQ(t.error().http_status(), 503);
  EXPECT_EQ(temp_files(), 0u);
  EXPECT_TRUE(store->create_temp());  // space is back
}

TEST_F(StoreFaults, ReportsAFullDiskWhileFillingATempFileAndTheAbortedTempIsGone) {
  const fs::path source = dir / "source.bin";
  std::ofstream(source, std::ios::binary) << std::string(600 * 1024, 'x');  // three 256 KiB writes
  auto t = store->create_temp();
  ASSERT_TRUE(t);
  fsys.fail(Op::write, ENOSPC, 1, /*skip=*/1);  // the second write finds the disk full
  auto filled = store->fill_temp(*t, source);
  ASSERT_FALSE(filled);
  EXPECT_EQ(filled.error().code, Errc::resource_exhausted);
  EXPECT_NE(filled.error().message.find("No space left"), std::string::npos) << filled.error().message;
  store->abort(*t);
  EXPECT_EQ(temp_files(), 0u);

  auto again = store->create_temp();
  ASSERT_TRUE(again);
  ASSERT_TRUE(store->fill_temp(*again, source));
  EXPECT_EQ(fs::file_size(again->path), 600u * 1024u);
}

TEST_F(StoreFaults, RemovesTheNewBlobWhenItsFsyncFails) {
  fsys.fail(Op::fsync, EIO);
  auto created = store->commit(temp("payload a"), key('a'));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::io_error);
  EXPECT_EQ(created.error().dimse_status(), 0xA700);
  EXPECT_EQ(created.error().http_status(), 500);
  EXPECT_EQ(blobs(), 0u);
  EXPECT_EQ(temp_files(), 0u);
  EXPECT_FALSE(fs::exists(*store->path_of(key('a'))));

  auto retried = store->commit(temp("payload a"), key('a'));
  ASSERT_TRUE(retried) << retried.error().message;
  EXPECT_TRUE(*retried);
  EXPECT_EQ(read(key('a')), "payload a");
}

TEST_F(StoreFaults, RemovesTheNewBlobWhenTheDirectoryFsyncFails) {
  fsys.fail(Op::fsync, EIO, 1, /*skip=*/1);  // the object's fsync works, its directory's does not
  auto created = store->commit(temp("payload b"), key('b'));
  ASSERT_FALSE(created);
  EXPECT_EQ(fsys.calls(Op::fsync), 2);
  EXPECT_EQ(blobs(), 0u);
  EXPECT_EQ(temp_files(), 0u);
}

TEST_F(StoreFaults, SkipsTheDirectoryFsyncOnlyWhereTheFileSystemPersistsNewNamesWithTheFile) {
  const std::string hex = "0123456789ab";  // keys are hex
  std::size_t i = 0;
  for (long type : {kExt4, kXfs, kBtrfs, kNfs}) {
    const char c = hex[i], d = hex[i + 1], e = hex[i + 2];
    i += 3;
    reopen(type);
    const int before = fsys.calls(Op::fsync);
    auto one = store->commit(temp(std::string("payload ") + c), key(c));
    ASSERT_TRUE(one) << one.error().message;
    EXPECT_EQ(fsys.calls(Op::fsync) - before, type == kNfs ? 2 : 1) << std::hex << type;
    const int batch_before = fsys.calls(Op::fsync);  // a batch too small for syncfs: object by object
    auto two = store->commit_batch(batch(std::string{d, e}));
    ASSERT_TRUE(two) << two.error().message;
    EXPECT_EQ(fsys.calls(Op::fsync) - batch_before, type == kNfs ? 2 + 2 : 2) << std::hex << type;
  }
  EXPECT_EQ(blobs(), 12u);
}

TEST_F(StoreFaults, ReportsADelayedAllocationFailureAtFsyncAsOutOfResources) {
  fsys.fail(Op::fsync, ENOSPC);
  auto created = store->commit(temp("payload c"), key('c'));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::resource_exhausted);
  EXPECT_EQ(blobs(), 0u);
  EXPECT_EQ(temp_files(), 0u);
}

TEST_F(StoreFaults, FailsCleanlyWhenTheLinkIntoPlaceFails) {
  fsys.fail(Op::link, ENOSPC);
  auto full = store->commit(temp("payload d"), key('d'));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, Errc::resource_exhausted);
  fsys.fail(Op::link, EMLINK);
  auto too_many = store->commit(temp("payload d"), key('d'));
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code, Errc::io_error);
  EXPECT_EQ(blobs(), 0u);
  EXPECT_EQ(temp_files(), 0u);
  EXPECT_TRUE(store->commit(temp("payload d"), key('d')));
}

TEST_F(StoreFaults, NeverRemovesAnExistingBlobWhenSyncingItAgainFails) {
  ASSERT_TRUE(store->commit(temp("payload e"), key('e')));
  fsys.fail(Op::fsync, EIO);
  auto again = store->commit(temp("payload e"), key('e'));  // same content: the existing object is fsynced
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::io_error);
  EXPECT_EQ(read(key('e')), "payload e");  // what was stored before is untouched
  EXPECT_EQ(temp_files(), 0u);
}

TEST_F(StoreFaults, ABatchWhoseLinkFailsMidwayKeepsNothingAndConsumesEveryTemp) {
  fsys.fail(Op::link, ENOSPC, 1, /*skip=*/2);  // the third of five items finds the disk full
  auto created = store->commit_batch(batch("abcde"));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::resource_exhausted);
  EXPECT_EQ(blobs(), 0u);
  EXPECT_EQ(temp_files(), 0u);

  auto retried = store->commit_batch(batch("abcde"));
  ASSERT_TRUE(retried) << retried.error().message;
  EXPECT_EQ(*retried, std::vector<bool>(5, true));
  EXPECT_EQ(blobs(), 5u);
}

TEST_F(StoreFaults, ABatchWhoseSyncfsFailsKeepsNothingAndLaterBatchesFsyncEachObject) {
  ASSERT_TRUE(store->commit(temp("payload f"), key('f')));  // stored before: must survive
  fsys.fail(Op::syncfs, EIO);
  auto created = store->commit_batch(batch("abcf"));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::io_error);
  EXPECT_EQ(store->list_keys().value(), std::vector<std::string>{key('f')});
  EXPECT_EQ(read(key('f')), "payload f");
  EXPECT_EQ(temp_files(), 0u);

  // The error cannot be attributed to one object: from now on every object
  // is fsynced on its own (fsync reports the errors of that very file).
  const int syncfs_before = fsys.calls(Op::syncfs), fsync_before = fsys.calls(Op::fsync);
  auto retried = store->commit_batch(batch("abcd"));
  ASSERT_TRUE(retried) << retried.error().message;
  EXPECT_EQ(fsys.calls(Op::syncfs), syncfs_before);
  EXPECT_EQ(fsys.calls(Op::fsync) - fsync_before, 4 + 4);  // four objects, four shard directories
  EXPECT_EQ(blobs(), 5u);
}

TEST_F(StoreFaults, ASmallBatchWhoseFsyncFailsKeepsNothing) {
  fsys.fail(Op::fsync, ENOSPC, 1, /*skip=*/1);  // second object of a two-object batch
  auto created = store->commit_batch(batch("ab"));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::resource_exhausted);
  EXPECT_EQ(blobs(), 0u);
  EXPECT_EQ(temp_files(), 0u);
  EXPECT_TRUE(store->commit_batch(batch("ab")));
}

TEST(StoreOpenFaults, FailsToOpenWhenTheShardDirectoriesCannotBeCreated) {
  const fs::path dir = fs::temp_directory_path() / ("tresor-store-open-fault-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fault::FaultyFileSystem fsys;
  fsys.fail(Op::mkdir, ENOSPC, 1, /*skip=*/10);
  auto opened = store::open_fs_store(dir, fsys);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Errc::resource_exhausted);
  auto reopened = store::open_fs_store(dir, fsys);  // the directories made so far are kept, the rest is made now
  EXPECT_TRUE(reopened) << reopened.error().message;
  fs::remove_all(dir);
}

TEST_F(StoreFaults, RefusesANewObjectWhenTheFileSystemIsDownToItsReserve) {
  fsys.free_space(512 << 10, 100ull << 20);  // 512 KiB free of 100 MiB: below the 1 MiB floor
  auto refused = store->create_temp();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::resource_exhausted);
  EXPECT_EQ(refused.error().dimse_status(), 0xA700);
  EXPECT_NE(refused.error().message.find("full"), std::string::npos) << refused.error().message;
  EXPECT_EQ(temp_files(), 0u);
  fsys.free_space(2 << 20, 100ull << 20);
  EXPECT_TRUE(store->create_temp());
}

TEST_F(StoreFaults, ScalesTheReserveWithTheFileSystemWithinItsBounds) {
  fsys.free_space(200ull << 20, 100ull << 30);  // 200 MiB of 100 GiB: 1% is 1 GiB, capped at 256 MiB
  EXPECT_FALSE(store->create_temp());
  fsys.free_space(300ull << 20, 100ull << 30);
  EXPECT_TRUE(store->create_temp());
  fsys.free_space(15ull << 20, 2ull << 30);  // 15 MiB of 2 GiB: 1% is 20 MiB
  EXPECT_FALSE(store->create_temp());
}

TEST_F(StoreFaults, CreatesTempsWhenTheFileSystemCannotReportItsFreeSpace) {
  fsys.fail(Op::statvfs, ENOSYS, -1);
  EXPECT_TRUE(store->create_temp());
}
