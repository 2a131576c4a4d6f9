// The key hierarchy (crypto/keyring.h): KEK sources, purpose keys, wrapping, rotation.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "crypto/keyring.h"

namespace tresor::crypto {
namespace {
namespace fs = std::filesystem;

class KeyringTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tresor_keyring_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(std::random_device{}()));
    fs::create_directories(dir_ / "var");
    kek_file_ = dir_ / "kek.key";
    ASSERT_TRUE(Keyring::create_key_file(kek_file_));
  }
  void TearDown() override { fs::remove_all(dir_); }
  KekSource source(const fs::path& f) const { return KekSource{f, ""}; }
  fs::path var() const { return dir_ / "var"; }
  fs::path dir_, kek_file_;
};

bool same(const SecretKey& a, const SecretKey& b) { return std::memcmp(a.data(), b.data(), kKeyBytes) == 0; }

TEST_F(KeyringTest, CreatesAKeyFileOnlyItsOwnerCanRead) {
  struct stat st {};
  ASSERT_EQ(::stat(kek_file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = Keyring::create_key_file(kek_file_);
  EXPECT_FALSE(again);  // never overwritten
}

TEST_F(KeyringTest, ReopensWithThePurposeKeysItWasCreatedWith) {
  auto made = Keyring::create(source(kek_file_), var());
  ASSERT_TRUE(made) << made.error().message;
  auto opened = Keyring::open(source(kek_file_), var());
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ((*made)->kek_id(), (*opened)->kek_id());
  EXPECT_EQ((*made)->kek_id().size(), 16u);
  for (Purpose p : {Purpose::index, Purpose::audit, Purpose::journal, Purpose::pseudonym})
    EXPECT_TRUE(same((*made)->purpose_key(p), (*opened)->purpose_key(p)));
  EXPECT_FALSE(same((*made)->purpose_key(Purpose::index), (*made)->purpose_key(Purpose::audit)));
  EXPECT_FALSE(Keyring::create(source(kek_file_), var()));  // refuses to replace a keyring
}

TEST_F(KeyringTest, AWrongKeyIsRefusedNamingTheKeyFile) {
  ASSERT_TRUE(Keyring::create(source(kek_file_), var()));
  const fs::path other = dir_ / "other.key";
  ASSERT_TRUE(Keyring::create_key_file(other));
  auto r = Keyring::open(source(other), var());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(other.string()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("not hold this instance's key"), std::string::npos);
}

TEST_F(KeyringTest, AMissingOrLooseKeyFileIsRefused) {
  ASSERT_TRUE(Keyring::create(source(kek_file_), var()));
  auto missing = Keyring::open(source(dir_ / "nope.key"), var());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("missing"), std::string::npos);
  ::chmod(kek_file_.c_str(), 0644);
  auto loose = Keyring::open(source(kek_file_), var());
  ASSERT_FALSE(loose);
  EXPECT_NE(loose.error().message.find("chmod 600"), std::string::npos) << loose.error().message;
}

TEST_F(KeyringTest, TakesTheKeyFromAKeyCommand) {
  std::ifstream in(kek_file_);
  std::string hex;
  in >> hex;
  auto made = Keyring::create(KekSource{{}, "echo " + hex}, var());
  ASSERT_TRUE(made) << made.error().message;
  auto by_file = Keyring::open(source(kek_file_), var());
  ASSERT_TRUE(by_file);
  EXPECT_TRUE(same((*made)->purpose_key(Purpose::audit), (*by_file)->purpose_key(Purpose::audit)));
  EXPECT_FALSE(Keyring::open(KekSource{{}, "false"}, var()));
  EXPECT_FALSE(Keyring::open(KekSource{{}, "echo 1234"}, var()));
}

TEST_F(KeyringTest, WrapsAndUnwrapsBoundToTheirContext) {
  auto ring = Keyring::create(source(kek_file_), var());
  ASSERT_TRUE(ring);
  const SecretKey data = SecretKey::random();
  auto w = (*ring)->wrap(data, "object-1");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->size(), kWrappedBytes);
  EXPECT_EQ(wrapped_kek_id(*w), (*ring)->kek_id());
  auto back = (*ring)->unwrap(*w, "object-1");
  ASSERT_TRUE(back);
  EXPECT_TRUE(same(*back, data));
  EXPECT_FALSE((*ring)->unwrap(*w, "object-2"));  // moved to another object
  std::string tampered = *w;
  tampered[40] ^= 1;
  auto bad = (*ring)->unwrap(tampered, "object-1");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::corrupt);
}

TEST_F(KeyringTest, RotationUnwrapsUnderBothKeysUntilFinishedThenOnlyTheNewOne) {
  auto ring = Keyring::create(source(kek_file_), var());
  ASSERT_TRUE(ring);
  const SecretKey data = SecretKey::random();
  auto old_wrapped = (*ring)->wrap(data, "o");
  ASSERT_TRUE(old_wrapped);
  const std::string old_id = (*ring)->kek_id();
  const fs::path next = dir_ / "next.key";
  ASSERT_TRUE(Keyring::create_key_file(next));

  // Another process (a running server) follows the keyring file.
  auto server = Keyring::open(source(kek_file_), var());
  ASSERT_TRUE(server);
  auto begun = (*ring)->begin_rotation(source(next));
  ASSERT_TRUE(begun) << begun.error().message;
  EXPECT_TRUE((*ring)->begin_rotation(source(next)));  // resumable
  const std::string new_id = (*ring)->next_kek_id();
  EXPECT_NE(new_id, old_id);
  EXPECT_EQ((*server)->kek_id(), new_id);  // the server now wraps under the new KEK
  auto new_wrapped = (*server)->wrap(data, "o");
  ASSERT_TRUE(new_wrapped);
  EXPECT_EQ(wrapped_kek_id(*new_wrapped), new_id);
  EXPECT_TRUE((*ring)->unwrap(*old_wrapped, "o"));
  EXPECT_TRUE((*ring)->unwrap(*new_wrapped, "o"));

  // Install the new key, then finish: the old key file no longer opens the keyring.
  fs::rename(kek_file_, kek_file_.string() + ".old");
  fs::rename(next, kek_file_);
  auto reopened = Keyring::open(source(kek_file_), var());
  ASSERT_TRUE(reopened) << reopened.error().message;  // crash between install and finish
  ASSERT_TRUE((*reopened)->finish_rotation());
  EXPECT_EQ((*reopened)->next_kek_id(), "");
  auto fresh = Keyring::open(source(kek_file_), var());
  ASSERT_TRUE(fresh);
  EXPECT_TRUE((*fresh)->unwrap(*new_wrapped, "o"));
  EXPECT_FALSE((*fresh)->unwrap(*old_wrapped, "o"));
  EXPECT_TRUE(same((*fresh)->purpose_key(Purpose::index), (*ring)->purpose_key(Purpose::index)));
  EXPECT_FALSE(Keyring::open(source(kek_file_.string() + ".old"), var()));
}

} // namespace
} // namespace tresor::crypto
