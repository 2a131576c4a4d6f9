// BlobStore::commit_batch: group commit of several temp blobs.
#include <gtest/gtest.h>

#include <fstream>

#include "store/blob_store.h"

using namespace tresor;
namespace fs = std::filesystem;

namespace {

struct BatchStore : ::testing::Test {
  fs::path dir;
  std::unique_ptr<store::BlobStore> store;

  void SetUp() override {
    dir = fs::temp_directory_path() / ("tresor-store-batch-" + std::to_string(::getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    auto opened = store::open_fs_store(dir);
    ASSERT_TRUE(opened) << opened.error().message;
    store = std::move(*opened);
  }
  void TearDown() override { fs::remove_all(dir); }

  store::TempBlob temp(const std::string& text) {
    auto t = store->create_temp();
    EXPECT_TRUE(t);
    std::ofstream(t->path, std::ios::binary | std::ios::trunc) << text;
    return *t;
  }
  std::string read(const std::string& key) {
    std::ifstream in(*store->path_of(key), std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  std::size_t temp_files() {
    std::size_t n = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator(dir / "tmp")) ++n;
    return n;
  }
};

std::string key(char c) { return std::string(64, c); }

} // namespace

TEST_F(BatchStore, CommitsEveryItemOfABatchUnderItsKeyAndConsumesTheTemps) {
  std::vector<std::pair<store::TempBlob, std::string>> items;
  for (char c : std::string("abcde")) items.emplace_back(temp(std::string("payload ") + c), key(c));
  auto created = store->commit_batch(items);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(*created, std::vector<bool>(5, true));
  for (char c : std::string("abcde")) EXPECT_EQ(read(key(c)), std::string("payload ") + c);
  EXPECT_EQ(store->path_of(key('c')).value(), dir / "cc" / key('c'));
  EXPECT_EQ(temp_files(), 0u);
  EXPECT_EQ(store->list_keys()->size(), 5u);
}

TEST_F(BatchStore, CommitsASmallBatchObjectByObject) {
  std::vector<std::pair<store::TempBlob, std::string>> items{{temp("one"), key('1')}, {temp("two"), key('2')}};
  auto created = store->commit_batch(items);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(*created, std::vector<bool>(2, true));
  EXPECT_EQ(read(key('1')), "one");
  EXPECT_EQ(read(key('2')), "two");
  EXPECT_EQ(temp_files(), 0u);
}

TEST_F(BatchStore, AcceptsAnEmptyBatch) {
  auto created = store->commit_batch({});
  ASSERT_TRUE(created);
  EXPECT_TRUE(created->empty());
}

TEST_F(BatchStore, KeepsTheExistingCopyOfAKeyStoredBeforeOrEarlierInTheBatch) {
  ASSERT_TRUE(store->commit(temp("stored before"), key('a')));
  std::vector<std::pair<store::TempBlob, std::string>> items{
      {temp("again"), key('a')}, {temp("first"), key('b')}, {temp("second"), key('b')}, {temp("other"), key('c')}};
  auto created = store->commit_batch(items);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(*created, (std::vector<bool>{false, true, false, true}));
  EXPECT_EQ(read(key('a')), "stored before");
  EXPECT_EQ(read(key('b')), "first");
  EXPECT_EQ(read(key('c')), "other");
  EXPECT_EQ(temp_files(), 0u);
  EXPECT_EQ(store->list_keys()->size(), 3u);
}

TEST_F(BatchStore, RefusesTheWholeBatchForAnInvalidKeyAndRemovesEveryTemp) {
  std::vector<std::pair<store::TempBlob, std::string>> items{
      {temp("x"), key('a')}, {temp("y"), "../../etc/passwd"}, {temp("z"), key('c')}};
  auto created = store->commit_batch(items);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::internal);
  EXPECT_EQ(temp_files(), 0u);
  EXPECT_TRUE(store->list_keys()->empty());
}

TEST_F(BatchStore, RefusesATempFileOutsideTheStoreWithoutTouchingIt) {
  const fs::path outside = dir.parent_path() / (dir.filename().string() + "-outside");
  std::ofstream(outside) << "not ours";
  std::vector<std::pair<store::TempBlob, std::string>> items{{temp("x"), key('a')},
                                                             {store::TempBlob{outside}, key('b')}};
  auto created = store->commit_batch(items);
  ASSERT_FALSE(created);
  EXPECT_TRUE(fs::exists(outside));
  fs::remove(outside);
  EXPECT_EQ(temp_files(), 0u);
  EXPECT_TRUE(store->list_keys()->empty());
}

TEST_F(BatchStore, RemovesTheBlobsItCreatedWhenALinkFailsMidway) {
  ASSERT_TRUE(store->commit(temp("stored before"), key('d')));
  fs::remove_all(dir / "bb");  // the second item's shard is gone: its link fails
  std::vector<std::pair<store::TempBlob, std::string>> items{
      {temp("x"), key('a')}, {temp("dup"), key('d')}, {temp("y"), key('b')}, {temp("z"), key('c')}};
  auto created = store->commit_batch(items);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::io_error);
  EXPECT_EQ(temp_files(), 0u);
  EXPECT_FALSE(fs::exists(*store->path_of(key('a'))));
  EXPECT_FALSE(fs::exists(*store->path_of(key('c'))));
  EXPECT_EQ(read(key('d')), "stored before");  // what existed before is never touched
  EXPECT_EQ(*store->list_keys(), std::vector<std::string>{key('d')});
}
