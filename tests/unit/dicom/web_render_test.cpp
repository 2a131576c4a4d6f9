#include <gtest/gtest.h>

#include <string>

#include <png.h>

#include "dicom/inspect.h"
#include "dicom/web.h"
#include "web_test_support.h"

namespace tresor::dicom {
namespace {

using namespace test;

class Render : public ::testing::Test {
protected:
  static void SetUpTestSuite() { init_globals(); }
  ScratchDir dir;
};

RenderOptions png() {
  RenderOptions o;
  o.format = ImageFormat::png;
  return o;
}

TEST_F(Render, EncodesAGreyJpegOfTheOriginalSize) {
  auto r = render(dir.copy_sample("CT_small.dcm"), {});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(is_jpeg(*r));
  const ImageHeader h = jpeg_header(*r);
  EXPECT_EQ(h.width, 128u);
  EXPECT_EQ(h.height, 128u);
  EXPECT_EQ(h.components, 1);
}

TEST_F(Render, EncodesAGreyPng) {
  auto r = render(dir.copy_sample("MR_small.dcm"), png());
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(is_png(*r));
  const ImageHeader h = png_header(*r);
  EXPECT_EQ(h.width, 64u);
  EXPECT_EQ(h.height, 64u);
  EXPECT_EQ(h.components, 1);
}

TEST_F(Render, RendersColourImagesAsRgb) {
  for (const char* name : {"SC_rgb_rle.dcm", "SC_rgb_jpeg_dcmtk.dcm", "ExplVR_BigEnd.dcm"}) {
    auto p = render(dir.copy_sample(name), png());
    ASSERT_TRUE(p) << name << ": " << p.error().message;
    EXPECT_EQ(png_header(*p).components, 3) << name;
    auto j = render(dir.path() / name, {});
    ASSERT_TRUE(j) << name;
    EXPECT_EQ(jpeg_header(*j).components, 3) << name;
  }
  const ImageHeader h = png_header(*render(dir.path() / "ExplVR_BigEnd.dcm", png()));
  EXPECT_EQ(h.width, 80u);
  EXPECT_EQ(h.height, 60u);
}

TEST_F(Render, AppliesTheRequestedWindow) {
  const fs::path ct = dir.copy_sample("CT_small.dcm");
  RenderOptions a = png(), b = png();
  a.window_center = 40;
  a.window_width = 400;
  b.window_center = 1000;
  b.window_width = 100;
  auto ra = render(ct, a), rb = render(ct, b), rd = render(ct, png());
  ASSERT_TRUE(ra && rb && rd);
  EXPECT_NE(*ra, *rb);
  EXPECT_NE(*ra, *rd);
}

TEST_F(Render, RejectsInvalidWindows) {
  const fs::path ct = dir.copy_sample("CT_small.dcm");
  RenderOptions only_center;
  only_center.window_center = 40;
  RenderOptions zero_width;
  zero_width.window_center = 40;
  zero_width.window_width = 0;
  for (const auto& o : {only_center, zero_width}) {
    auto r = render(ct, o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
  }
}

TEST_F(Render, ScalesDownKeepingTheAspectRatio) {
  const fs::path ct = dir.copy_sample("CT_small.dcm");
  RenderOptions o = png();
  o.max_rows = 64;
  o.max_columns = 64;
  ImageHeader h = png_header(*render(ct, o));
  EXPECT_EQ(h.width, 64u);
  EXPECT_EQ(h.height, 64u);

  o.max_rows = 0;
  o.max_columns = 50;
  h = png_header(*render(ct, o));
  EXPECT_EQ(h.width, 50u);
  EXPECT_EQ(h.height, 50u);

  // 256 columns x 1024 rows, JPEG extended: fit into 100 rows.
  const fs::path tall = dir.copy_sample("JPGExtended.dcm");
  o.max_rows = 100;
  o.max_columns = 100;
  auto r = render(tall, o);
  ASSERT_TRUE(r) << r.error().message;
  h = png_header(*r);
  EXPECT_EQ(h.height, 100u);
  EXPECT_EQ(h.width, 25u);

  // Never enlarged.
  o.max_rows = 4000;
  o.max_columns = 4000;
  h = png_header(*render(ct, o));
  EXPECT_EQ(h.width, 128u);
}

TEST_F(Render, RendersTheRequestedFrame) {
  const fs::path dose = dir.copy_sample("rtdose.dcm");
  RenderOptions o = png();
  o.frame = 15;
  auto last = render(dose, o);
  ASSERT_TRUE(last) << last.error().message;
  EXPECT_EQ(png_header(*last).width, 10u);
  o.frame = 16;
  auto beyond = render(dose, o);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().code, Errc::invalid_argument);

  const fs::path rle = dir.copy_sample("SC_rgb_rle_2frame.dcm");
  o.frame = 2;
  auto second = render(rle, o);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(png_header(*second).components, 3);
}

TEST_F(Render, DecodesCompressedGreyImages) {
  for (const char* name : {"MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "JPEG-lossy.dcm"}) {
    auto r = render(dir.copy_sample(name), png());
    ASSERT_TRUE(r) << name << ": " << r.error().message;
    EXPECT_EQ(png_header(*r).components, 1) << name;
  }
  // Lossless: same picture as the native original.
  auto native = render(dir.path() / "MR_small_RLE.dcm", png());
  auto original = render(dir.copy_sample("MR_small.dcm"), png());
  ASSERT_TRUE(native && original);
  EXPECT_EQ(*native, *original);
}

// Grey pixels of a PNG, decoded with libpng's simplified API.
std::string png_grey_pixels(const std::string& data) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, data.data(), data.size())) return {};
  image.format = PNG_FORMAT_GRAY;
  std::string pixels(PNG_IMAGE_SIZE(image), '\0');
  if (!png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) return {};
  return pixels;
}

TEST_F(Render, InvertsMonochrome1ForDisplay) {
  const fs::path mono2 = dir.copy_sample("MR_small.dcm");
  // The same pixels declared MONOCHROME1.
  const fs::path mono1 = dir.path() / "mono1.dcm";
  {
    DcmFileFormat ff;
    ASSERT_TRUE(ff.loadFile(OFFilename(mono2.c_str())).good());
    ASSERT_TRUE(ff.getDataset()->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME1").good());
    ASSERT_TRUE(ff.saveFile(OFFilename(mono1.c_str()), EXS_LittleEndianExplicit).good());
  }
  RenderOptions o = png();
  o.window_center = 600;
  o.window_width = 1200;
  auto ra = render(mono1, o);
  auto rb = render(mono2, o);
  ASSERT_TRUE(ra) << ra.error().message;
  ASSERT_TRUE(rb) << rb.error().message;
  const std::string a = png_grey_pixels(*ra);
  const std::string b = png_grey_pixels(*rb);
  ASSERT_EQ(a.size(), 64u * 64u);
  ASSERT_EQ(b.size(), a.size());
  int inverted = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const int sum = static_cast<unsigned char>(a[i]) + static_cast<unsigned char>(b[i]);
    if (sum >= 254 && sum <= 256) ++inverted;
  }
  EXPECT_EQ(inverted, int(a.size()));
}

TEST_F(Render, RendersJpeg2000FramesDecodedWithOpenJpeg) {
  // The JPEG 2000 copy of MR_small renders exactly as the native original.
  for (auto format : {ImageFormat::png, ImageFormat::jpeg}) {
    RenderOptions o;
    o.format = format;
    auto native = render(dir.copy_sample("MR_small.dcm"), o);
    auto j2k = render(dir.copy_sample("MR_small_jp2klossless.dcm"), o);
    ASSERT_TRUE(native && j2k) << (j2k ? "" : j2k.error().message);
    EXPECT_TRUE(*j2k == *native);
  }
  RenderOptions rgb;
  rgb.format = ImageFormat::png;
  auto colour = render(dir.copy_sample("GDCMJ2K_TextGBR.dcm"), rgb);
  ASSERT_TRUE(colour) << colour.error().message;
  EXPECT_EQ(colour->substr(1, 3), "PNG");
  auto lossy = render(dir.copy_sample("JPEG2000.dcm"), {});
  ASSERT_TRUE(lossy) << lossy.error().message;
  auto mismatch = render(dir.copy_sample("J2K_pixelrep_mismatch.dcm"), {});
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, Errc::corrupt);
}

TEST_F(Render, ReportsUndecodableOrImagelessObjectsAsUnsupported) {
  for (const char* name : {"rtplan.dcm"}) {
    auto r = render(dir.copy_sample(name), {});
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code, Errc::unsupported) << name;
  }
}

} // namespace
} // namespace tresor::dicom
