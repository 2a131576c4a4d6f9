#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "dicom/inspect.h"
#include "dicom/web.h"
#include "web_test_support.h"

namespace tresor::dicom {
namespace {

using namespace test;

constexpr const char* kRle = "1.2.840.10008.1.2.5";
constexpr const char* kJpegLsLossless = "1.2.840.10008.1.2.4.80";
constexpr const char* kJ2kLossless = "1.2.840.10008.1.2.4.90";

class Frames : public ::testing::Test {
protected:
  static void SetUpTestSuite() { init_globals(); }
  ScratchDir dir;
};

TEST_F(Frames, DescribesPixelDataOfNativeEncapsulatedAndImagelessObjects) {
  auto ct = frame_info(dir.copy_sample("CT_small.dcm"));
  ASSERT_TRUE(ct) << ct.error().message;
  EXPECT_EQ(ct->number_of_frames, 1u);
  EXPECT_EQ(ct->transfer_syntax_uid, kExplicitLE);
  EXPECT_FALSE(ct->encapsulated);

  auto dose = frame_info(dir.copy_sample("rtdose.dcm"));
  ASSERT_TRUE(dose);
  EXPECT_EQ(dose->number_of_frames, 15u);
  EXPECT_EQ(dose->transfer_syntax_uid, kImplicitLE);

  auto rle = frame_info(dir.copy_sample("SC_rgb_rle_2frame.dcm"));
  ASSERT_TRUE(rle);
  EXPECT_EQ(rle->number_of_frames, 2u);
  EXPECT_EQ(rle->transfer_syntax_uid, kRle);
  EXPECT_TRUE(rle->encapsulated);

  auto plan = frame_info(dir.copy_sample("rtplan.dcm"));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->number_of_frames, 0u);
}

TEST_F(Frames, ReturnsTheNativeFrameAsStored) {
  const fs::path mr = dir.copy_sample("MR_small.dcm");
  auto f = read_frame(mr, 1, "*");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->bytes.size(), 64u * 64u * 2u);
  EXPECT_EQ(f->bytes, reference_pixels(mr));
  EXPECT_EQ(f->transfer_syntax_uid, kExplicitLE);
  EXPECT_EQ(f->media_type, "application/octet-stream");

  auto same = read_frame(mr, 1, kExplicitLE);
  ASSERT_TRUE(same);
  EXPECT_EQ(same->bytes, f->bytes);
}

TEST_F(Frames, SlicesOneFrameOutOfAMultiFrameObject) {
  const fs::path dose = dir.copy_sample("rtdose.dcm");
  const std::string all = reference_pixels(dose);
  constexpr std::size_t kFrame = 10 * 10 * 4;
  ASSERT_EQ(all.size(), 15 * kFrame);
  for (std::uint32_t n : {1u, 7u, 15u}) {
    auto f = read_frame(dose, n, "*");
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_EQ(f->bytes, all.substr((n - 1) * kFrame, kFrame)) << n;
    EXPECT_EQ(f->transfer_syntax_uid, kImplicitLE);
  }
}

TEST_F(Frames, ConvertsBigEndianFramesToLittleEndian) {
  const fs::path le = dir.copy_sample("rtdose.dcm");
  const fs::path be = dir.copy_sample("rtdose_expb.dcm");
  auto a = read_frame(le, 4, "*");
  auto b = read_frame(be, 4, kExplicitLE);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(b->transfer_syntax_uid, kExplicitLE);
  EXPECT_EQ(a->bytes, b->bytes);
  auto stored = read_frame(be, 4, "*");
  ASSERT_TRUE(stored);
  EXPECT_NE(stored->bytes, a->bytes);  // big endian as stored
}

TEST_F(Frames, PacksOneBitFrames) {
  auto f = read_frame(dir.copy_sample("liver_1frame.dcm"), 1, "*");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->bytes.size(), 512u * 512u / 8u);
}

TEST_F(Frames, RejectsFrameNumbersOutOfRange) {
  const fs::path dose = dir.copy_sample("rtdose.dcm");
  for (std::uint32_t n : {0u, 16u, 0xFFFFFFFFu}) {
    auto f = read_frame(dose, n, "*");
    ASSERT_FALSE(f) << n;
    EXPECT_EQ(f.error().code, Errc::invalid_argument) << n;
  }
  auto none = read_frame(dir.copy_sample("rtplan.dcm"), 1, "*");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::not_found);
}

TEST_F(Frames, RefusesOtherTargetSyntaxes) {
  const fs::path mr = dir.copy_sample("MR_small.dcm");
  auto lossy = read_frame(mr, 1, "1.2.840.10008.1.2.4.50");
  ASSERT_FALSE(lossy);
  EXPECT_EQ(lossy.error().code, Errc::unsupported);
  auto malformed = read_frame(mr, 1, "not-a-uid");
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().code, Errc::invalid_argument);
}

TEST_F(Frames, ReturnsTheCompressedBitstreamAsStored) {
  auto rle = read_frame(dir.copy_sample("MR_small_RLE.dcm"), 1, kRle);
  ASSERT_TRUE(rle) << rle.error().message;
  EXPECT_EQ(rle->media_type, "image/x-dicom-rle");
  EXPECT_EQ(rle->transfer_syntax_uid, kRle);
  ASSERT_GE(rle->bytes.size(), 64u);
  EXPECT_EQ(rle->bytes[0], 2);  // RLE header: two segments for 16-bit grey

  auto jpeg = read_frame(dir.copy_sample("SC_rgb_jpeg_dcmtk.dcm"), 1, "*");
  ASSERT_TRUE(jpeg) << jpeg.error().message;
  EXPECT_TRUE(is_jpeg(jpeg->bytes));
  EXPECT_EQ(jpeg->media_type, "image/jpeg");

  auto jls = read_frame(dir.copy_sample("MR_small_jpeg_ls_lossless.dcm"), 1, "*");
  ASSERT_TRUE(jls);
  EXPECT_TRUE(is_jpeg(jls->bytes));  // JPEG-LS starts with SOI too
  EXPECT_EQ(jls->media_type, "image/jls");

  auto j2k = read_frame(dir.copy_sample("MR_small_jp2klossless.dcm"), 1, "*");
  ASSERT_TRUE(j2k) << j2k.error().message;
  EXPECT_EQ(j2k->media_type, "image/jp2");
  EXPECT_EQ(j2k->transfer_syntax_uid, kJ2kLossless);
}

TEST_F(Frames, SplitsMultiFrameEncapsulatedPixelData) {
  const fs::path f = dir.copy_sample("SC_rgb_rle_2frame.dcm");
  auto a = read_frame(f, 1, "*");
  auto b = read_frame(f, 2, "*");
  ASSERT_TRUE(a && b);
  EXPECT_GE(a->bytes.size(), 64u);
  EXPECT_GE(b->bytes.size(), 64u);
  EXPECT_EQ(a->bytes[0], 3);  // three segments for 8-bit RGB
  EXPECT_EQ(b->bytes[0], 3);
}

TEST_F(Frames, DecodesLosslessFramesToTheNativePixels) {
  const std::string native = reference_pixels(dir.copy_sample("MR_small.dcm"));
  ASSERT_EQ(native.size(), 64u * 64u * 2u);
  for (const char* name : {"MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm"}) {
    auto f = read_frame(dir.copy_sample(name), 1, kExplicitLE);
    ASSERT_TRUE(f) << name << ": " << f.error().message;
    EXPECT_EQ(f->transfer_syntax_uid, kExplicitLE);
    EXPECT_EQ(f->media_type, "application/octet-stream");
    EXPECT_TRUE(f->bytes == native) << name;
  }
}

TEST_F(Frames, DecodesOneFrameOfMultiFrameRle) {
  const std::string native = reference_pixels(dir.copy_sample("rtdose.dcm"));
  const fs::path rle = dir.copy_sample("rtdose_rle.dcm");
  constexpr std::size_t kFrame = 10 * 10 * 4;
  for (std::uint32_t n : {1u, 9u, 15u}) {
    auto f = read_frame(rle, n, kExplicitLE);
    ASSERT_TRUE(f) << n << ": " << f.error().message;
    EXPECT_EQ(f->bytes, native.substr((n - 1) * kFrame, kFrame)) << n;
  }
  const fs::path rgb = dir.copy_sample("SC_rgb_rle_2frame.dcm");
  const std::string rgb_all = reference_pixels(rgb);
  auto second = read_frame(rgb, 2, kExplicitLE);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->bytes, rgb_all.substr(100 * 100 * 3));
}

TEST_F(Frames, DecodesJpegBaselineFrames) {
  const fs::path f = dir.copy_sample("SC_rgb_jpeg_dcmtk.dcm");
  auto d = read_frame(f, 1, kExplicitLE);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->bytes.size(), 100u * 100u * 3u);
  EXPECT_EQ(d->bytes, reference_pixels(f));
}

TEST_F(Frames, DecodesJpeg2000FramesWithOpenJpeg) {
  const std::string native = reference_pixels(dir.copy_sample("MR_small.dcm"));
  auto f = read_frame(dir.copy_sample("MR_small_jp2klossless.dcm"), 1, kExplicitLE);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->transfer_syntax_uid, kExplicitLE);
  EXPECT_EQ(f->media_type, "application/octet-stream");
  EXPECT_TRUE(f->bytes == native);
  // Lossy, 1024 x 256 x 16 bits; 100 x 100 RGB.
  auto lossy = read_frame(dir.copy_sample("JPEG2000.dcm"), 1, kExplicitLE);
  ASSERT_TRUE(lossy) << lossy.error().message;
  EXPECT_EQ(lossy->bytes.size(), 1024u * 256u * 2u);
  auto rgb = read_frame(dir.copy_sample("SC_rgb_gdcm_KY.dcm"), 1, kExplicitLE);
  ASSERT_TRUE(rgb) << rgb.error().message;
  EXPECT_EQ(rgb->bytes.size(), 100u * 100u * 3u);
}

TEST_F(Frames, MapsTransferSyntaxesToMediaTypes) {
  EXPECT_EQ(media_type_of(kExplicitLE), "application/octet-stream");
  EXPECT_EQ(media_type_of(kImplicitLE), "application/octet-stream");
  EXPECT_EQ(media_type_of("1.2.840.10008.1.2.4.50"), "image/jpeg");
  EXPECT_EQ(media_type_of("1.2.840.10008.1.2.4.57"), "image/jpeg");
  EXPECT_EQ(media_type_of("1.2.840.10008.1.2.4.70"), "image/jpeg");
  EXPECT_EQ(media_type_of(kJpegLsLossless), "image/jls");
  EXPECT_EQ(media_type_of("1.2.840.10008.1.2.4.81"), "image/jls");
  EXPECT_EQ(media_type_of(kJ2kLossless), "image/jp2");
  EXPECT_EQ(media_type_of("1.2.840.10008.1.2.4.91"), "image/jp2");
  EXPECT_EQ(media_type_of(kRle), "image/x-dicom-rle");
  EXPECT_EQ(media_type_of("1.2.840.10008.1.2.4.100"), "video/mpeg");
  EXPECT_EQ(media_type_of("1.2.840.10008.1.2.4.102"), "video/mp4");
  EXPECT_EQ(media_type_of("1.2.840.10008.1.2.4.5"), "application/octet-stream");
}

// MR_small_RLE.dcm with the second RLE segment offset of its frame set to
// `offset` (the header is 2 segments: 02 00 00 00 40 00 00 00 <offset>).
fs::path rle_with_second_offset(const fs::path& file, std::uint32_t offset) {
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string header("\x02\0\0\0\x40\0\0\0", 8);
  const auto at = bytes.find(header);
  if (at == std::string::npos) return {};
  for (int i = 0; i < 4; ++i) bytes[at + 8 + i] = static_cast<char>((offset >> (8 * i)) & 0xFF);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  return file;
}

TEST_F(Frames, RefusesRleSegmentOffsetsOutsideTheFragmentInsteadOfReadingPastIt) {
  // fuzz_dicom_inspect found DCMTK's RLE decoder reading wherever the
  // header's offsets point (regression rle_segment_offset_past_fragment.dcm).
  for (std::uint32_t offset : {0x7FFFFFF0u, 0x30u, 0x41u}) {
    const fs::path f = rle_with_second_offset(dir.copy_sample("MR_small_RLE.dcm"), offset);
    ASSERT_FALSE(f.empty());
    auto decoded = read_frame(f, 1, kExplicitLE);
    ASSERT_FALSE(decoded) << offset;
    EXPECT_EQ(decoded.error().code, Errc::corrupt) << decoded.error().message;
    auto image = render(f, RenderOptions{});
    ASSERT_FALSE(image) << offset;
    EXPECT_EQ(image.error().code, Errc::corrupt) << image.error().message;
    // The bitstream as stored is still served: it is the client's to decode.
    EXPECT_TRUE(read_frame(f, 1, kRle));
  }
  // The untouched file still decodes.
  EXPECT_TRUE(read_frame(dir.copy_sample("MR_small_RLE.dcm"), 1, kExplicitLE));
}

TEST_F(Frames, DecodesEveryRleSampleDcmtkDecodesDespiteTheHeaderChecks) {
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(kSamples)) {
    const std::string name = entry.path().filename().string();
    if (name.find("rle") == std::string::npos && name.find("RLE") == std::string::npos) continue;
    const fs::path f = dir.copy_sample(name);
    const std::string reference = reference_pixels(f);
    if (reference.empty()) continue;
    auto info = frame_info(f);
    ASSERT_TRUE(info) << name;
    for (std::uint32_t n = 1; n <= info->number_of_frames; ++n) {
      auto frame = read_frame(f, n, kExplicitLE);
      ASSERT_TRUE(frame) << name << " frame " << n << ": " << frame.error().message;
      const std::size_t size = reference.size() / info->number_of_frames;
      EXPECT_EQ(frame->bytes, reference.substr((n - 1) * size, size)) << name << " frame " << n;
    }
    ++checked;
  }
  EXPECT_GE(checked, 8);
}

} // namespace
} // namespace tresor::dicom
