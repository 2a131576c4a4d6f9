// dicom::same_dataset: one instance in several transfer syntaxes is the same
// data set; other content is not.
#include <gtest/gtest.h>

#include <string>

#include "dicom/compare.h"
#include "dicom/inspect.h"
#include "test_support.h"

namespace tresor::dicom {
namespace {

using namespace test;

class SameDataset : public ::testing::Test {
protected:
  static void SetUpTestSuite() { init_globals(); }
  // A sample as the store holds it (inspected: Part-10, zero preamble).
  fs::path stored(const std::string& name) {
    auto p = dir.copy_sample(name);
    auto r = inspect_file(p, {});
    EXPECT_TRUE(r) << name << ": " << (r ? "" : r.error().message);
    return p;
  }
  ScratchDir dir;
};

TEST_F(SameDataset, HoldsForOneInstanceInEveryLosslessTransferSyntax) {
  const auto original = stored("MR_small.dcm");
  for (const char* name : {"MR_small.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm", "MR_small_implicit.dcm",
                           "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_padded.dcm",
                           "MR_small_jp2klossless.dcm"}) {
    ScratchDir other;
    auto p = other.copy_sample(name);
    ASSERT_TRUE(inspect_file(p, {})) << name;
    auto same = same_dataset(original, p);
    ASSERT_TRUE(same) << name << ": " << same.error().message;
    EXPECT_TRUE(*same) << name;
    auto back = same_dataset(p, original);
    ASSERT_TRUE(back) << name;
    EXPECT_TRUE(*back) << name;
  }
}

TEST_F(SameDataset, DecodesJpeg2000WithOpenJpegAndComparesItBitForBit) {
  const auto original = stored("MR_small.dcm");
  // One byte of the JPEG 2000 codestream changed: other pixels, or an
  // undecodable frame; never the same data set.
  std::string bytes = read_bytes(dir.copy_sample("MR_small_jp2klossless.dcm"));
  const auto soc = bytes.find(std::string("\xFF\x4F\xFF\x51", 4));
  ASSERT_NE(soc, std::string::npos);
  bytes[bytes.size() - 600] ^= 0x21;
  auto changed = dir.write("j2k_changed.dcm", bytes);
  auto same = same_dataset(original, changed);
  EXPECT_FALSE(same && *same);
  // Lossy JPEG 2000 and YBR_RCT colour: each the same as itself.
  for (const char* name : {"JPEG2000.dcm", "SC_rgb_gdcm_KY.dcm", "GDCMJ2K_TextGBR.dcm"}) {
    ScratchDir a, b;
    auto self = same_dataset(a.copy_sample(name), b.copy_sample(name));
    ASSERT_TRUE(self) << name << ": " << self.error().message;
    EXPECT_TRUE(*self) << name;
  }
  // A codestream that disagrees with the data set cannot be compared.
  auto mismatch = same_dataset(dir.copy_sample("J2K_pixelrep_mismatch.dcm"), dir.copy_sample("J2K_pixelrep_mismatch.dcm"));
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, Errc::corrupt);
}

TEST_F(SameDataset, FailsForOtherContentUnderTheSameUid) {
  // rtdose.dcm (15 frames) and rtdose_1frame.dcm share their SOP Instance UID.
  ScratchDir a, b;
  auto many = a.copy_sample("rtdose.dcm");
  auto one = b.copy_sample("rtdose_1frame.dcm");
  auto same = same_dataset(many, one);
  ASSERT_TRUE(same) << same.error().message;
  EXPECT_FALSE(*same);
  // One changed pixel is another data set.
  std::string bytes = read_bytes(dir.copy_sample("MR_small.dcm"));
  const auto px = bytes.find(std::string("\xE0\x7F\x10\x00OW", 6));  // Pixel Data, explicit VR LE
  ASSERT_NE(px, std::string::npos);
  bytes[px + 12 + 4000] ^= 1;
  auto changed = dir.write("changed.dcm", bytes);
  auto original = stored("CT_small.dcm");
  EXPECT_FALSE(*same_dataset(dir.path() / "MR_small.dcm", changed));
  EXPECT_FALSE(*same_dataset(original, changed));
}

TEST_F(SameDataset, RefusesToDecodeMoreThanTheCap) {
  const auto original = stored("MR_small.dcm");
  auto same = same_dataset(original, original, 1024);  // 8,192 bytes of pixels
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().code, Errc::unsupported);
}

} // namespace
} // namespace tresor::dicom
