// The encrypting store (blob_store.h "Encryption at rest").
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "crypto/keyring.h"
#include "faulty_file_system.h"
#include "store/blob_store.h"

using namespace tresor;
namespace fs = std::filesystem;

namespace {

struct EncryptedStore : ::testing::Test {
  fs::path dir = fs::temp_directory_path() /
                 ("tresor-encstore-" + std::to_string(::getpid()) + "-" + std::to_string(reinterpret_cast<uintptr_t>(this)));
  std::unique_ptr<crypto::Keyring> ring;
  void SetUp() override {
    fs::create_directories(dir / "var");
    ASSERT_TRUE(crypto::Keyring::create_key_file(dir / "kek.key"));
    auto r = crypto::Keyring::create({dir / "kek.key", ""}, dir / "var");
    ASSERT_TRUE(r) << r.error().message;
    ring = std::move(*r);
  }
  void TearDown() override { fs::remove_all(dir); }

  static void write(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  static Result<std::string> plain(store::BlobStore& s, const std::string& key) {
    auto src = s.open(key);
    if (!src) return std::unexpected(src.error());
    std::string out((*src)->size(), '\0');
    auto n = (*src)->read_at(0, std::as_writable_bytes(std::span(out.data(), out.size())));
    if (!n) return std::unexpected(n.error());
    out.resize(*n);
    return out;
  }
  std::string commit(store::BlobStore& s, const std::string& key, const std::string& content) {
    auto t = s.create_temp();
    EXPECT_TRUE(t);
    write(t->path, content);
    auto c = s.commit(*t, key);
    EXPECT_TRUE(c) << (c ? "" : c.error().message);
    return key;
  }
};

const std::string kKey(64, 'a');
std::string patient_data() {
  std::string s;
  for (int i = 0; i < 5000; ++i) s += "DOE^JANE 19700101 PAT-0042 ";
  return s;
}

TEST_F(EncryptedStore, StoresCiphertextThatOpensToThePlaintext) {
  auto s = store::open_fs_store(dir / "store", store::real_file_system(), ring.get());
  ASSERT_TRUE(s);
  EXPECT_TRUE((*s)->encrypted());
  commit(**s, kKey, patient_data());
  const std::string on_disk = read(*(*s)->path_of(kKey));
  EXPECT_EQ(on_disk.find("DOE^JANE"), std::string::npos);
  EXPECT_EQ(on_disk.find("PAT-0042"), std::string::npos);
  auto back = plain(**s, kKey);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, patient_data());
  EXPECT_TRUE(fs::is_empty(dir / "store" / "tmp"));  // neither the plaintext nor the encrypted temp is left
}

TEST_F(EncryptedStore, ABatchIsEncryptedToo) {
  auto s = std::move(*store::open_fs_store(dir / "store", store::real_file_system(), ring.get()));
  std::vector<std::pair<store::TempBlob, std::string>> items;
  for (char c : {'b', 'c', 'd', 'b'}) {
    auto t = *s->create_temp();
    write(t.path, std::string("object ") + c);
    items.emplace_back(t, std::string(64, c));
  }
  auto created = s->commit_batch(items);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(*created, (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(*plain(*s, std::string(64, 'c')), "object c");
  EXPECT_EQ(read(*s->path_of(std::string(64, 'c'))).find("object"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(dir / "store" / "tmp"));
}

TEST_F(EncryptedStore, ACorruptedChunkIsReportedNotServed) {
  auto s = std::move(*store::open_fs_store(dir / "store", store::real_file_system(), ring.get()));
  commit(*s, kKey, patient_data());
  const fs::path p = *s->path_of(kKey);
  std::string bytes = read(p);
  bytes[bytes.size() / 2] ^= 0x40;
  write(p, bytes);
  auto back = plain(*s, kKey);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, Errc::corrupt);
  EXPECT_NE(back.error().message.find(kKey), std::string::npos);  // names the object
}

TEST_F(EncryptedStore, AnotherInstancesKeyOpensNothing) {
  auto s = std::move(*store::open_fs_store(dir / "store", store::real_file_system(), ring.get()));
  commit(*s, kKey, "secret");
  fs::create_directories(dir / "var2");
  ASSERT_TRUE(crypto::Keyring::create_key_file(dir / "kek2.key"));
  auto other_ring = std::move(*crypto::Keyring::create({dir / "kek2.key", ""}, dir / "var2"));
  auto other = std::move(*store::open_fs_store(dir / "store", store::real_file_system(), other_ring.get()));
  EXPECT_FALSE(plain(*other, kKey));
}

TEST_F(EncryptedStore, RemoveDestroysTheDataKeyBeforeTheCiphertext) {
  fault::FaultyFileSystem faulty;
  auto s = std::move(*store::open_fs_store(dir / "store", faulty, ring.get()));
  commit(*s, kKey, patient_data());
  faulty.fail(fault::FaultyFileSystem::Op::unlink, EIO);
  EXPECT_FALSE(s->remove(kKey));  // the unlink failed ...
  EXPECT_TRUE(fs::exists(*s->path_of(kKey)));
  auto after = plain(*s, kKey);  // ... but the object is already unreadable
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, Errc::corrupt);
  faulty.heal();
  EXPECT_TRUE(s->remove(kKey));
  EXPECT_FALSE(fs::exists(*s->path_of(kKey)));
}

TEST_F(EncryptedStore, AFullDiskWhileEncryptingLeavesNothingBehind) {
  fault::FaultyFileSystem faulty;
  auto s = std::move(*store::open_fs_store(dir / "store", faulty, ring.get()));
  auto t = *s->create_temp();
  write(t.path, patient_data());
  faulty.fail(fault::FaultyFileSystem::Op::write, ENOSPC);
  auto c = s->commit(t, kKey);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::resource_exhausted);
  EXPECT_TRUE(fs::is_empty(dir / "store" / "tmp"));
  EXPECT_FALSE(fs::exists(*s->path_of(kKey)));
}

TEST_F(EncryptedStore, RotationRewrapsInPlaceWithoutRewritingTheCiphertext) {
  auto s = std::move(*store::open_fs_store(dir / "store", store::real_file_system(), ring.get()));
  commit(*s, kKey, patient_data());
  const fs::path p = *s->path_of(kKey);
  const std::string before = read(p);
  ASSERT_TRUE(crypto::Keyring::create_key_file(dir / "next.key"));
  ASSERT_TRUE(ring->begin_rotation({dir / "next.key", ""}));
  auto changed = s->rewrap_key(kKey, false);
  ASSERT_TRUE(changed) << changed.error().message;
  EXPECT_TRUE(*changed);
  EXPECT_FALSE(*s->rewrap_key(kKey, false));  // resumable: nothing left to do
  ASSERT_TRUE(s->sync());
  fs::rename(dir / "kek.key", dir / "kek.key.old");
  fs::rename(dir / "next.key", dir / "kek.key");
  ASSERT_TRUE(ring->finish_rotation());
  EXPECT_TRUE(*s->rewrap_key(kKey, true));  // the old wrapping is cleared
  const std::string after = read(p);
  ASSERT_EQ(before.size(), after.size());
  EXPECT_EQ(before.substr(256), after.substr(256));  // ciphertext untouched
  auto fresh = std::move(*crypto::Keyring::open({dir / "kek.key", ""}, dir / "var"));
  auto s2 = std::move(*store::open_fs_store(dir / "store", store::real_file_system(), fresh.get()));
  auto back = plain(*s2, kKey);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, patient_data());
}

} // namespace
