#include <gtest/gtest.h>

#include <fstream>

#include "store/blob_store.h"

using namespace tresor;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("tresor-store-" + std::to_string(::getpid()) + "-" +
                                                std::to_string(reinterpret_cast<uintptr_t>(this)))) {
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

const std::string kKey = std::string(64, 'a');

} // namespace

TEST(BlobStore, CommitsATempFileUnderAPathDerivedFromTheKeyOnly) {
  TempDir dir;
  auto store = store::open_fs_store(dir.path);
  ASSERT_TRUE(store);
  auto temp = (*store)->create_temp();
  ASSERT_TRUE(temp);
  write(temp->path, "payload");
  auto created = (*store)->commit(*temp, kKey);
  ASSERT_TRUE(created);
  EXPECT_TRUE(*created);
  auto path = (*store)->path_of(kKey);
  ASSERT_TRUE(path);
  EXPECT_EQ(*path, dir.path / "aa" / kKey);
  EXPECT_EQ(read(*path), "payload");
  EXPECT_FALSE(fs::exists(temp->path));
}

TEST(BlobStore, KeepsTheFirstCopyWhenTheSameKeyIsCommittedTwice) {
  TempDir dir;
  auto store = std::move(*store::open_fs_store(dir.path));
  auto a = *store->create_temp();
  write(a.path, "first");
  ASSERT_TRUE(*store->commit(a, kKey));
  auto b = *store->create_temp();
  write(b.path, "second");
  auto created = store->commit(b, kKey);
  ASSERT_TRUE(created);
  EXPECT_FALSE(*created);
  EXPECT_EQ(read(*store->path_of(kKey)), "first");
  EXPECT_FALSE(fs::exists(b.path));
}

TEST(BlobStore, RefusesKeysThatAreNotLowercaseHexSha256) {
  TempDir dir;
  auto store = std::move(*store::open_fs_store(dir.path));
  EXPECT_FALSE(store->path_of("../../etc/passwd"));
  EXPECT_FALSE(store->path_of(std::string(64, 'A')));
  EXPECT_FALSE(store->path_of("1.2.840.10008.5.1.4.1.1.2"));
  auto t = *store->create_temp();
  EXPECT_FALSE(store->commit(t, "../x"));
}

TEST(BlobStore, ListsCommittedKeysAndCleansTempFiles) {
  TempDir dir;
  auto store = std::move(*store::open_fs_store(dir.path));
  auto a = *store->create_temp();
  ASSERT_TRUE(store->commit(a, kKey));
  auto leftover = *store->create_temp();
  write(leftover.path, "half");
  auto keys = store->list_keys();
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0], kKey);
  store->clean_temp();
  EXPECT_FALSE(fs::exists(leftover.path));
  ASSERT_TRUE(store->remove(kKey));
  EXPECT_FALSE(fs::exists(*store->path_of(kKey)));
}

TEST(Sha256, HashesTheFileFromTheGivenOffset) {
  TempDir dir;
  write(dir.path / "f", "XXabc");
  auto digest = store::sha256_file(dir.path / "f", 2);
  ASSERT_TRUE(digest);
  EXPECT_EQ(*digest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
