// Rendered frames (PS3.18 8.3.5.1.3): DCMTK's DicomImage decodes one frame
// (partial access: only that frame is read or decompressed; JPEG 2000: that
// frame decoded with OpenJPEG first, j2k_dataset.cpp), applies the
// modality and VOI transformations (MONOCHROME1 is inverted by DCMTK's
// presentation), optionally scales down, and hands out 8-bit grey or RGB
// pixels that libjpeg-turbo or libpng encode.
// libjpeg and libpng report errors by longjmp: the encoder functions keep
// all their state in a job struct reached through a pointer and construct no
// C++ object with a destructor between setjmp and the library calls.
#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <jpeglib.h>
#include <png.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmimage/diregist.h>  // colour image support for DicomImage
#include <dcmtk/dcmimgle/dcmimage.h>

#include "dicom/web.h"
#include "dicom/web_internal.h"

namespace tresor::dicom {

namespace {

namespace fs = std::filesystem;

struct Raster {
  const unsigned char* pixels = nullptr;
  unsigned width = 0;
  unsigned height = 0;
  int components = 1;  // 1 = grey, 3 = RGB
};

// ---------------------------------------------------------------- JPEG

struct JpegJob {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  std::jmp_buf jmp;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  const Raster* raster = nullptr;
  int quality = 90;
};

[[noreturn]] void jpeg_fail(j_common_ptr cinfo) {
  // client_data is set before jpeg_create_compress, which keeps it.
  auto* job = static_cast<JpegJob*>(cinfo->client_data);
  std::longjmp(job->jmp, 1);
}
void jpeg_quiet(j_common_ptr) {}

bool jpeg_run(JpegJob* job) {
  job->cinfo.err = jpeg_std_error(&job->err);
  job->cinfo.client_data = job;
  job->err.error_exit = &jpeg_fail;
  job->err.output_message = &jpeg_quiet;
  if (setjmp(job->jmp)) {
    jpeg_destroy_compress(&job->cinfo);
    return false;
  }
  jpeg_create_compress(&job->cinfo);
  jpeg_mem_dest(&job->cinfo, &job->buffer, &job->size);
  job->cinfo.image_width = job->raster->width;
  job->cinfo.image_height = job->raster->height;
  job->cinfo.input_components = job->raster->components;
  job->cinfo.in_color_space = job->raster->components == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&job->cinfo);
  jpeg_set_quality(&job->cinfo, job->quality, TRUE);
  jpeg_start_compress(&job->cinfo, TRUE);
  const std::size_t stride = std::size_t(job->raster->width) * unsigned(job->raster->components);
  while (job->cinfo.next_scanline < job->cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(job->raster->pixels + stride * job->cinfo.next_scanline);
    jpeg_write_scanlines(&job->cinfo, &row, 1);
  }
  jpeg_finish_compress(&job->cinfo);
  jpeg_destroy_compress(&job->cinfo);
  return true;
}

Result<std::string> encode_jpeg(const Raster& raster, int quality) {
  auto job = std::make_unique<JpegJob>();
  job->raster = &raster;
  job->quality = quality < 1 ? 1 : quality > 100 ? 100 : quality;
  const bool ok = jpeg_run(job.get());
  std::unique_ptr<unsigned char, decltype(&std::free)> buffer(job->buffer, &std::free);
  if (!ok || !buffer) return fail(Errc::internal, "JPEG encoding failed");
  return std::string(reinterpret_cast<const char*>(buffer.get()), job->size);
}

// ---------------------------------------------------------------- PNG

struct PngJob {
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::string* out = nullptr;
  const Raster* raster = nullptr;
};

void png_fail(png_structp png, png_const_charp) { png_longjmp(png, 1); }
void png_quiet(png_structp, png_const_charp) {}

void png_append(png_structp png, png_bytep data, png_size_t n) {
  auto* job = static_cast<PngJob*>(png_get_io_ptr(png));
  bool ok = true;
  try {
    job->out->append(reinterpret_cast<const char*>(data), n);
  } catch (...) {
    ok = false;
  }
  if (!ok) png_error(png, "out of memory");
}
void png_no_flush(png_structp) {}

bool png_run(PngJob* job) {
  job->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, &png_fail, &png_quiet);
  if (!job->png) return false;
  job->info = png_create_info_struct(job->png);
  if (!job->info) {
    png_destroy_write_struct(&job->png, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(job->png))) {
    png_destroy_write_struct(&job->png, &job->info);
    return false;
  }
  png_set_write_fn(job->png, job, &png_append, &png_no_flush);
  png_set_IHDR(job->png, job->info, job->raster->width, job->raster->height, 8,
               job->raster->components == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(job->png, job->info);
  const std::size_t stride = std::size_t(job->raster->width) * unsigned(job->raster->components);
  for (unsigned y = 0; y < job->raster->height; ++y)
    png_write_row(job->png, const_cast<png_bytep>(job->raster->pixels + stride * y));
  png_write_end(job->png, nullptr);
  png_destroy_write_struct(&job->png, &job->info);
  return true;
}

Result<std::string> encode_png(const Raster& raster) {
  std::string out;
  out.reserve(std::size_t(raster.width) * raster.height * unsigned(raster.components) / 2 + 1024);
  PngJob job;
  job.out = &out;
  job.raster = &raster;
  if (!png_run(&job)) return fail(Errc::internal, "PNG encoding failed");
  return out;
}

// ---------------------------------------------------------------- render

// Size that fits (max_columns x max_rows) keeping the aspect ratio; the
// image is never enlarged.
std::pair<unsigned long, unsigned long> fitted_size(unsigned long w, unsigned long h, std::uint32_t max_cols,
                                                    std::uint32_t max_rows) {
  double f = 1.0;
  if (max_cols && w > max_cols) f = std::min(f, double(max_cols) / double(w));
  if (max_rows && h > max_rows) f = std::min(f, double(max_rows) / double(h));
  if (f >= 1.0) return {w, h};
  unsigned long nw = static_cast<unsigned long>(double(w) * f + 0.5);
  unsigned long nh = static_cast<unsigned long>(double(h) * f + 0.5);
  nw = std::max(1ul, max_cols ? std::min<unsigned long>(nw, max_cols) : nw);
  nh = std::max(1ul, max_rows ? std::min<unsigned long>(nh, max_rows) : nh);
  return {nw, nh};
}

Status apply_voi(DicomImage& image, const RenderOptions& o) {
  if (!image.isMonochrome()) return {};
  if (o.window_center && o.window_width) {
    if (!image.setWindow(*o.window_center, *o.window_width)) return fail(Errc::invalid_argument, "invalid window");
    return {};
  }
  if (image.getWindowCount() > 0 && image.setWindow(0)) return {};
  if (image.getVoiLutCount() > 0 && image.setVoiLut(0)) return {};
  image.setMinMaxWindow(0);
  return {};
}

} // namespace

Result<std::string> render(std::shared_ptr<ByteSource> object, const RenderOptions& options) {
  return detail::guarded([&]() -> Result<std::string> {
    if (options.window_center.has_value() != options.window_width.has_value())
      return fail(Errc::invalid_argument, "window center and width go together");
    if (options.window_width && !(*options.window_width >= 1.0))
      return fail(Errc::invalid_argument, "window width must be at least 1");
    if (options.window_center && !std::isfinite(*options.window_center))
      return fail(Errc::invalid_argument, "invalid window center");

    auto ff = detail::load_header(std::move(object));
    if (!ff) return std::unexpected(ff.error());
    DcmDataset& ds = *(*ff)->getDataset();
    const std::uint32_t frames = detail::number_of_frames(ds);
    if (frames == 0) return fail(Errc::unsupported, "the object has no pixel data to render");
    if (options.frame < 1 || options.frame > frames) return fail(Errc::invalid_argument, "frame number out of range");
    auto geometry = detail::read_pixel_geometry(ds);
    if (!geometry) return std::unexpected(geometry.error());

    E_TransferSyntax xfer = ds.getOriginalXfer();
    std::uint32_t frame_index = options.frame - 1;
    if (detail::is_jpeg2000(xfer) && !DcmCodecList::canChangeCoding(xfer, EXS_LittleEndianExplicit)) {
      // OpenJPEG (j2k_dataset.cpp): the requested frame only, as native pixels.
      if (auto s = detail::decode_j2k_pixel_data(ds, detail::kMaxJ2kWorkingBytes, frame_index); !s)
        return std::unexpected(s.error());
      xfer = EXS_LittleEndianExplicit;
      frame_index = 0;
    } else if (DcmXfer(xfer).isEncapsulated()) {
      if (!DcmCodecList::canChangeCoding(xfer, EXS_LittleEndianExplicit))
        return fail(Errc::unsupported, "no decoder for the stored transfer syntax");
      if (auto s = detail::check_rle_fragments(ds); !s) return std::unexpected(s.error());
    } else {
      // DCMTK allocates the whole frame from Rows x Columns before it looks at
      // the value: 16 bytes claiming 65535 x 65535 cost 4 GiB
      // (tests/fuzz/regressions/fuzz_dicom_inspect/render_short_pixel_data_4gib.dcm).
      DcmElement* px = nullptr;
      const std::uint64_t needed = (geometry->frame_bits() * options.frame + 7) / 8;
      if (ds.findAndGetElement(DCM_PixelData, px).bad() || !px || px->getLength() < needed)
        return fail(Errc::corrupt, "pixel data shorter than its Rows, Columns and frames");
    }

    DicomImage image(ff->get(), xfer, CIF_UsePartialAccessToPixelData, frame_index, 1);
    if (image.getStatus() != EIS_Normal)
      return fail(Errc::unsupported, std::string("cannot decode the image: ") +
                                         DicomImage::getString(image.getStatus()));
    if (auto s = apply_voi(image, options); !s) return std::unexpected(s.error());

    DicomImage* out_image = &image;
    std::unique_ptr<DicomImage> scaled;
    const auto [w, h] = fitted_size(image.getWidth(), image.getHeight(), options.max_columns, options.max_rows);
    if (w != image.getWidth() || h != image.getHeight()) {
      scaled.reset(image.createScaledImage(w, h, 1, 0));
      if (!scaled || scaled->getStatus() != EIS_Normal) return fail(Errc::internal, "cannot scale the image");
      out_image = scaled.get();
    }

    Raster raster;
    raster.width = unsigned(out_image->getWidth());
    raster.height = unsigned(out_image->getHeight());
    raster.components = out_image->isMonochrome() ? 1 : 3;
    raster.pixels = static_cast<const unsigned char*>(out_image->getOutputData(8, 0, 0));
    if (!raster.pixels ||
        out_image->getOutputDataSize(8) < std::size_t(raster.width) * raster.height * unsigned(raster.components))
      return fail(Errc::unsupported, "cannot render the image");
    return options.format == ImageFormat::png ? encode_png(raster) : encode_jpeg(raster, options.quality);
  });
}

} // namespace tresor::dicom
