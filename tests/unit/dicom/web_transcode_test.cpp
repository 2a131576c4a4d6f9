#include <gtest/gtest.h>

#include <string>

#include <dcmtk/dcmdata/dcmetinf.h>

#include "dicom/inspect.h"
#include "dicom/web.h"
#include "web_test_support.h"

namespace tresor::dicom {
namespace {

using namespace test;

constexpr const char* kRle = "1.2.840.10008.1.2.5";
constexpr const char* kJpegLsLossless = "1.2.840.10008.1.2.4.80";
constexpr const char* kJpegLosslessSv1 = "1.2.840.10008.1.2.4.70";
constexpr const char* kMrSop = "1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457";

class Transcode : public ::testing::Test {
protected:
  static void SetUpTestSuite() { init_globals(); }
  ScratchDir dir;
};

std::string meta_syntax(const fs::path& f) {
  DcmFileFormat ff;
  OFString ts;
  if (ff.loadFile(OFFilename(f.c_str())).bad()) return "unreadable";
  ff.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, ts);
  return ts.c_str();
}

std::string sop_instance(const fs::path& f) {
  DcmFileFormat ff;
  OFString uid;
  if (ff.loadFile(OFFilename(f.c_str())).bad()) return "unreadable";
  ff.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, uid);
  return uid.c_str();
}

TEST_F(Transcode, DecompressesRleToExplicitLittleEndian) {
  const fs::path in = dir.copy_sample("MR_small_RLE.dcm");
  const std::string before = read_bytes(in);
  const fs::path out = dir.path() / "out.dcm";
  auto s = transcode(in, out, kExplicitLE);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(meta_syntax(out), kExplicitLE);
  EXPECT_EQ(reference_pixels(out), reference_pixels(dir.copy_sample("MR_small.dcm")));
  EXPECT_EQ(read_bytes(in), before) << "input must not change";
  EXPECT_EQ(sop_instance(out), sop_instance(in));

  auto frame = read_frame(out, 1, "*");
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->transfer_syntax_uid, kExplicitLE);
}

TEST_F(Transcode, CompressesLosslesslyAndKeepsTheInstance) {
  const fs::path in = dir.copy_sample("MR_small.dcm");
  const std::string pixels = reference_pixels(in);
  ASSERT_FALSE(pixels.empty());
  for (const char* ts : {kRle, kJpegLsLossless, kJpegLosslessSv1, kImplicitLE}) {
    const fs::path out = dir.path() / (std::string("out-") + ts + ".dcm");
    auto s = transcode(in, out, ts);
    ASSERT_TRUE(s) << ts << ": " << s.error().message;
    EXPECT_EQ(meta_syntax(out), ts);
    EXPECT_EQ(reference_pixels(out), pixels) << ts;
    EXPECT_EQ(sop_instance(out), kMrSop) << ts;
  }
}

TEST_F(Transcode, ConvertsBetweenCompressedSyntaxes) {
  const fs::path in = dir.copy_sample("MR_small_RLE.dcm");
  const fs::path out = dir.path() / "jls.dcm";
  auto s = transcode(in, out, kJpegLsLossless);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(meta_syntax(out), kJpegLsLossless);
  EXPECT_EQ(reference_pixels(out), reference_pixels(dir.copy_sample("MR_small.dcm")));
}

TEST_F(Transcode, ConvertsBetweenNativeSyntaxes) {
  const fs::path be = dir.copy_sample("MR_small_bigendian.dcm");
  const std::string pixels = reference_pixels(dir.copy_sample("MR_small.dcm"));
  for (const char* ts : {kExplicitLE, "1.2.840.10008.1.2.1.99"}) {  // explicit LE, deflated
    const fs::path out = dir.path() / (std::string("native-") + ts + ".dcm");
    auto s = transcode(be, out, ts);
    ASSERT_TRUE(s) << ts << ": " << s.error().message;
    EXPECT_EQ(meta_syntax(out), ts);
    EXPECT_EQ(reference_pixels(out), pixels) << ts;
  }
}

TEST_F(Transcode, DecodesJpeg2000WithOpenJpeg) {
  const std::string native = reference_pixels(dir.copy_sample("MR_small.dcm"));
  for (const char* ts : {kExplicitLE, kRle}) {
    const fs::path out = dir.path() / "from_j2k.dcm";
    auto s = transcode(dir.copy_sample("MR_small_jp2klossless.dcm"), out, ts);
    ASSERT_TRUE(s) << ts << ": " << s.error().message;
    EXPECT_TRUE(reference_pixels(out) == native) << ts;
  }
  // YBR_RCT colour comes out as the RGB the decoder returns.
  const fs::path out = dir.path() / "rgb.dcm";
  ASSERT_TRUE(transcode(dir.copy_sample("GDCMJ2K_TextGBR.dcm"), out, kExplicitLE));
  DcmFileFormat ff;
  ASSERT_TRUE(ff.loadFile(OFFilename(out.c_str())).good());
  OFString pi;
  ASSERT_TRUE(ff.getDataset()->findAndGetOFString(DCM_PhotometricInterpretation, pi).good());
  EXPECT_EQ(std::string(pi.c_str()), "RGB");
  EXPECT_EQ(reference_pixels(out).size(), 400u * 400u * 3u);
}

TEST_F(Transcode, CopiesWhenTheSyntaxIsAlreadyStored) {
  const fs::path in = dir.copy_sample("MR_small_RLE.dcm");
  const fs::path out = dir.path() / "copy.dcm";
  ASSERT_TRUE(transcode(in, out, kRle));
  EXPECT_EQ(read_bytes(out), read_bytes(in));
}

TEST_F(Transcode, RefusesImpossibleConversionsWithoutLeavingAFile) {
  struct Case {
    const char* sample;
    const char* target;
    Errc code;
  };
  const Case cases[] = {
      {"MR_small_jp2klossless.dcm", "1.2.840.10008.1.2.4.50", Errc::unsupported},  // lossy
      {"MR_small.dcm", "1.2.840.10008.1.2.4.90", Errc::unsupported},   // no JPEG 2000 encoder
      {"MR_small.dcm", "1.2.840.10008.1.2.4.50", Errc::unsupported},   // lossy
      {"MR_small.dcm", "1.2.3.4", Errc::unsupported},                  // not a syntax DCMTK knows
      {"MR_small.dcm", "1.2.840.10008.1.2.1 ", Errc::invalid_argument},
      {"MR_small.dcm", "", Errc::invalid_argument},
  };
  for (const auto& c : cases) {
    const fs::path out = dir.path() / "refused.dcm";
    auto s = transcode(dir.copy_sample(c.sample), out, c.target);
    ASSERT_FALSE(s) << c.sample << " -> " << c.target;
    EXPECT_EQ(s.error().code, c.code) << c.sample << " -> " << c.target;
    EXPECT_FALSE(fs::exists(out));
  }
  int leftovers = 0;
  for (const auto& e : fs::directory_iterator(dir.path()))
    if (e.path().filename().string().starts_with(".")) ++leftovers;
  EXPECT_EQ(leftovers, 0);
}

TEST_F(Transcode, ConvertsObjectsWithoutPixelData) {
  const fs::path in = dir.copy_sample("rtplan.dcm");
  const fs::path out = dir.path() / "plan.dcm";
  auto s = transcode(in, out, kExplicitLE);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(meta_syntax(out), kExplicitLE);
}

} // namespace
} // namespace tresor::dicom
