// [audit_export]: off by default, and validated when enabled.
#include <gtest/gtest.h>

#include "config/config.h"
#include "test_support.h"

namespace tresor::config {
namespace {

using tresor::testing::TempDir;

Result<Config> load_with(const TempDir& dir, const std::string& audit_export) {
  dir.write_pki();
  return load(dir.write("tresor.toml", "[dimse]\nae_title = \"ARCHIVE\"\n[audit_export]\n" + audit_export));
}

TEST(AuditExportConfig, IsOffByDefault) {
  TempDir dir;
  dir.write_pki();
  auto c = load(dir.write("tresor.toml", "[dimse]\nae_title = \"ARCHIVE\"\n"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->audit_export.enabled);
  EXPECT_EQ(c->audit_export.port, 6514);
  EXPECT_EQ(c->audit_export_cursor_file(), c->var_dir / "audit" / "export.cursor");
}

TEST(AuditExportConfig, EnabledWithoutHostAndCertificatesIsRefusedNamingEachKey) {
  TempDir dir;
  auto c = load_with(dir, "enabled = true\n");
  ASSERT_FALSE(c);
  for (const char* key : {"audit_export.host", "audit_export.ca_file", "audit_export.cert_file", "audit_export.key_file"})
    EXPECT_NE(c.error().message.find(key), std::string::npos) << key << ": " << c.error().message;
}

TEST(AuditExportConfig, EnabledWithReadableFilesLoadsWithPathsResolvedAgainstTheConfigDirectory) {
  TempDir dir;
  dir.write("pki/audit/ca.crt", "ca", 0644);
  dir.write("pki/audit/client.crt", "c", 0644);
  dir.write("pki/audit/client.key", "k", 0600);
  auto c = load_with(dir, "enabled = true\nhost = \"arr.example.org\"\nport = 6514\nca_file = \"pki/audit/ca.crt\"\n"
                          "cert_file = \"pki/audit/client.crt\"\nkey_file = \"pki/audit/client.key\"\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->audit_export.enabled);
  EXPECT_EQ(c->audit_export.key_file, dir.path() / "pki/audit/client.key");
}

TEST(AuditExportConfig, KeyReadableByOthersIsRefused) {
  TempDir dir;
  dir.write("ca.crt", "ca", 0644);
  dir.write("client.crt", "c", 0644);
  dir.write("client.key", "k", 0644);
  auto c = load_with(dir, "enabled = true\nhost = \"10.0.0.5\"\nca_file = \"ca.crt\"\ncert_file = \"client.crt\"\n"
                          "key_file = \"client.key\"\n");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("must not be readable by group or others"), std::string::npos) << c.error().message;
}

TEST(AuditExportConfig, HostWithSpacesIsRefused) {
  TempDir dir;
  dir.write("ca.crt", "ca", 0644);
  dir.write("client.crt", "c", 0644);
  dir.write("client.key", "k", 0600);
  auto c = load_with(dir, "enabled = true\nhost = \"a b\"\nca_file = \"ca.crt\"\ncert_file = \"client.crt\"\n"
                          "key_file = \"client.key\"\n");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("audit_export.host"), std::string::npos);
}

} // namespace
} // namespace tresor::config
