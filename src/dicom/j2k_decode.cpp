// JPEG 2000 frames decoded with OpenJPEG: see j2k_decode.h for the contract.
#include "dicom/j2k_decode.h"

#include <openjpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace tresor::dicom::detail {

namespace {

// JP2 signature box (ISO/IEC 15444-1 I.5.1) and J2K SOC + SIZ markers.
constexpr unsigned char kJp2Signature[] = {0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A};
constexpr unsigned char kJ2kStart[] = {0xFF, 0x4F, 0xFF, 0x51};

bool starts_with(std::string_view s, const unsigned char* magic, std::size_t n) {
  return s.size() >= n && std::memcmp(s.data(), magic, n) == 0;
}

std::uint64_t be(std::string_view s, std::size_t off, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(s[off + i]);
  return v;
}

// The J2K codestream: the input itself, or the content of a JP2 file's
// Contiguous Codestream box ('jp2c', among the first 64 top-level boxes).
Result<std::string_view> codestream_of(std::string_view in) {
  if (starts_with(in, kJ2kStart, sizeof kJ2kStart)) return in;
  if (!starts_with(in, kJp2Signature, sizeof kJp2Signature)) return fail(Errc::corrupt, "not a JPEG 2000 codestream");
  std::size_t pos = 0;
  for (int boxes = 0; boxes < 64 && in.size() - pos >= 8; ++boxes) {
    std::uint64_t length = be(in, pos, 4), header = 8;
    const std::string_view type = in.substr(pos + 4, 4);
    if (length == 1) {
      if (in.size() - pos < 16) break;
      length = be(in, pos + 8, 8);
      header = 16;
    } else if (length == 0) {
      length = in.size() - pos;
    }
    if (length < header || length > in.size() - pos) break;
    if (type == "jp2c") return in.substr(pos + header, length - header);
    pos += length;
  }
  return fail(Errc::corrupt, "JP2 file without a codestream box");
}

// Bounds what the SIZ marker declares before OpenJPEG allocates for it (it
// allocates per tile and per component while reading the header): at most 4
// components, a working image of at most kMaxJ2kWorkingBytes, and on average
// at least 1,024 samples a tile (OpenJPEG's state per tile is a few KiB).
Status check_siz(std::string_view in) {
  auto cs = codestream_of(in);
  if (!cs) return std::unexpected(cs.error());
  const std::string_view s = *cs;
  // SOC, SIZ marker, Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz Csiz.
  if (!starts_with(s, kJ2kStart, sizeof kJ2kStart) || s.size() < 4 + 2 + 2 + 8 * 4 + 2)
    return fail(Errc::corrupt, "JPEG 2000 codestream without a SIZ marker");
  const std::uint64_t xsiz = be(s, 8, 4), ysiz = be(s, 12, 4), xo = be(s, 16, 4), yo = be(s, 20, 4);
  const std::uint64_t xt = be(s, 24, 4), yt = be(s, 28, 4), xto = be(s, 32, 4), yto = be(s, 36, 4);
  const std::uint64_t components = be(s, 40, 2);
  if (xsiz <= xo || ysiz <= yo || xt == 0 || yt == 0 || xto > xo || yto > yo)
    return fail(Errc::corrupt, "JPEG 2000: invalid image or tile size");
  if (components == 0 || components > 4) return fail(Errc::corrupt, "JPEG 2000: unsupported number of components");
  const std::uint64_t samples = (xsiz - xo) * (ysiz - yo) * components;
  if (samples * 4 > kMaxJ2kWorkingBytes) return fail(Errc::unsupported, "JPEG 2000 image too large to decode");
  const std::uint64_t tiles = ((xsiz - xto + xt - 1) / xt) * ((ysiz - yto + yt - 1) / yt);
  if (tiles > 1 + samples / 1024) return fail(Errc::unsupported, "JPEG 2000: too many tiles");
  return {};
}

// A read-only memory stream for OpenJPEG.
struct Source {
  std::string_view bytes;
  std::size_t pos = 0;
};

OPJ_SIZE_T read_fn(void* buffer, OPJ_SIZE_T n, void* user) {
  auto* s = static_cast<Source*>(user);
  if (s->pos >= s->bytes.size()) return OPJ_SIZE_T(-1);  // end of stream
  const std::size_t k = std::min<std::size_t>(n, s->bytes.size() - s->pos);
  std::memcpy(buffer, s->bytes.data() + s->pos, k);
  s->pos += k;
  return k;
}

OPJ_OFF_T skip_fn(OPJ_OFF_T n, void* user) {
  auto* s = static_cast<Source*>(user);
  if (n < 0) {
    if (std::uint64_t(-n) > s->pos) return -1;
    s->pos -= std::size_t(-n);
    return n;
  }
  const std::size_t k = std::min<std::uint64_t>(std::uint64_t(n), s->bytes.size() - s->pos);
  s->pos += k;
  return OPJ_OFF_T(k);
}

OPJ_BOOL seek_fn(OPJ_OFF_T to, void* user) {
  auto* s = static_cast<Source*>(user);
  if (to < 0 || std::uint64_t(to) > s->bytes.size()) return OPJ_FALSE;
  s->pos = std::size_t(to);
  return OPJ_TRUE;
}

void quiet(const char*, void*) {}
// The first error OpenJPEG reports (codestream structure only, no patient data).
void keep_error(const char* msg, void* user) {
  auto* first = static_cast<std::string*>(user);
  if (first->empty() && msg) {
    *first = msg;
    while (!first->empty() && (first->back() == '\n' || first->back() == ' ')) first->pop_back();
    if (first->size() > 160) first->resize(160);
  }
}

struct CodecDeleter {
  void operator()(opj_codec_t* c) const { opj_destroy_codec(c); }
};
struct StreamDeleter {
  void operator()(opj_stream_t* s) const { opj_stream_destroy(s); }
};
struct ImageDeleter {
  void operator()(opj_image_t* i) const { opj_image_destroy(i); }
};

// An opened codestream with its main header read.
struct Opened {
  Source source;
  std::string error;
  std::unique_ptr<opj_codec_t, CodecDeleter> codec;
  std::unique_ptr<opj_stream_t, StreamDeleter> stream;
  std::unique_ptr<opj_image_t, ImageDeleter> image;
};

Error corrupt(const Opened& o, const char* what) {
  std::string m = what;
  if (!o.error.empty()) m += ": " + o.error;
  return Error{Errc::corrupt, std::move(m)};
}

// Opens `codestream` into `o` (which must stay where it is: OpenJPEG keeps
// pointers to its source and error string) and reads the main header.
Status open(std::string_view codestream, Opened& o) {
  if (auto s = check_siz(codestream); !s) return s;
  const OPJ_CODEC_FORMAT format = starts_with(codestream, kJ2kStart, sizeof kJ2kStart) ? OPJ_CODEC_J2K : OPJ_CODEC_JP2;
  o.source.bytes = codestream;
  o.codec.reset(opj_create_decompress(format));
  if (!o.codec) return fail(Errc::resource_exhausted, "cannot create a JPEG 2000 decoder");
  opj_set_info_handler(o.codec.get(), quiet, nullptr);
  opj_set_warning_handler(o.codec.get(), quiet, nullptr);
  opj_set_error_handler(o.codec.get(), keep_error, &o.error);
  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  params.flags |= OPJ_DPARAMETERS_IGNORE_PCLR_CMAP_CDEF_FLAG;
  if (!opj_setup_decoder(o.codec.get(), &params) || !opj_decoder_set_strict_mode(o.codec.get(), OPJ_TRUE))
    return fail(Errc::internal, "cannot set up the JPEG 2000 decoder");
  o.stream.reset(opj_stream_create(64 * 1024, OPJ_TRUE));
  if (!o.stream) return fail(Errc::resource_exhausted, "cannot create a JPEG 2000 stream");
  opj_stream_set_user_data(o.stream.get(), &o.source, nullptr);
  opj_stream_set_user_data_length(o.stream.get(), codestream.size());
  opj_stream_set_read_function(o.stream.get(), read_fn);
  opj_stream_set_skip_function(o.stream.get(), skip_fn);
  opj_stream_set_seek_function(o.stream.get(), seek_fn);
  opj_image_t* image = nullptr;
  const OPJ_BOOL ok = opj_read_header(o.stream.get(), o.codec.get(), &image);
  o.image.reset(image);
  if (!ok || !image) return std::unexpected(corrupt(o, "cannot read the JPEG 2000 header"));
  return {};
}

Result<J2kGeometry> geometry_of(const opj_image_t& image) {
  if (image.numcomps == 0 || image.numcomps > 4 || !image.comps)
    return fail(Errc::corrupt, "JPEG 2000: unsupported number of components");
  if (image.x1 <= image.x0 || image.y1 <= image.y0) return fail(Errc::corrupt, "JPEG 2000: empty image");
  J2kGeometry g;
  g.columns = image.x1 - image.x0;
  g.rows = image.y1 - image.y0;
  g.samples_per_pixel = image.numcomps;
  g.bits_stored = image.comps[0].prec;
  g.is_signed = image.comps[0].sgnd != 0;
  for (OPJ_UINT32 i = 0; i < image.numcomps; ++i) {
    const opj_image_comp_t& c = image.comps[i];
    if (c.dx != 1 || c.dy != 1) return fail(Errc::corrupt, "JPEG 2000: subsampled components");
    if (c.prec != g.bits_stored || (c.sgnd != 0) != g.is_signed)
      return fail(Errc::corrupt, "JPEG 2000: components differ in precision or signedness");
  }
  if (g.bits_stored < 1 || g.bits_stored > 31) return fail(Errc::corrupt, "JPEG 2000: precision out of range");
  g.bits_allocated = g.bits_stored <= 8 ? 8 : g.bits_stored <= 16 ? 16 : 0;
  return g;
}

} // namespace

Result<J2kGeometry> j2k_header(std::string_view codestream) {
  Opened o;
  if (auto s = open(codestream, o); !s) return std::unexpected(s.error());
  return geometry_of(*o.image);
}

Result<std::string> decode_j2k_frame(std::string_view codestream, const J2kGeometry& expect,
                                     std::uint64_t max_output_bytes) {
  if (expect.bits_allocated != 8 && expect.bits_allocated != 16)
    return fail(Errc::unsupported, "JPEG 2000: only 8 and 16 bits allocated are decoded");
  if (expect.bits_stored < 1 || expect.bits_stored > expect.bits_allocated)
    return fail(Errc::corrupt, "JPEG 2000: bits stored out of range");
  const std::uint64_t samples = std::uint64_t(expect.rows) * expect.columns * expect.samples_per_pixel;
  const std::uint64_t out_bytes = samples * (expect.bits_allocated / 8);
  if (samples == 0) return fail(Errc::corrupt, "JPEG 2000: empty frame");
  if (out_bytes > max_output_bytes || samples * 4 > kMaxJ2kWorkingBytes)
    return fail(Errc::unsupported, "JPEG 2000 frame too large to decode");

  Opened o;
  if (auto s = open(codestream, o); !s) return std::unexpected(s.error());
  auto g = geometry_of(*o.image);
  if (!g) return std::unexpected(g.error());
  if (g->rows != expect.rows || g->columns != expect.columns)
    return fail(Errc::corrupt, "JPEG 2000 image size differs from Rows and Columns");
  if (g->samples_per_pixel != expect.samples_per_pixel)
    return fail(Errc::corrupt, "JPEG 2000 components differ from Samples per Pixel");
  if (g->bits_stored != expect.bits_stored)
    return fail(Errc::corrupt, "JPEG 2000 precision differs from Bits Stored");
  if (g->is_signed != expect.is_signed)
    return fail(Errc::corrupt, "JPEG 2000 signedness differs from Pixel Representation");

  if (!opj_decode(o.codec.get(), o.stream.get(), o.image.get()) ||
      !opj_end_decompress(o.codec.get(), o.stream.get()))
    return std::unexpected(corrupt(o, "cannot decode the JPEG 2000 frame"));
  const opj_image_t& image = *o.image;
  if (image.numcomps != expect.samples_per_pixel) return fail(Errc::corrupt, "JPEG 2000: components changed");
  for (OPJ_UINT32 c = 0; c < image.numcomps; ++c)
    if (!image.comps[c].data || image.comps[c].w != expect.columns || image.comps[c].h != expect.rows ||
        image.comps[c].prec != expect.bits_stored)
      return fail(Errc::corrupt, "JPEG 2000: decoded components differ from the header");

  // Clamped to the precision's range (OpenJPEG clips already: a no-op there).
  const std::int64_t lo = expect.is_signed ? -(std::int64_t(1) << (expect.bits_stored - 1)) : 0;
  const std::int64_t hi =
      expect.is_signed ? (std::int64_t(1) << (expect.bits_stored - 1)) - 1 : (std::int64_t(1) << expect.bits_stored) - 1;
  std::string out(static_cast<std::size_t>(out_bytes), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  const std::size_t pixels = std::size_t(expect.rows) * expect.columns;
  const unsigned spp = expect.samples_per_pixel;
  for (std::size_t i = 0; i < pixels; ++i)
    for (unsigned c = 0; c < spp; ++c) {
      const std::int64_t v = std::clamp<std::int64_t>(image.comps[c].data[i], lo, hi);
      const auto u = static_cast<std::uint16_t>(static_cast<std::int16_t>(v));  // two's complement when signed
      if (expect.bits_allocated == 8) {
        *p++ = static_cast<unsigned char>(u & 0xFF);
      } else {
        *p++ = static_cast<unsigned char>(u & 0xFF);
        *p++ = static_cast<unsigned char>(u >> 8);
      }
    }
  return out;
}

} // namespace tresor::dicom::detail
