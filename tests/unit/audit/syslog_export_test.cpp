#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "audit/syslog_export.h"

using namespace tresor;
namespace fs = std::filesystem;

namespace {

audit::Record record(std::uint64_t seq, audit::Outcome outcome = audit::Outcome::success) {
  audit::Record r;
  r.seq = seq;
  r.time = "2026-12-07T21:52:19.123Z";
  r.hash = "ab12";
  r.event.outcome = outcome;
  return r;
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("tresor-export-" + std::to_string(::getpid()));
  TempDir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

} // namespace

TEST(SyslogExport, MessageIsRfc5424WithSeqInStructuredDataAndBomBeforeTheXml) {
  audit::SyslogHeader h{"pacs.example.org", "tresor"};
  const std::string m = audit::syslog_message(record(123), "<AuditMessage/>", h);
  const std::string expected_start = "<85>1 2026-12-07T21:52:19.123Z pacs.example.org tresor " +
                                     std::to_string(::getpid()) +
                                     " IHE+RFC-3881 [tresor@32473 seq=\"123\" hash=\"ab12\"] \xEF\xBB\xBF<AuditMessage/>";
  EXPECT_EQ(m, expected_start);
}

TEST(SyslogExport, FailuresAndDenialsAreSentAsWarnings) {
  audit::SyslogHeader h;
  EXPECT_TRUE(audit::syslog_message(record(1, audit::Outcome::denied), "x", h).starts_with("<84>1 "));
  EXPECT_TRUE(audit::syslog_message(record(1, audit::Outcome::failure), "x", h).starts_with("<84>1 "));
}

TEST(SyslogExport, HeaderFieldsKeepOnlyPrintableAsciiAndSdValuesAreEscaped) {
  audit::SyslogHeader h{"bad host\n", ""};
  audit::Record r = record(7);
  r.hash = "a\"]b";
  const std::string m = audit::syslog_message(r, "x", h);
  EXPECT_NE(m.find(" badhost - "), std::string::npos) << m;
  EXPECT_NE(m.find("hash=\"a\\\"\\]b\""), std::string::npos) << m;
}

TEST(SyslogExport, OctetCountingFramesCountBytesNotCharacters) {
  EXPECT_EQ(audit::octet_frame("abc"), "3 abc");
  const std::string utf8 = "\xEF\xBB\xBF\xC3\xA9";  // BOM + e-acute: 5 bytes
  EXPECT_EQ(audit::octet_frame(utf8), "5 " + utf8);
}

TEST(SyslogExport, FramesParseBackAcrossPartialReads) {
  std::string stream = audit::octet_frame("first message") + audit::octet_frame("second");
  std::string buffer = stream.substr(0, 7);
  auto a = audit::parse_frames(buffer);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->empty());
  buffer += stream.substr(7);
  auto b = audit::parse_frames(buffer);
  ASSERT_TRUE(b);
  ASSERT_EQ(b->size(), 2u);
  EXPECT_EQ((*b)[0], "first message");
  EXPECT_EQ((*b)[1], "second");
  EXPECT_TRUE(buffer.empty());
}

TEST(SyslogExport, MalformedFrameLengthsAreRejected) {
  for (std::string bad : {"x3 abc", "03 abc", "0 ", "99999999999 a", "-1 a"}) {
    std::string buffer = bad;
    EXPECT_FALSE(audit::parse_frames(buffer, 1 << 20)) << bad;
  }
  std::string big = "2000000 a";
  EXPECT_FALSE(audit::parse_frames(big, 1 << 20));
}

TEST(ExportCursor, AbsentCursorMeansNothingExportedYet) {
  TempDir dir;
  auto c = audit::read_cursor(dir.path / "export.cursor");
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, 0u);
}

TEST(ExportCursor, WrittenCursorReadsBackReplacedAtomicallyAndPrivate) {
  TempDir dir;
  const fs::path file = dir.path / "export.cursor";
  ASSERT_TRUE(audit::write_cursor(file, 41));
  ASSERT_TRUE(audit::write_cursor(file, 1234567890123ull));
  auto c = audit::read_cursor(file);
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, 1234567890123ull);
  EXPECT_FALSE(fs::exists(file.string() + ".tmp"));
  struct stat st{};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
}

TEST(ExportCursor, GarbledCursorIsReportedNotTakenAsZero) {
  TempDir dir;
  const fs::path file = dir.path / "export.cursor";
  std::ofstream(file) << "12x\n";
  auto c = audit::read_cursor(file);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::corrupt);
  std::ofstream(file, std::ios::trunc) << "";
  EXPECT_FALSE(audit::read_cursor(file));
}

TEST(SyslogExport, StartRefusesUnreadableCertificateFiles) {
  TempDir dir;
  audit::ExportSettings s;
  s.host = "127.0.0.1";
  s.port = 6514;
  s.ca_file = dir.path / "missing-ca.crt";
  s.cert_file = dir.path / "missing.crt";
  s.key_file = dir.path / "missing.key";
  s.cursor_file = dir.path / "export.cursor";
  auto started = audit::SyslogExporter::start(
      s, []() -> Result<std::unique_ptr<audit::TrailReader>> { return fail(Errc::internal, "unused"); },
      [](const audit::Record&) { return std::string(); });
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("ca_file"), std::string::npos);
}
