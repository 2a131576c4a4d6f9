#include <gtest/gtest.h>

#include <algorithm>

#include "config/config.h"
#include "test_support.h"

namespace tresor::config {
namespace {

using tresor::testing::FakeAccounts;
using tresor::testing::TempDir;

// A loaded default configuration with its PKI files in place.
Config loaded(const TempDir& dir, mode_t key_mode = 0600) {
  dir.write_pki(key_mode);
  auto config = load(dir.write("tresor.toml", sample_toml("ARCHIVE")));
  if (!config) ADD_FAILURE() << config.error().message;
  return config.value_or(Config{});
}

Peer tls_peer(std::string ae, std::vector<std::string> hosts) {
  Peer p;
  p.ae_title = std::move(ae);
  p.hosts = std::move(hosts);
  p.operations = {Operation::echo, Operation::store};
  return p;
}

User user(std::string name, std::string hash, bool enabled = true) {
  return User{std::move(name), std::move(hash), {Role::clinician}, enabled, std::nullopt};
}

const char* kArgonHash = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";

bool mentions(const std::vector<Finding>& findings, const std::string& text) {
  for (const Finding& f : findings)
    if (f.what.find(text) != std::string::npos) return true;
  return false;
}

std::string dump(const std::vector<Finding>& findings) {
  std::string out;
  for (const Finding& f : findings) out += "FINDING: " + f.what + "\n  fix: " + f.fix + "\n";
  return out;
}

TEST(ExposureCheck, FindsNothingInTheDefaultConfigurationWithoutPeers) {
  TempDir dir;
  FakeAccounts accounts;
  accounts.users.push_back(user("admin", kArgonHash));
  auto findings = exposure_check(loaded(dir), accounts);
  EXPECT_TRUE(findings.empty()) << dump(findings);
}

TEST(ExposureCheck, FindsNothingForTlsPeersAtAnyAddress) {
  TempDir dir;
  FakeAccounts accounts;
  accounts.peers.push_back(tls_peer("CT1", {"203.0.113.7"}));
  accounts.peers.push_back(tls_peer("MR1", {"10.0.0.7", "10.0.0.8"}));
  auto findings = exposure_check(loaded(dir), accounts);
  EXPECT_TRUE(findings.empty()) << dump(findings);
}

TEST(ExposureCheck, FlagsAServerKeyReadableByOthers) {
  TempDir dir;
  FakeAccounts accounts;
  auto findings = exposure_check(loaded(dir, 0644), accounts);
  ASSERT_EQ(findings.size(), 1u) << dump(findings);
  EXPECT_NE(findings[0].what.find("readable by group or others"), std::string::npos);
  EXPECT_EQ(findings[0].fix, "chmod 600 " + (dir.path() / "pki" / "server.key").string());
}

TEST(ExposureCheck, FlagsACaKeyReadableByGroup) {
  TempDir dir;
  FakeAccounts accounts;
  Config config = loaded(dir);
  ::chmod(config.tls.ca_key_file.c_str(), 0640);
  auto findings = exposure_check(config, accounts);
  ASSERT_EQ(findings.size(), 1u) << dump(findings);
  EXPECT_TRUE(mentions(findings, "CA private key"));
}

TEST(ExposureCheck, FlagsADeviceCookieKeyReadableByOthers) {
  TempDir dir;
  FakeAccounts accounts;
  Config config = loaded(dir);
  EXPECT_TRUE(exposure_check(config, accounts).empty()) << "no key yet (created at init or first serve)";
  const auto key = dir.write("device_cookie.key", std::string(32, 'k'));
  ASSERT_EQ(config.device_key_file(), key);
  ::chmod(key.c_str(), 0600);
  EXPECT_TRUE(exposure_check(config, accounts).empty()) << dump(exposure_check(config, accounts));
  ::chmod(key.c_str(), 0644);
  auto findings = exposure_check(config, accounts);
  ASSERT_EQ(findings.size(), 1u) << dump(findings);
  EXPECT_TRUE(mentions(findings, "device-cookie key"));
  EXPECT_EQ(findings[0].fix, "chmod 600 " + key.string());
}

TEST(ExposureCheck, FlagsAMissingServerCertificate) {
  TempDir dir;
  FakeAccounts accounts;
  Config config = loaded(dir);
  std::filesystem::remove(config.tls.cert_file);
  auto findings = exposure_check(config, accounts);
  ASSERT_EQ(findings.size(), 1u) << dump(findings);
  EXPECT_TRUE(mentions(findings, "server certificate"));
  EXPECT_TRUE(mentions(findings, "missing or unreadable"));
}

TEST(ExposureCheck, IgnoresTlsFilesWhileTheTlsListenerIsOff) {
  TempDir dir;
  FakeAccounts accounts;
  Config config = loaded(dir);
  config.dimse.tls_port = 0;
  std::filesystem::remove(config.tls.cert_file);
  EXPECT_TRUE(exposure_check(config, accounts).empty());
}

TEST(ExposureCheck, FlagsTlsOffWhilePlaintextServesTheNetwork) {
  TempDir dir;
  FakeAccounts accounts;
  Config config = loaded(dir);
  config.dimse.tls_port = 0;
  config.dimse.plaintext_enabled = true;
  config.dimse.plaintext_bind = "10.1.2.3";
  auto findings = exposure_check(config, accounts);
  ASSERT_EQ(findings.size(), 1u) << dump(findings);
  EXPECT_TRUE(mentions(findings, "TLS listener is off"));

  config.dimse.plaintext_bind = "127.0.0.1";
  EXPECT_TRUE(exposure_check(config, accounts).empty());
}

TEST(ExposureCheck, FlagsThePlaintextListenerOnAPublicAddress) {
  TempDir dir;
  FakeAccounts accounts;
  Config config = loaded(dir);
  config.dimse.plaintext_enabled = true;
  config.dimse.plaintext_bind = "0.0.0.0";
  auto findings = exposure_check(config, accounts);
  ASSERT_EQ(findings.size(), 1u) << dump(findings);
  EXPECT_TRUE(mentions(findings, "not a loopback or private address"));
}

TEST(ExposureCheck, FlagsAPlaintextPeerWithoutPinnedHostsOnlyWhilePlaintextIsOn) {
  TempDir dir;
  FakeAccounts accounts;
  Peer p = tls_peer("US1", {});
  p.allow_plaintext = true;
  accounts.peers.push_back(p);
  Config config = loaded(dir);
  config.dimse.plaintext_enabled = true;
  auto findings = exposure_check(config, accounts);
  ASSERT_EQ(findings.size(), 1u) << dump(findings);
  EXPECT_TRUE(mentions(findings, "peer US1 may use the plaintext listener from any address"));

  config.dimse.plaintext_enabled = false;
  findings = exposure_check(config, accounts);
  ASSERT_EQ(findings.size(), 1u) << dump(findings);
  EXPECT_TRUE(mentions(findings, "peer US1 has no registered host"));
}

TEST(ExposureCheck, AcceptsAPlaintextPeerPinnedToPrivateHosts) {
  TempDir dir;
  FakeAccounts accounts;
  Peer p = tls_peer("US1", {"192.168.1.20", "127.0.0.1"});
  p.allow_plaintext = true;
  accounts.peers.push_back(p);
  Config config = loaded(dir);
  config.dimse.plaintext_enabled = true;
  auto findings = exposure_check(config, accounts);
  EXPECT_TRUE(findings.empty()) << dump(findings);
}

TEST(ExposureCheck, FlagsAPlaintextPeerAtAPublicHost) {
  TempDir dir;
  FakeAccounts accounts;
  Peer p = tls_peer("US1", {"10.0.0.1", "198.51.100.4"});
  p.allow_plaintext = true;
  accounts.peers.push_back(p);
  auto findings = exposure_check(loaded(dir), accounts);
  ASSERT_EQ(findings.size(), 1u) << dump(findings);
  EXPECT_TRUE(mentions(findings, "198.51.100.4"));
}

TEST(ExposureCheck, ReportsAnEnabledLegacyTlsListenerAsAWarningWithItsRiskAndPeers) {
  TempDir dir;
  FakeAccounts accounts;
  Peer old = tls_peer("OLD_US", {"192.168.1.20"});
  old.legacy_tls = true;
  accounts.peers.push_back(old);
  Config config = loaded(dir);
  EXPECT_TRUE(exposure_check(config, accounts).empty()) << "a legacy_tls peer alone is no exposure";
  config.dimse.legacy_tls_enabled = true;
  config.dimse.legacy_tls_bind = "192.168.1.2";
  auto findings = exposure_check(config, accounts);
  ASSERT_EQ(findings.size(), 1u) << dump(findings);
  EXPECT_TRUE(findings[0].warning) << "deliberately enabled: serve must still start";
  EXPECT_TRUE(mentions(findings, "legacy-TLS listener (192.168.1.2:2763)"));
  EXPECT_TRUE(mentions(findings, "no forward secrecy"));
  EXPECT_TRUE(mentions(findings, "OLD_US"));
  EXPECT_NE(findings[0].fix.find("legacy_tls_enabled = false"), std::string::npos);
}

TEST(ExposureCheck, AnEnabledLegacyTlsListenerOnAPublicAddressIsAnError) {
  TempDir dir;
  FakeAccounts accounts;
  Config config = loaded(dir);
  config.dimse.legacy_tls_enabled = true;
  config.dimse.legacy_tls_bind = "0.0.0.0";
  auto findings = exposure_check(config, accounts);
  ASSERT_EQ(findings.size(), 2u) << dump(findings);
  EXPECT_TRUE(std::ranges::any_of(findings, [](const Finding& f) {
    return !f.warning && f.what.find("legacy-TLS listener is bound to 0.0.0.0") != std::string::npos;
  })) << dump(findings);
}

TEST(ExposureCheck, FlagsALegacyTlsPeerAtAPublicHostAsAnError) {
  TempDir dir;
  FakeAccounts accounts;
  Peer p = tls_peer("OLD_CR", {"10.0.0.1", "198.51.100.4"});
  p.legacy_tls = true;
  accounts.peers.push_back(p);
  auto findings = exposure_check(loaded(dir), accounts);
  ASSERT_EQ(findings.size(), 1u) << dump(findings);
  EXPECT_FALSE(findings[0].warning);
  EXPECT_TRUE(mentions(findings, "legacy-TLS listener from 198.51.100.4"));
}

TEST(LegacyTlsOption, TheLoaderRefusesAPublicBindAddressOrASharedPort) {
  TempDir dir;
  dir.write_pki(0600);
  std::string toml = sample_toml("ARCHIVE");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = toml;
    const auto at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) t.replace(at, from.size(), to);
    return t;
  };
  std::string on = with("legacy_tls_enabled = false", "legacy_tls_enabled = true");
  ASSERT_TRUE(load(dir.write("ok.toml", on)).has_value());
  toml = on;
  auto bad_bind = load(dir.write("bind.toml", with("legacy_tls_bind = \"127.0.0.1\"", "legacy_tls_bind = \"0.0.0.0\"")));
  ASSERT_FALSE(bad_bind.has_value());
  EXPECT_NE(bad_bind.error().message.find("legacy_tls_bind"), std::string::npos) << bad_bind.error().message;
  auto bad_port = load(dir.write("port.toml", with("legacy_tls_port = 2763", "legacy_tls_port = 2762")));
  ASSERT_FALSE(bad_port.has_value());
  EXPECT_NE(bad_port.error().message.find("legacy_tls_port"), std::string::npos) << bad_port.error().message;
}

TEST(ExposureCheck, FlagsEnabledUsersWithoutAnArgon2idHash) {
  TempDir dir;
  FakeAccounts accounts;
  accounts.users = {user("alice", ""), user("bob", "secret"), user("carol", kArgonHash), user("dave", "", false)};
  auto findings = exposure_check(loaded(dir), accounts);
  ASSERT_EQ(findings.size(), 2u) << dump(findings);
  EXPECT_TRUE(mentions(findings, "user alice has no password"));
  EXPECT_TRUE(mentions(findings, "user bob's password is not stored as an Argon2id hash"));
  EXPECT_EQ(findings[0].fix, "tresor user passwd alice");
}

TEST(ExposureCheck, ReportsAnUnreadableAccountRepository) {
  TempDir dir;
  FakeAccounts accounts;
  accounts.broken = true;
  auto findings = exposure_check(loaded(dir), accounts);
  ASSERT_EQ(findings.size(), 2u) << dump(findings);
  EXPECT_TRUE(mentions(findings, "peers cannot be read"));
  EXPECT_TRUE(mentions(findings, "users cannot be read"));
}

TEST(LoopbackOrPrivate, AcceptsLoopbackAndRfc1918Ranges) {
  for (const char* ip : {"127.0.0.1", "127.255.255.254", "10.0.0.1", "10.255.255.255", "172.16.0.1",
                         "172.31.255.255", "192.168.0.1", "192.168.255.255", "localhost"})
    EXPECT_TRUE(is_loopback_or_private(ip)) << ip;
}

TEST(LoopbackOrPrivate, RejectsPublicWildcardAndMalformedAddresses) {
  for (const char* ip : {"0.0.0.0", "8.8.8.8", "172.15.255.255", "172.32.0.1", "192.169.0.1", "11.0.0.1",
                         "169.254.1.1", "", "10.0.0", "10.0.0.1 ", "::1", "localhost.example", "010.0.0.1x"})
    EXPECT_FALSE(is_loopback_or_private(ip)) << ip;
}

} // namespace
} // namespace tresor::config
