#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dicom/inspect.h"
#include "dicom/web.h"
#include "web_test_support.h"

namespace tresor::dicom {
namespace {

using namespace test;
using nlohmann::json;

constexpr const char* kUrl = "https://pacs.example:8443/dicom-web/studies/1/series/2/instances/3";

class DicomJson : public ::testing::Test {
protected:
  static void SetUpTestSuite() { init_globals(); }
  json to_json(const fs::path& file, const JsonOptions& options = {kUrl, 1024}) {
    auto r = to_dicom_json(file, options);
    EXPECT_TRUE(r) << file << ": " << (r ? "" : r.error().message);
    if (!r) return json();
    return json::parse(*r);
  }
  ScratchDir dir;
};

std::string fd_bytes(double v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

// A hand-made object exercising the value encodings that pydicom's samples
// lack: invalid UTF-8, IS/DS spellings, empty values, control characters.
std::string crafted_object() {
  return part10_header(kExplicitLE) + ex_short(0x0008, 0x0016, "UI", kSopClass) +
         ex_short(0x0008, 0x0018, "UI", kSopInstance) + ex_short(0x0008, 0x0020, "DA", "") +
         ex_short(0x0010, 0x0010, "PN", "Bad\xff^Name=") + ex_short(0x0018, 0x0050, "DS", "+.5") +
         ex_short(0x0018, 0x0088, "DS", "1\\\\-3.E2") + ex_short(0x0018, 0x9087, "FD", fd_bytes(1.5)) +
         ex_short(0x0020, 0x0013, "IS", "abc") + ex_short(0x0020, 0x4000, "LT", "a\r\n\"b\\c\x01 ") +
         ex_short(0x0028, 0x0009, "AT", tag_le(0x0018, 0x1063)) + ex_short(0x0028, 0x0010, "US", u16le(7)) +
         ex_long(0x0042, 0x0011, "OB", 4, std::string("\x01\x02\x03\x04", 4));
}

TEST_F(DicomJson, IsValidJsonForEverySampleDcmtkCanParse) {
  std::vector<fs::path> samples;
  for (const auto& d : {kSamples, kCharsets})
    for (const auto& e : fs::directory_iterator(d))
      if (e.path().extension() == ".dcm") samples.push_back(e.path());
  int converted = 0;
  for (const auto& sample : samples) {
    const fs::path copy = dir.path() / sample.filename();
    fs::copy_file(sample, copy, fs::copy_options::overwrite_existing);
    for (const std::string& url : {std::string(kUrl), std::string()}) {
      auto r = to_dicom_json(copy, {url, 64});
      if (!r) {
        // Only objects DCMTK refuses (no meta header, truncated, ...) fail.
        DcmFileFormat ff;
        EXPECT_TRUE(ff.loadFile(OFFilename(copy.c_str()), EXS_Unknown, EGL_noChange, 4096, ERM_fileOnly).bad())
            << sample << ": " << r.error().message;
        EXPECT_EQ(r.error().code, Errc::corrupt) << sample;
        continue;
      }
      json j;
      EXPECT_NO_THROW(j = json::parse(*r)) << sample;
      EXPECT_TRUE(j.is_object()) << sample;
      ++converted;
    }
  }
  EXPECT_GE(converted, 2 * 60);
}

TEST_F(DicomJson, WritesCtSmallValuesWithTheirJsonTypes) {
  const json j = to_json(dir.copy_sample("CT_small.dcm"));
  EXPECT_FALSE(j.contains("00020010")) << "meta header must be left out";
  EXPECT_EQ(j["00100010"]["vr"], "PN");
  EXPECT_EQ(j["00100010"]["Value"][0]["Alphabetic"], "CompressedSamples^CT1");
  EXPECT_EQ(j["00280010"]["vr"], "US");
  EXPECT_EQ(j["00280010"]["Value"][0], 128);
  EXPECT_EQ(j["00080018"]["Value"][0], "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322");
  EXPECT_EQ(j["00080060"]["Value"][0], "CT");
  ASSERT_TRUE(j["00180050"]["Value"][0].is_number());  // SliceThickness DS "5.000000"
  EXPECT_DOUBLE_EQ(j["00180050"]["Value"][0].get<double>(), 5.0);
  ASSERT_EQ(j["00200032"]["Value"].size(), 3u);  // ImagePositionPatient, multi-valued DS
  EXPECT_DOUBLE_EQ(j["00200032"]["Value"][2].get<double>(), -75.699997);
  EXPECT_DOUBLE_EQ(j["00281052"]["Value"][0].get<double>(), -1024.0);
  EXPECT_EQ(j["7FE00010"]["vr"], "OW");
  EXPECT_EQ(j["7FE00010"]["BulkDataURI"], std::string(kUrl) + "/bulk/7fe00010");
  EXPECT_FALSE(j["7FE00010"].contains("InlineBinary"));
}

TEST_F(DicomJson, LeavesBulkDataOutWithoutAnInstanceUrl) {
  const json j = to_json(dir.copy_sample("CT_small.dcm"), {"", 1024});
  EXPECT_FALSE(j.contains("7FE00010"));
  EXPECT_TRUE(j.contains("00100010"));
}

TEST_F(DicomJson, GivesEncapsulatedPixelDataABulkDataUri) {
  const json j = to_json(dir.copy_sample("MR_small_RLE.dcm"));
  EXPECT_EQ(j["7FE00010"]["vr"], "OB");
  EXPECT_EQ(j["7FE00010"]["BulkDataURI"], std::string(kUrl) + "/bulk/7fe00010");
}

TEST_F(DicomJson, NestsSequencesAndAddressesNestedBulkDataByPath) {
  const fs::path plan = dir.copy_sample("rtplan.dcm");
  const json j = to_json(plan);
  const json& beams = j["300A00B0"];
  EXPECT_EQ(beams["vr"], "SQ");
  ASSERT_TRUE(beams["Value"].is_array());
  ASSERT_GE(beams["Value"].size(), 1u);
  EXPECT_EQ(beams["Value"][0]["300A00C2"]["Value"][0], "Field 1");  // BeamName
  EXPECT_EQ(beams["Value"][0]["300A00C0"]["Value"][0], 1);          // BeamNumber IS -> number
  const json& cp = beams["Value"][0]["300A0111"]["Value"][0];       // ControlPointSequence
  EXPECT_DOUBLE_EQ(cp["300A0114"]["Value"][0].get<double>(), 6.0);  // NominalBeamEnergy

  // With a tiny threshold the beam name is bulk data addressed by its path.
  const json small = to_json(plan, {kUrl, 4});
  const std::string path = "300a00b0/0/300a00c2";
  EXPECT_EQ(small["300A00B0"]["Value"][0]["300A00C2"]["BulkDataURI"], std::string(kUrl) + "/bulk/" + path);
  auto v = bulk_value(plan, path);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, "Field 1 ");
}

TEST_F(DicomJson, ConvertsSpecificCharacterSetsToUtf8) {
  struct Case {
    const char* file;
    const char* alphabetic;
    const char* ideographic;
    const char* phonetic;
  };
  const Case cases[] = {
      {"chrGerm.dcm", "Äneas^Rüdiger", nullptr, nullptr},
      {"chrFren.dcm", "Buc^Jérôme", nullptr, nullptr},
      {"chrRuss.dcm", "Люкceмбypг", nullptr, nullptr},
      {"chrGreek.dcm", "Διονυσιος", nullptr, nullptr},
      {"chrArab.dcm", "قباني^لنزار", nullptr, nullptr},
      {"chrHbrw.dcm", "שרון^דבורה", nullptr, nullptr},
      {"chrH31.dcm", "Yamada^Tarou", "山田^太郎", "やまだ^たろう"},
      {"chrH32.dcm", "ﾔﾏﾀﾞ^ﾀﾛｳ", "山田^太郎", "やまだ^たろう"},
      {"chrI2.dcm", "Hong^Gildong", "洪^吉洞", "홍^길동"},
      {"chrX1.dcm", "Wang^XiaoDong", "王^小東", nullptr},
      {"chrX2.dcm", "Wang^XiaoDong", "王^小东", nullptr},
      {"chrJapMulti.dcm", "やまだ^たろう", nullptr, nullptr},
      {"chrJapMultiExplicitIR6.dcm", "やまだ^たろう", nullptr, nullptr},
      {"chrKoreanMulti.dcm", "김희중", nullptr, nullptr},
  };
  for (const auto& c : cases) {
    fs::copy_file(kCharsets / c.file, dir.path() / c.file);
    const json j = to_json(dir.path() / c.file);
    const json& pn = j["00100010"]["Value"][0];
    EXPECT_EQ(pn["Alphabetic"], c.alphabetic) << c.file;
    if (c.ideographic) {
      EXPECT_EQ(pn["Ideographic"], c.ideographic) << c.file;
    }
    if (c.phonetic) {
      EXPECT_EQ(pn["Phonetic"], c.phonetic) << c.file;
    }
  }
}

TEST_F(DicomJson, UsesTheCharacterSetOfEachSequenceItem) {
  for (const char* file : {"chrSQEncoding.dcm", "chrSQEncoding1.dcm"}) {
    fs::copy_file(kCharsets / file, dir.path() / file);
    const json j = to_json(dir.path() / file);
    const json& pn = j["00321064"]["Value"][0]["00100010"]["Value"][0];
    EXPECT_EQ(pn["Alphabetic"], "ﾔﾏﾀﾞ^ﾀﾛｳ") << file;
    EXPECT_EQ(pn["Ideographic"], "山田^太郎") << file;
    EXPECT_EQ(pn["Phonetic"], "やまだ^たろう") << file;
    EXPECT_EQ(j["00321032"]["Value"][0]["Alphabetic"], "Doctor^Who^^MD") << file;
  }
}

TEST_F(DicomJson, EncodesEdgeCaseValuesAsValidJson) {
  const fs::path f = dir.write("crafted.dcm", crafted_object());
  auto r = to_dicom_json(f, {kUrl, 1024});
  ASSERT_TRUE(r) << r.error().message;
  json j;
  ASSERT_NO_THROW(j = json::parse(*r)) << *r;
  EXPECT_EQ(j["00080020"], json({{"vr", "DA"}}));                               // empty -> no Value
  EXPECT_EQ(j["00100010"]["Value"][0]["Alphabetic"], "Bad\xEF\xBF\xBD^Name");  // invalid byte -> U+FFFD
  EXPECT_FALSE(j["00100010"]["Value"][0].contains("Ideographic"));
  EXPECT_EQ(j["00180050"]["Value"][0], 0.5);                                    // "+.5"
  EXPECT_EQ(j["00180088"]["Value"], json::parse("[1, null, -300.0]"));          // "1\\-3.E2"
  EXPECT_EQ(j["00189087"]["Value"][0], 1.5);                                    // FD
  EXPECT_EQ(j["00200013"]["Value"][0], "abc");                                  // not a number: kept as string
  EXPECT_EQ(j["00204000"]["Value"][0], "a\r\n\"b\\c\x01");                      // escaped, trailing space gone
  EXPECT_EQ(j["00280009"]["Value"][0], "00181063");                             // AT
  EXPECT_EQ(j["00280010"]["Value"][0], 7);
  EXPECT_EQ(j["00420011"]["InlineBinary"], "AQIDBA==");
}

TEST_F(DicomJson, StaysValidJsonForGarbledIso2022Strings) {
  std::uint32_t seed = 12345;
  auto next = [&] {
    seed = seed * 1103515245u + 12345u;
    return static_cast<unsigned char>(seed >> 16);
  };
  const std::string pieces[] = {"\x1b$B", "\x1b(B", "\x1b$)C", "\x1b(J", "\x1b)I", "\x1b-A", "\x1b", "^", "=", "\\"};
  for (const char* charset : {"\\ISO 2022 IR 87", "\\ISO 2022 IR 149", "ISO 2022 IR 13\\ISO 2022 IR 87", "ISO_IR 192",
                              "GB18030", "ISO_IR 100", "NOT A CHARSET"}) {
    for (int round = 0; round < 20; ++round) {
      std::string value;
      for (int k = 0; k < 24; ++k) {
        const unsigned char r = next();
        if (r < 60) value += pieces[r % 10];
        else value.push_back(char(next()));
      }
      const std::string object = part10_header(kExplicitLE) + ex_short(0x0008, 0x0005, "CS", charset) +
                                 ex_short(0x0008, 0x0018, "UI", kSopInstance) + ex_short(0x0010, 0x0010, "PN", value) +
                                 ex_short(0x0010, 0x0020, "LO", value) + ex_short(0x0010, 0x4000, "LT", value);
      auto r = to_dicom_json(dir.write("garbled.dcm", object), {kUrl, 1024});
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_TRUE(json::accept(*r)) << charset;
    }
  }
}

TEST_F(DicomJson, ServesBulkValuesAsStoredBytes) {
  const fs::path ct = dir.copy_sample("CT_small.dcm");
  auto px = bulk_value(ct, "7fe00010");
  ASSERT_TRUE(px) << px.error().message;
  EXPECT_EQ(px->size(), 128u * 128u * 2u);
  EXPECT_EQ(*px, reference_pixels(ct));

  auto upper = bulk_value(ct, "7FE00010");
  ASSERT_TRUE(upper);
  EXPECT_EQ(*upper, *px);
}

TEST_F(DicomJson, RefusesBulkRequestsThatAreNotBulkData) {
  const fs::path rle = dir.copy_sample("MR_small_RLE.dcm");
  auto enc = bulk_value(rle, "7fe00010");
  ASSERT_FALSE(enc);
  EXPECT_EQ(enc.error().code, Errc::invalid_argument);

  const fs::path plan = dir.copy_sample("rtplan.dcm");
  for (const char* bad : {"", "7fe0001", "7fe00010/", "xyz00010", "300a00b0/0", "300a00b0/-1/300a00c2",
                          "300a00b0/a/300a00c2", "7fe00010//7fe00010"}) {
    auto r = bulk_value(plan, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << bad;
  }
  auto seq = bulk_value(plan, "300a00b0");
  ASSERT_FALSE(seq);
  EXPECT_EQ(seq.error().code, Errc::invalid_argument);

  for (const char* absent : {"7fe00010", "300a00b0/99/300a00c2", "00020010"}) {
    auto r = bulk_value(plan, absent);
    ASSERT_FALSE(r) << absent;
    EXPECT_EQ(r.error().code, Errc::not_found) << absent;
  }
}

TEST_F(DicomJson, ReportsMissingAndUnparsableFiles) {
  auto missing = to_dicom_json(dir.path() / "nope.dcm", {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  auto garbage = to_dicom_json(dir.write("garbage.dcm", std::string(300, 'x')), {});
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, Errc::corrupt);
}

} // namespace
} // namespace tresor::dicom
