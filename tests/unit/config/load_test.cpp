#include <gtest/gtest.h>

#include <sstream>

#include "config/config.h"
#include "test_support.h"

namespace tresor::config {
namespace {

using tresor::testing::TempDir;

// A minimal valid file (TLS files present) plus `extra` appended inside [dimse].
std::string minimal(const std::string& dimse_extra = "") {
  return "[dimse]\nae_title = \"ARCHIVE\"\n" + dimse_extra;
}

Result<Config> load_text(const TempDir& dir, const std::string& text) {
  dir.write_pki();
  return load(dir.write("tresor.toml", text));
}

std::string error_of(const Result<Config>& r) { return r ? std::string("<loaded>") : r.error().message; }

TEST(ConfigLoad, LoadsTheSampleFileThatInitWrites) {
  TempDir dir;
  auto config = load_text(dir, sample_toml("TRESOR_1A2B"));
  ASSERT_TRUE(config) << config.error().message;
  Config defaults;
  EXPECT_EQ(config->dimse.ae_title, "TRESOR_1A2B");
  EXPECT_EQ(config->dimse.tls_port, defaults.dimse.tls_port);
  EXPECT_EQ(config->dimse.tls_bind, defaults.dimse.tls_bind);
  EXPECT_FALSE(config->dimse.plaintext_enabled);
  EXPECT_EQ(config->dimse.workers, defaults.dimse.workers);
  EXPECT_EQ(config->dimse.max_pdu, defaults.dimse.max_pdu);
  EXPECT_EQ(config->dimse.max_object_bytes, defaults.dimse.max_object_bytes);
  EXPECT_EQ(config->dimse.find_cap, defaults.dimse.find_cap);
  EXPECT_EQ(config->brute_force.block_s, defaults.brute_force.block_s);
  EXPECT_EQ(config->oidc.algorithms, defaults.oidc.algorithms);
  EXPECT_EQ(config->log_level, "info");
  EXPECT_EQ(config->var_dir, dir.path());
  EXPECT_EQ(config->tls.cert_file, dir.path() / "pki" / "server.crt");
  EXPECT_EQ(config->tls.key_file, dir.path() / "pki" / "server.key");
  EXPECT_EQ(config->tls.ca_file, dir.path() / "pki" / "ca.crt");
  EXPECT_EQ(config->tls.ca_key_file, dir.path() / "pki" / "ca.key");
  EXPECT_TRUE(config->oidc.jwks_file.empty());
  EXPECT_EQ(config->index_file(), dir.path() / "index.db");
}

TEST(ConfigLoad, SampleFileDocumentsEveryOptionWithACommentAbove) {
  std::istringstream in(sample_toml("ARCHIVE"));
  std::string line, previous;
  int keys = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#' && line[0] != '[') {
      ++keys;
      EXPECT_EQ(previous.rfind("# ", 0), 0u) << "no comment above: " << line;
    }
    previous = line;
  }
  EXPECT_GE(keys, 25);
  EXPECT_NE(sample_toml("ARCHIVE").find("ae_title = \"ARCHIVE\""), std::string::npos);
  EXPECT_NE(sample_toml("ARCHIVE").find("plaintext_enabled = false"), std::string::npos);
  EXPECT_NE(sample_toml("ARCHIVE").find("key_file = \"pki/server.key\""), std::string::npos);
}

TEST(ConfigLoad, RejectsADuplicateKeyWithItsLine) {
  TempDir dir;
  auto config = load_text(dir, "[dimse]\nae_title = \"A\"\nae_title = \"B\"\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, Errc::invalid_argument);
  EXPECT_NE(error_of(config).find("tresor.toml:3:"), std::string::npos) << error_of(config);
}

TEST(ConfigLoad, RejectsADuplicateTable) {
  TempDir dir;
  auto config = load_text(dir, minimal() + "[tls]\n[dimse]\n");
  ASSERT_FALSE(config);
  EXPECT_NE(error_of(config).find("tresor.toml:4:"), std::string::npos) << error_of(config);
}

TEST(ConfigLoad, RejectsAnUnknownKeyWithItsPosition) {
  TempDir dir;
  auto config = load_text(dir, minimal("ae_tilte = \"X\"\n"));
  ASSERT_FALSE(config);
  EXPECT_NE(error_of(config).find("tresor.toml:3:1: unknown key 'dimse.ae_tilte'"), std::string::npos)
      << error_of(config);
}

TEST(ConfigLoad, AcceptsAndIgnoresTheRetiredAccountLockKeysOfOlderFiles) {
  // Files written before issue 11 list [login] account_*; the hard lock is gone.
  TempDir dir;
  auto config = load_text(dir, minimal() + "[login]\naccount_max_failures = 10\naccount_window_s = 900\n"
                                           "account_lock_s = 900\nsource_max_failures = 7\n");
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->login.source_max_failures, 7);
  EXPECT_EQ(config->login.account_guesses_per_minute, Config{}.login.account_guesses_per_minute);
  auto typo = load_text(dir, minimal() + "[login]\naccount_lock = 900\n");
  EXPECT_FALSE(typo);
}

TEST(ConfigLoad, RejectsAnUnknownTopLevelKeyAndTable) {
  TempDir dir;
  auto key = load_text(dir, "listen = 1\n" + minimal());
  ASSERT_FALSE(key);
  EXPECT_NE(error_of(key).find("unknown key 'listen'"), std::string::npos) << error_of(key);
  auto table = load_text(dir, minimal() + "[web]\nport = 443\n");
  ASSERT_FALSE(table);
  EXPECT_NE(error_of(table).find("unknown table [web]"), std::string::npos) << error_of(table);
}

TEST(ConfigLoad, RejectsAKnownTableGivenAsAValue) {
  TempDir dir;
  auto config = load_text(dir, "tls = \"on\"\n" + minimal());
  ASSERT_FALSE(config);
  EXPECT_NE(error_of(config).find("'tls' must be a table"), std::string::npos) << error_of(config);
}

TEST(ConfigLoad, RejectsAWrongType) {
  TempDir dir;
  auto text = load_text(dir, minimal("tls_port = \"2762\"\n"));
  ASSERT_FALSE(text);
  EXPECT_NE(error_of(text).find("tresor.toml:3:12: 'dimse.tls_port' must be an integer"), std::string::npos)
      << error_of(text);
  auto floating = load_text(dir, minimal("workers = 4.0\n"));
  ASSERT_FALSE(floating);
  EXPECT_NE(error_of(floating).find("'dimse.workers' must be an integer"), std::string::npos);
  auto boolean = load_text(dir, minimal("plaintext_enabled = 1\n"));
  ASSERT_FALSE(boolean);
  EXPECT_NE(error_of(boolean).find("'dimse.plaintext_enabled' must be true or false"), std::string::npos);
  auto list = load_text(dir, minimal("[oidc]\nalgorithms = \"RS256\"\n"));
  ASSERT_FALSE(list);
  EXPECT_NE(error_of(list).find("'oidc.algorithms' must be an array of strings"), std::string::npos);
}

TEST(ConfigLoad, RejectsAMissingAeTitle) {
  TempDir dir;
  auto config = load_text(dir, "[dimse]\ntls_port = 2762\n");
  ASSERT_FALSE(config);
  EXPECT_NE(error_of(config).find("'dimse.ae_title' is required"), std::string::npos) << error_of(config);
}

TEST(ConfigLoad, RejectsAnInvalidAeTitle) {
  TempDir dir;
  for (const char* ae : {"", "SEVENTEEN_CHARS_X", "WITH SPACE", "BACK\\\\SLASH"}) {
    auto config = load_text(dir, std::string("[dimse]\nae_title = \"") + ae + "\"\n");
    ASSERT_FALSE(config) << ae;
    EXPECT_NE(error_of(config).find("'dimse.ae_title' must be 1..16 chars"), std::string::npos) << error_of(config);
  }
}

TEST(ConfigLoad, RejectsThePlaintextListenerOnAPublicAddress) {
  TempDir dir;
  for (const char* bind : {"0.0.0.0", "8.8.8.8", "172.32.0.1"}) {
    auto config = load_text(dir, minimal(std::string("plaintext_enabled = true\nplaintext_bind = \"") + bind + "\"\n"));
    ASSERT_FALSE(config) << bind;
    EXPECT_NE(error_of(config).find("'dimse.plaintext_bind' must be a loopback or private address"),
              std::string::npos)
        << error_of(config);
  }
}

TEST(ConfigLoad, AcceptsThePlaintextListenerOnAPrivateAddress) {
  TempDir dir;
  auto config = load_text(dir, minimal("plaintext_enabled = true\nplaintext_bind = \"192.168.10.2\"\n"));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->dimse.plaintext_enabled);
  EXPECT_EQ(config->dimse.plaintext_bind, "192.168.10.2");
}

TEST(ConfigLoad, AcceptsAPublicPlaintextBindWhileTheListenerIsOff) {
  TempDir dir;
  auto config = load_text(dir, minimal("plaintext_bind = \"0.0.0.0\"\n"));
  ASSERT_TRUE(config) << config.error().message;
}

TEST(ConfigLoad, RejectsValuesOutOfRange) {
  TempDir dir;
  const std::pair<const char*, const char*> cases[] = {
      {"tls_port = 70000\n", "'dimse.tls_port' must be between 0 and 65535"},
      {"tls_port = -1\n", "'dimse.tls_port' must be between 0 and 65535"},
      {"workers = 0\n", "'dimse.workers' must be between 1 and 256"},
      {"workers = 257\n", "'dimse.workers' must be between 1 and 256"},
      {"max_pdu = 4095\n", "'dimse.max_pdu' must be between 4096 and 1048576"},
      {"max_pdu = 1048577\n", "'dimse.max_pdu' must be between 4096 and 1048576"},
      {"max_sequence_depth = 0\n", "'dimse.max_sequence_depth' must be between 1 and 256"},
      {"acse_timeout_s = 3601\n", "'dimse.acse_timeout_s' must be between 1 and 3600"},
      {"idle_timeout_s = 0\n", "'dimse.idle_timeout_s' must be between 1 and 3600"},
      {"find_cap = 0\n", "'dimse.find_cap' must be between 1"},
  };
  for (auto [line, expected] : cases) {
    auto config = load_text(dir, minimal(line));
    ASSERT_FALSE(config) << line;
    EXPECT_NE(error_of(config).find(expected), std::string::npos) << error_of(config);
  }
}

TEST(ConfigLoad, RejectsTheSamePortForBothListeners) {
  TempDir dir;
  auto config = load_text(dir, minimal("plaintext_enabled = true\nplaintext_port = 2762\n"));
  ASSERT_FALSE(config);
  EXPECT_NE(error_of(config).find("must differ from 'dimse.tls_port'"), std::string::npos) << error_of(config);
}

TEST(ConfigLoad, RejectsMissingTlsFilesWhileTheTlsListenerIsOn) {
  TempDir dir;
  auto config = load(dir.write("tresor.toml", minimal()));
  ASSERT_FALSE(config);
  EXPECT_NE(error_of(config).find("'tls.cert_file'"), std::string::npos) << error_of(config);
  EXPECT_NE(error_of(config).find("'tls.key_file'"), std::string::npos) << error_of(config);
  EXPECT_NE(error_of(config).find("'tls.ca_file'"), std::string::npos) << error_of(config);

  // HTTPS uses the same certificate: both listeners must be off to go without it.
  auto dimse_off = load(dir.write("tresor.toml", minimal("tls_port = 0\n")));
  EXPECT_FALSE(dimse_off);
  auto off = load(dir.write("tresor.toml", minimal("tls_port = 0\n") + "[http]\nport = 0\n"));
  EXPECT_TRUE(off) << off.error().message;
}

TEST(ConfigLoad, RejectsAnHttpsPortThatCollidesWithDicomAndAPublicUrlWithAPath) {
  TempDir dir;
  auto same = load_text(dir, minimal() + "[http]\nport = 2762\n");
  ASSERT_FALSE(same);
  EXPECT_NE(error_of(same).find("'http.port' must differ"), std::string::npos) << error_of(same);
  auto url = load_text(dir, minimal() + "[http]\npublic_url = \"http://pacs.example.org/\"\n");
  ASSERT_FALSE(url);
  EXPECT_NE(error_of(url).find("'http.public_url'"), std::string::npos) << error_of(url);
}

TEST(ConfigLoad, ValidatesThePerSourceHttpsLimitsAndTheJwtTokenLimit) {
  TempDir dir;
  auto defaults = load_text(dir, minimal());
  ASSERT_TRUE(defaults) << error_of(defaults);
  EXPECT_EQ(defaults->http.max_connections_per_source, 64u);
  EXPECT_LE(defaults->http.max_connections_per_source, defaults->http.max_connections);
  EXPECT_EQ(defaults->http.handshakes_per_source_per_s, 50);
  EXPECT_EQ(defaults->http.jwt_token_max_days, 0);  // a JWT mints no token unless configured
  EXPECT_EQ(defaults->http.failure_audit_window_s, 60);
  auto per_source = load_text(dir, minimal() + "[http]\nmax_connections = 10\nmax_connections_per_source = 11\n");
  ASSERT_FALSE(per_source);
  EXPECT_NE(error_of(per_source).find("'http.max_connections_per_source' must not exceed"), std::string::npos)
      << error_of(per_source);
  auto jwt = load_text(dir, minimal() + "[http]\ntoken_max_days = 30\njwt_token_max_days = 31\n");
  ASSERT_FALSE(jwt);
  EXPECT_NE(error_of(jwt).find("'http.jwt_token_max_days' must not exceed"), std::string::npos) << error_of(jwt);
  for (const char* bad : {"handshakes_per_source_per_s = 0", "failure_audit_window_s = 0", "max_connections_per_source = 0"})
    EXPECT_FALSE(load_text(dir, minimal() + "[http]\n" + bad + "\n")) << bad;
}

TEST(ConfigLoad, ResolvesRelativePathsAgainstTheConfigDirectory) {
  TempDir dir;
  dir.write("certs/a.crt", "x", 0644);
  dir.write("certs/a.key", "x", 0600);
  dir.write_pki();
  auto config = load(dir.write("etc/tresor.toml", minimal() + "var_dir = \"../data\"\n" +
                                                     "[tls]\ncert_file = \"../certs/a.crt\"\n"
                                                     "key_file = \"../certs/a.key\"\n"
                                                     "ca_file = \"" + (dir.path() / "pki/ca.crt").string() + "\"\n"));
  // var_dir is a top-level key, so inside [dimse] it is unknown: a TOML pitfall worth pinning.
  ASSERT_FALSE(config);
  EXPECT_NE(error_of(config).find("unknown key 'dimse.var_dir'"), std::string::npos) << error_of(config);

  config = load(dir.write("etc/tresor.toml", "var_dir = \"../data\"\n" + minimal() +
                                                 "[tls]\ncert_file = \"../certs/a.crt\"\n"
                                                 "key_file = \"../certs/a.key\"\n"
                                                 "ca_file = \"" + (dir.path() / "pki/ca.crt").string() + "\"\n"));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->var_dir, dir.path() / "data");
  EXPECT_EQ(config->tls.cert_file, dir.path() / "certs" / "a.crt");
  EXPECT_EQ(config->tls.ca_file, dir.path() / "pki" / "ca.crt");
  EXPECT_EQ(config->tls.ca_key_file, dir.path() / "etc" / "pki" / "ca.key");
  EXPECT_EQ(config->config_file, dir.path() / "etc" / "tresor.toml");
}

TEST(ConfigLoad, RejectsHmacNoneAndUnverifiableJwtAlgorithms) {
  TempDir dir;
  for (const char* alg : {"HS256", "none", "RS384", "PS256"}) {
    auto config = load_text(dir, minimal() + "[oidc]\nalgorithms = [\"RS256\", \"" + alg + "\"]\n");
    ASSERT_FALSE(config) << alg;
    EXPECT_NE(error_of(config).find("'oidc.algorithms' may only hold"), std::string::npos) << error_of(config);
  }
}

TEST(ConfigLoad, RequiresAudienceAndKeysWhenAnOidcIssuerIsSet) {
  TempDir dir;
  auto config = load_text(dir, minimal() + "[oidc]\nissuer = \"https://id.example\"\n");
  ASSERT_FALSE(config);
  EXPECT_NE(error_of(config).find("'oidc.audience' is required"), std::string::npos) << error_of(config);
  EXPECT_NE(error_of(config).find("'oidc.jwks_file' must be a readable file"), std::string::npos);

  dir.write("jwks.json", "{}", 0644);
  config = load_text(dir, minimal() + "[oidc]\nissuer = \"https://id.example\"\naudience = \"tresor\"\n"
                                      "jwks_file = \"jwks.json\"\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->oidc.jwks_file, dir.path() / "jwks.json");
}

TEST(ConfigLoad, RejectsAnUnknownLogLevelAndANonAddressBind) {
  TempDir dir;
  auto level = load_text(dir, "log_level = \"verbose\"\n" + minimal());
  ASSERT_FALSE(level);
  EXPECT_NE(error_of(level).find("'log_level' must be one of"), std::string::npos);
  auto bind = load_text(dir, minimal("tls_bind = \"example.org\"\n"));
  ASSERT_FALSE(bind);
  EXPECT_NE(error_of(bind).find("'dimse.tls_bind' must be an IPv4 address"), std::string::npos);
}

TEST(ConfigLoad, ReportsSyntaxErrorsWithFileLineAndColumn) {
  TempDir dir;
  auto config = load_text(dir, "[dimse]\nae_title = \"unterminated\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, Errc::invalid_argument);
  EXPECT_NE(error_of(config).find("tresor.toml:2:"), std::string::npos) << error_of(config);
}

TEST(ConfigLoad, ReportsAMissingFileAsAnIoError) {
  TempDir dir;
  auto config = load(dir.path() / "absent.toml");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, Errc::io_error);
}

TEST(ConfigLoad, ReportsEveryProblemAtOnce) {
  TempDir dir;
  auto config = load_text(dir, "[dimse]\nworkers = 0\nmax_pdu = 1\n");
  ASSERT_FALSE(config);
  EXPECT_NE(error_of(config).find("ae_title"), std::string::npos);
  EXPECT_NE(error_of(config).find("workers"), std::string::npos);
  EXPECT_NE(error_of(config).find("max_pdu"), std::string::npos);
}

TEST(AeTitle, AcceptsOnlyOneToSixteenSafeCharacters) {
  EXPECT_TRUE(is_valid_ae_title("A"));
  EXPECT_TRUE(is_valid_ae_title("TRESOR_1a2B.x-y"));
  EXPECT_TRUE(is_valid_ae_title("SIXTEEN_CHARS_XX"));
  EXPECT_FALSE(is_valid_ae_title(""));
  EXPECT_FALSE(is_valid_ae_title("SEVENTEEN_CHARS_X"));
  EXPECT_FALSE(is_valid_ae_title("CT 1"));
  EXPECT_FALSE(is_valid_ae_title("A\\B"));
  EXPECT_FALSE(is_valid_ae_title("A/B"));
}

TEST(ConfigLoad, AcceptsAJwksUrlInsteadOfAJwksFile) {
  TempDir dir;
  const std::string oidc = "[oidc]\nissuer = \"https://id.example\"\naudience = \"tresor\"\n";
  auto config = load_text(dir, minimal() + oidc + "jwks_url = \"https://id.example/realms/pacs/certs\"\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->oidc.jwks_url, "https://id.example/realms/pacs/certs");
  EXPECT_TRUE(config->oidc.jwks_file.empty());
  EXPECT_TRUE(config->oidc.jwks_ca_file.empty()) << "empty = the system CA store";
  EXPECT_EQ(config->oidc.jwks_refresh_s, 3600);

  dir.write("idp-ca.crt", "ca", 0644);
  config = load_text(dir, minimal() + oidc +
                              "jwks_url = \"https://id.example:8443/certs?realm=pacs\"\n"
                              "jwks_ca_file = \"idp-ca.crt\"\njwks_refresh_s = 60\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->oidc.jwks_ca_file, dir.path() / "idp-ca.crt");
  EXPECT_EQ(config->oidc.jwks_refresh_s, 60);
}

TEST(ConfigLoad, RequiresExactlyOneOfJwksFileAndJwksUrl) {
  TempDir dir;
  dir.write("jwks.json", "{}", 0644);
  const std::string oidc = "[oidc]\nissuer = \"https://id.example\"\naudience = \"tresor\"\n";
  auto both = load_text(dir, minimal() + oidc + "jwks_file = \"jwks.json\"\njwks_url = \"https://id.example/certs\"\n");
  ASSERT_FALSE(both);
  EXPECT_NE(error_of(both).find("either 'oidc.jwks_file' or 'oidc.jwks_url', not both"), std::string::npos)
      << error_of(both);
  EXPECT_NE(error_of(both).find("tresor.toml:7:"), std::string::npos) << error_of(both);

  auto neither = load_text(dir, minimal() + oidc);
  ASSERT_FALSE(neither);
  EXPECT_NE(error_of(neither).find("or set 'oidc.jwks_url'"), std::string::npos) << error_of(neither);
}

TEST(ConfigLoad, RejectsAJwksUrlThatIsNotPlainHttps) {
  TempDir dir;
  const std::string oidc = "[oidc]\nissuer = \"https://id.example\"\naudience = \"tresor\"\n";
  for (const char* url : {"http://id.example/certs", "id.example/certs", "https://", "https:///certs",
                          "https://user:pw@id.example/certs", "https://id.example/certs#frag",
                          "https://id.example/my certs", "HTTPS://id.example/certs", "file:///etc/jwks.json"}) {
    auto config = load_text(dir, minimal() + oidc + "jwks_url = \"" + url + "\"\n");
    ASSERT_FALSE(config) << url;
    EXPECT_NE(error_of(config).find("'oidc.jwks_url' must be an https:// URL"), std::string::npos)
        << url << ": " << error_of(config);
  }
  // Checked even while OIDC is off, so a typo shows before it matters.
  auto off = load_text(dir, minimal() + "[oidc]\njwks_url = \"http://id.example/certs\"\n");
  EXPECT_FALSE(off);
}

TEST(ConfigLoad, RejectsAnUnreadableJwksCaFileAndARefreshOutOfRange) {
  TempDir dir;
  const std::string oidc = "[oidc]\nissuer = \"https://id.example\"\naudience = \"tresor\"\n"
                           "jwks_url = \"https://id.example/certs\"\n";
  auto ca = load_text(dir, minimal() + oidc + "jwks_ca_file = \"missing-ca.crt\"\n");
  ASSERT_FALSE(ca);
  EXPECT_NE(error_of(ca).find("'oidc.jwks_ca_file' (" + (dir.path() / "missing-ca.crt").string() +
                              ") must be a readable file"),
            std::string::npos)
      << error_of(ca);
  for (const char* refresh : {"59", "86401", "0", "-1"}) {
    auto config = load_text(dir, minimal() + oidc + "jwks_refresh_s = " + refresh + "\n");
    ASSERT_FALSE(config) << refresh;
    EXPECT_NE(error_of(config).find("'oidc.jwks_refresh_s' must be between 60 and 86400"), std::string::npos)
        << error_of(config);
  }
  auto type = load_text(dir, minimal() + oidc + "jwks_refresh_s = \"3600\"\n");
  ASSERT_FALSE(type);
  EXPECT_NE(error_of(type).find("'oidc.jwks_refresh_s' must be an integer"), std::string::npos) << error_of(type);
}

TEST(ConfigLoad, SampleFileDocumentsTheJwksUrlOptions) {
  const std::string sample = sample_toml("ARCHIVE");
  EXPECT_NE(sample.find("\njwks_url = \"\"\n"), std::string::npos);
  EXPECT_NE(sample.find("\njwks_ca_file = \"\"\n"), std::string::npos);
  EXPECT_NE(sample.find("\njwks_refresh_s = 3600\n"), std::string::npos);
}

} // namespace
} // namespace tresor::config
