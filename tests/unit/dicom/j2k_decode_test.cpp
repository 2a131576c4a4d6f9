// detail::decode_j2k_frame (OpenJPEG): JPEG 2000 frames decoded to native
// pixels, checked against the data set's geometry, bounded, and errors as
// values for damaged codestreams.
#include <gtest/gtest.h>

#include <string>

#include "dicom/inspect.h"
#include "dicom/j2k_decode.h"
#include "dicom/web.h"
#include "test_support.h"
#include "web_test_support.h"

namespace tresor::dicom {
namespace {

using namespace test;
using detail::decode_j2k_frame;
using detail::J2kGeometry;

constexpr std::uint64_t kCap = 64u << 20;

class J2kDecode : public ::testing::Test {
protected:
  static void SetUpTestSuite() { init_globals(); }
  // Frame 1 of a sample as stored: the codestream.
  std::string codestream(const std::string& name) {
    auto f = read_frame(dir.copy_sample(name), 1, "*");
    EXPECT_TRUE(f) << name << ": " << (f ? "" : f.error().message);
    return f ? f->bytes : std::string();
  }
  // MR_small: 64 x 64, one sample, 16 bits allocated and stored, signed.
  static J2kGeometry mr_small() { return J2kGeometry{64, 64, 1, 16, 16, true}; }
  ScratchDir dir;
};

// A JP2 file around a raw codestream (ISO/IEC 15444-1 Annex I): signature,
// file type, header (image header + colour specification), codestream.
std::string jp2_of(const std::string& cs, std::uint32_t rows, std::uint32_t cols, std::uint8_t bpc) {
  auto be32 = [](std::uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; };
  auto box = [&](const char* type, const std::string& body) { return be32(std::uint32_t(8 + body.size())) + type + body; };
  const std::string ihdr = box("ihdr", be32(rows) + be32(cols) + std::string("\x00\x01", 2) + char(bpc) +
                                           std::string("\x07\x00\x00", 3));
  const std::string colr = box("colr", std::string("\x01\x00\x00", 3) + be32(17));  // greyscale
  return box("jP  ", "\r\n\x87\n") + box("ftyp", "jp2 " + be32(0) + "jp2 ") + box("jp2h", ihdr + colr) +
         box("jp2c", cs);
}

TEST_F(J2kDecode, DecodesMrSmallLosslessToTheNativePixelsOfMrSmall) {
  const std::string native = reference_pixels(dir.copy_sample("MR_small.dcm"));
  ASSERT_EQ(native.size(), 64u * 64u * 2u);
  const std::string cs = codestream("MR_small_jp2klossless.dcm");
  auto header = detail::j2k_header(cs);
  ASSERT_TRUE(header) << header.error().message;
  EXPECT_EQ(header->rows, 64u);
  EXPECT_EQ(header->columns, 64u);
  EXPECT_EQ(header->samples_per_pixel, 1u);
  EXPECT_EQ(header->bits_stored, 16u);
  EXPECT_TRUE(header->is_signed);
  auto out = decode_j2k_frame(cs, mr_small(), kCap);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_TRUE(*out == native);
  // The same codestream in a JP2 file (detected by its signature box).
  auto jp2 = decode_j2k_frame(jp2_of(cs, 64, 64, 0x80 | 15), mr_small(), kCap);
  ASSERT_TRUE(jp2) << jp2.error().message;
  EXPECT_TRUE(*jp2 == native);
}

TEST_F(J2kDecode, ReturnsAnErrorForTruncatedOrGarbageCodestreams) {
  const std::string cs = codestream("MR_small_jp2klossless.dcm");
  ASSERT_GT(cs.size(), 1000u);
  for (std::size_t keep : {std::size_t(0), std::size_t(3), std::size_t(20), std::size_t(60), std::size_t(200),
                           cs.size() / 2, cs.size() - 100}) {
    auto out = decode_j2k_frame(cs.substr(0, keep), mr_small(), kCap);
    ASSERT_FALSE(out) << "truncated to " << keep;
    EXPECT_EQ(out.error().code, Errc::corrupt) << "truncated to " << keep;
  }
  for (const std::string& garbage : {std::string(4000, '\0'), std::string(4000, '\xFF'), std::string("\xFF\x4F\xFF\x51", 4)}) {
    auto out = decode_j2k_frame(garbage, mr_small(), kCap);
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code, Errc::corrupt);
  }
  // Damage past the headers: an error or other pixels, never a crash.
  const std::string native = reference_pixels(dir.copy_sample("MR_small.dcm"));
  for (std::size_t at = 200; at < cs.size(); at += 97) {
    std::string damaged = cs;
    damaged[at] = char(damaged[at] ^ 0x5A);
    auto out = decode_j2k_frame(damaged, mr_small(), kCap);
    if (out) {
      EXPECT_EQ(out->size(), native.size()) << at;
    }
  }
}

TEST_F(J2kDecode, RefusesACodestreamWhoseGeometryDisagreesWithTheDataSet) {
  const std::string cs = codestream("MR_small_jp2klossless.dcm");
  J2kGeometry rows = mr_small(), columns = mr_small(), samples = mr_small(), bits = mr_small(), sign = mr_small();
  rows.rows = 32;
  columns.columns = 128;
  samples.samples_per_pixel = 3;
  bits.bits_stored = 12;
  sign.is_signed = false;
  for (const J2kGeometry& g : {rows, columns, samples, bits, sign}) {
    auto out = decode_j2k_frame(cs, g, kCap);
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code, Errc::corrupt) << out.error().message;
  }
  J2kGeometry eight = mr_small();
  eight.bits_allocated = 8;  // fewer bits allocated than stored
  EXPECT_FALSE(decode_j2k_frame(cs, eight, kCap));
  // A pydicom file whose codestream is unsigned under PixelRepresentation 1.
  auto mismatch = read_frame(dir.copy_sample("J2K_pixelrep_mismatch.dcm"), 1, "1.2.840.10008.1.2.1");
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, Errc::corrupt);
}

TEST_F(J2kDecode, RefusesFramesLargerThanTheCap) {
  const std::string cs = codestream("MR_small_jp2klossless.dcm");
  auto out = decode_j2k_frame(cs, mr_small(), 64 * 64 * 2 - 1);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, Errc::unsupported);
  // A SIZ marker declaring 60,000 x 60,000 samples is refused before
  // OpenJPEG allocates anything for it.
  std::string huge = cs;
  for (std::size_t off : {8u, 12u}) {
    huge[off] = 0;
    huge[off + 1] = 0;
    huge[off + 2] = char(0xEA);
    huge[off + 3] = 0x60;
  }
  auto header = detail::j2k_header(huge);
  ASSERT_FALSE(header);
  EXPECT_EQ(header.error().code, Errc::unsupported);
}

TEST_F(J2kDecode, DecodesReversibleColourToInterleavedRgb) {
  // GDCMJ2K_TextGBR: 400 x 400 YBR_RCT, 8 bits; the decoder undoes the RCT.
  const std::string cs = codestream("GDCMJ2K_TextGBR.dcm");
  auto out = decode_j2k_frame(cs, J2kGeometry{400, 400, 3, 8, 8, false}, kCap);
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_EQ(out->size(), 400u * 400u * 3u);
  // Frames answered decoded are the same bytes.
  auto frame = read_frame(dir.copy_sample("GDCMJ2K_TextGBR.dcm"), 1, "1.2.840.10008.1.2.1");
  ASSERT_TRUE(frame) << frame.error().message;
  EXPECT_TRUE(frame->bytes == *out);
}

} // namespace
} // namespace tresor::dicom
