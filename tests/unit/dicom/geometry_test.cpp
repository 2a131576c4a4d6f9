// Ingest-time checks of the pixel geometry (inspect_file ->
// detail::check_pixel_geometry) and of files that are no DICOM at all.
#include <gtest/gtest.h>

#include <string>

#include "dicom/inspect.h"
#include "test_support.h"

namespace tresor::dicom {
namespace {

using namespace test;

class PixelGeometry : public ::testing::Test {
protected:
  static void SetUpTestSuite() { init_globals(); }
  ScratchDir dir;
};

// US value (explicit VR LE).
std::string us(std::uint16_t g, std::uint16_t e, std::uint16_t v) { return tag_le(g, e) + "US" + u16le(2) + u16le(v); }

// A secondary capture with the given image attributes (explicit VR LE,
// sorted) followed by `pixel_data` (a whole Pixel Data element).
std::string image(std::uint16_t rows, std::uint16_t cols, std::uint16_t bits, const std::string& frames,
                  const std::string& pixel_data, const std::string& photometric = "MONOCHROME2",
                  std::uint16_t samples = 1) {
  std::string ds = ex_short(0x0008, 0x0016, "UI", kSopClass) + ex_short(0x0008, 0x0018, "UI", kSopInstance) +
                   ex_short(0x0020, 0x000D, "UI", kStudy) + ex_short(0x0020, 0x000E, "UI", kSeries) +
                   us(0x0028, 0x0002, samples) + ex_short(0x0028, 0x0004, "CS", photometric);
  if (!frames.empty()) ds += ex_short(0x0028, 0x0008, "IS", frames);
  ds += us(0x0028, 0x0010, rows) + us(0x0028, 0x0011, cols) + us(0x0028, 0x0100, bits) +
        us(0x0028, 0x0101, bits) + us(0x0028, 0x0102, std::uint16_t(bits - 1)) + us(0x0028, 0x0103, 0);
  return ds + pixel_data;
}

std::string native(std::uint32_t n) { return ex_long(0x7FE0, 0x0010, "OB", n, std::string(n, '\x7f')); }

TEST_F(PixelGeometry, RefusesNativePixelDataShorterThanItsDeclaredFrames) {
  // 4 x 4 x 8 bits x 2 frames = 32 bytes declared, 16 present.
  auto path = dir.write("short.dcm", part10_header(kExplicitLE) + image(4, 4, 8, "2", native(16)));
  auto r = inspect_file(path, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_NE(r.error().message.find("shorter"), std::string::npos) << r.error().message;
}

TEST_F(PixelGeometry, AcceptsNativePixelDataHoldingEveryFrameAndTrailingPadding) {
  EXPECT_TRUE(inspect_file(dir.write("exact.dcm", part10_header(kExplicitLE) + image(4, 4, 8, "2", native(32))), {}));
  EXPECT_TRUE(inspect_file(dir.write("pad.dcm", part10_header(kExplicitLE) + image(4, 4, 8, "2", native(40))), {}));
  EXPECT_TRUE(inspect_file(dir.write("one.dcm", part10_header(kExplicitLE) + image(4, 4, 8, "", native(16))), {}));
  // 1-bit: 5 x 5 = 25 bits -> 4 bytes, padded to an even length.
  EXPECT_TRUE(inspect_file(dir.write("bits.dcm", part10_header(kExplicitLE) + image(5, 5, 1, "", native(4))), {}));
}

TEST_F(PixelGeometry, RefusesAGeometryWhoseProductOverflowsSixtyFourBits) {
  // 65535 x 65535 x 64 bits x 2^31-1 frames: 5.9e20 bits, beyond 2^64.
  auto path = dir.write("huge.dcm", part10_header(kExplicitLE) + image(65535, 65535, 64, "2147483647", native(16)));
  auto r = inspect_file(path, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

TEST_F(PixelGeometry, RefusesZeroRowsAndAnOddBitsAllocated) {
  EXPECT_FALSE(inspect_file(dir.write("rows.dcm", part10_header(kExplicitLE) + image(0, 4, 8, "", native(16))), {}));
  EXPECT_FALSE(inspect_file(dir.write("bits.dcm", part10_header(kExplicitLE) + image(4, 4, 12, "", native(32))), {}));
  EXPECT_FALSE(inspect_file(dir.write("frames.dcm", part10_header(kExplicitLE) + image(4, 4, 8, "0", native(16))), {}));
}

TEST_F(PixelGeometry, AcceptsNativeYbrFull422WithTwoSamplesAPixel) {
  // pydicom's SC_ybr_full_422_uncompressed.dcm: 100 x 100 x 3 samples, 20,000 bytes (PS3.3 C.7.6.3.1.2).
  auto r = inspect_file(dir.copy_sample("SC_ybr_full_422_uncompressed.dcm"), {});
  EXPECT_TRUE(r) << r.error().message;
  // The same bytes declared RGB are short.
  auto rgb = dir.write("rgb.dcm", part10_header(kExplicitLE) + image(10, 10, 8, "", native(200), "RGB", 3));
  EXPECT_FALSE(inspect_file(rgb, {}));
  auto ybr = dir.write("ybr.dcm", part10_header(kExplicitLE) + image(10, 10, 8, "", native(200), "YBR_FULL_422", 3));
  EXPECT_TRUE(inspect_file(ybr, {}));
}

TEST_F(PixelGeometry, RefusesEncapsulatedPixelDataWithFewerFragmentsThanFrames) {
  const std::string jpeg = "1.2.840.10008.1.2.4.50";
  std::string two = ex_long(0x7FE0, 0x0010, "OB", 0xFFFFFFFFu) + item(0) + item(4) + "\xFF\xD8\xFF\xD9" + item(4) +
                    "\xFF\xD8\xFF\xD9" + seq_delim();
  EXPECT_TRUE(inspect_file(dir.write("two.dcm", part10_header(jpeg) + image(4, 4, 8, "2", two)), {}));
  auto r = inspect_file(dir.write("three.dcm", part10_header(jpeg) + image(4, 4, 8, "3", two)), {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("fragments"), std::string::npos) << r.error().message;
  std::string none = ex_long(0x7FE0, 0x0010, "OB", 0xFFFFFFFFu) + item(0) + seq_delim();
  EXPECT_FALSE(inspect_file(dir.write("none.dcm", part10_header(jpeg) + image(4, 4, 8, "", none)), {}));
}

TEST_F(PixelGeometry, RefusesPixelDataEncodedAgainstItsTransferSyntax) {
  std::string encapsulated = ex_long(0x7FE0, 0x0010, "OB", 0xFFFFFFFFu) + item(0) + item(4) + "\xFF\xD8\xFF\xD9" +
                             seq_delim();
  EXPECT_FALSE(inspect_file(dir.write("a.dcm", part10_header(kExplicitLE) + image(4, 4, 8, "", encapsulated)), {}));
  EXPECT_FALSE(inspect_file(dir.write("b.dcm", part10_header("1.2.840.10008.1.2.4.50") + image(4, 4, 8, "", native(16))), {}));
}

TEST_F(PixelGeometry, SaysNotADicomFileForTextAndAcceptsBareDataSets) {
  auto csv = dir.write("list.csv", "PatientID,Name\n1,Doe\n");
  auto r = inspect_file(csv, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "not a DICOM file");
  EXPECT_FALSE(looks_like_dicom(csv));
  EXPECT_FALSE(looks_like_dicom(dir.write("empty", "")));
  EXPECT_FALSE(looks_like_dicom(dir.copy_sample("README.txt")));
  EXPECT_FALSE(looks_like_dicom(dir.copy_sample("test1.json")));
  EXPECT_TRUE(looks_like_dicom(dir.copy_sample("CT_small.dcm")));
  EXPECT_TRUE(looks_like_dicom(dir.copy_sample("ExplVR_BigEndNoMeta.dcm")));
  EXPECT_TRUE(looks_like_dicom(dir.copy_sample("ExplVR_LitEndNoMeta.dcm")));
  EXPECT_TRUE(looks_like_dicom(dir.copy_sample("rtstruct.dcm")));
  // Truncated DICOM is DICOM: ingest refuses it with its own reason.
  EXPECT_TRUE(looks_like_dicom(dir.copy_sample("MR_truncated.dcm")));
}

} // namespace
} // namespace tresor::dicom
