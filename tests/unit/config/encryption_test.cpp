// [encryption]: exactly one KEK source, a key file outside var_dir and private; off is reported.
#include <gtest/gtest.h>

#include "config/config.h"
#include "test_support.h"

namespace tresor::config {
namespace {

using tresor::testing::FakeAccounts;
using tresor::testing::TempDir;

Result<Config> load_with(const TempDir& dir, const std::string& encryption) {
  dir.write_pki();
  return load(dir.write("tresor.toml", "[dimse]\nae_title = \"ARCHIVE\"\n[encryption]\n" + encryption));
}

std::string error_of(const Result<Config>& r) { return r ? std::string("<loaded>") : r.error().message; }

TEST(EncryptionConfig, IsOnByDefaultWithAKeyFileBesideVar) {
  TempDir dir;
  auto c = load_with(dir, "");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->encryption.enabled);
  EXPECT_EQ(c->encryption.key_file, dir.path().parent_path() / "tresor-kek.key");
}

TEST(EncryptionConfig, RefusesAKeyFileInsideVarDir) {
  TempDir dir;
  auto c = load_with(dir, "key_file = \"keys/kek.key\"\n");
  EXPECT_NE(error_of(c).find("must be outside var_dir"), std::string::npos) << error_of(c);
}

TEST(EncryptionConfig, RefusesBothSourcesOrNone) {
  TempDir dir;
  auto both = load_with(dir, "key_command = \"cat /run/kek\"\n");
  EXPECT_NE(error_of(both).find("exactly one of"), std::string::npos) << error_of(both);
  auto none = load_with(dir, "key_file = \"\"\n");
  EXPECT_NE(error_of(none).find("exactly one of"), std::string::npos) << error_of(none);
  auto command = load_with(dir, "key_file = \"\"\nkey_command = \"cat /run/kek\"\n");
  EXPECT_TRUE(command) << error_of(command);
}

TEST(EncryptionConfig, RefusesAKeyFileReadableByOthers) {
  TempDir outer;
  TempDir dir;  // the key file lives in `outer`, outside var_dir
  const auto key = outer.write("kek.key", std::string(64, 'a'), 0644);
  auto c = load_with(dir, "key_file = \"" + key.string() + "\"\n");
  EXPECT_NE(error_of(c).find("chmod 600"), std::string::npos) << error_of(c);
}

TEST(EncryptionConfig, DisabledEncryptionIsReportedByTheExposureCheck) {
  TempDir dir;
  auto c = load_with(dir, "enabled = false\n");
  ASSERT_TRUE(c) << c.error().message;
  FakeAccounts accounts;
  auto findings = exposure_check(*c, accounts);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_NE(findings[0].what.find("encryption at rest is off"), std::string::npos);
  EXPECT_TRUE(findings[0].warning);  // serve still starts (benchmarks), never silently
}

} // namespace
} // namespace tresor::config
