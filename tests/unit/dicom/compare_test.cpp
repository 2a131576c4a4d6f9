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

TEST_F(SameDataset, HoldsForOneInstanceInEveryLosslessTransferSyntaxDcmtkDecodes) {
  const auto original = stored("MR_small.dcm");
  for (const char* name : {"MR_small.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm", "MR_small_implicit.dcm",
                           "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_padded.dcm"}) {
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

TEST_F(SameDataset, CannotTellWithoutAJpeg2000Decoder) {
  const auto original = stored("MR_small.dcm");
  ScratchDir other;
  auto p = other.copy_sample("MR_small_jp2klossless.dcm");
  ASSERT_TRUE(inspect_file(p, {}));
  auto same = same_dataset(original, p);
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().code, Errc::unsupported);
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
