// Frames of stored objects (PS3.18 8.7.4 / 10.4.1.1.3), media types of
// transfer syntaxes, and the loading helpers shared by the web_*.cpp files.
// Native pixel data: only the requested frame's bytes are read from the
// stored object's ByteSource (DcmElement::getPartialValue through
// dicom/source_stream.h). Encapsulated pixel data: the fragments of
// the frame are located (Basic Offset Table, else one fragment per frame,
// else all fragments for a single frame, else the fragments starting with a
// JPEG / JPEG 2000 start marker) and only those are read or decoded.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <optional>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcfcache.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcswap.h>

#include "dicom/inspect.h"
#include "dicom/source_stream.h"
#include "dicom/web.h"
#include "dicom/web_internal.h"

namespace tresor::dicom {

namespace fs = std::filesystem;

namespace detail {

Result<std::unique_ptr<DcmFileFormat>> load_header(std::shared_ptr<ByteSource> object) {
  return load_stored(std::move(object), kMaxReadLength, ERM_fileOnly);
}

std::string stored_syntax_uid(DcmFileFormat& ff) {
  OFString uid;
  if (ff.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, uid).good() && !uid.empty())
    return std::string(uid.c_str());
  const char* id = DcmXfer(ff.getDataset()->getOriginalXfer()).getXferID();
  return id ? id : "";
}

std::uint32_t number_of_frames(DcmDataset& ds) {
  if (!ds.tagExists(DCM_PixelData, OFFalse)) return 0;
  Sint32 n = 1;
  if (ds.findAndGetSint32(DCM_NumberOfFrames, n).bad() || n < 1) n = 1;
  return static_cast<std::uint32_t>(n);
}

Result<PixelGeometry> read_pixel_geometry(DcmDataset& ds) {
  PixelGeometry g;
  Uint16 rows = 0, cols = 0, spp = 0, bits = 0;
  if (ds.findAndGetUint16(DCM_Rows, rows).bad() || ds.findAndGetUint16(DCM_Columns, cols).bad() ||
      ds.findAndGetUint16(DCM_BitsAllocated, bits).bad())
    return fail(Errc::corrupt, "image pixel attributes missing");
  if (ds.findAndGetUint16(DCM_SamplesPerPixel, spp).bad()) spp = 1;
  if (rows == 0 || cols == 0 || spp == 0 || spp > 4 || bits == 0 || bits > 64 || (bits != 1 && bits % 8 != 0))
    return fail(Errc::corrupt, "image pixel attributes out of range");
  g.rows = rows;
  g.columns = cols;
  g.samples_per_pixel = spp;
  g.bits_allocated = bits;
  g.number_of_frames = std::max<std::uint32_t>(1, number_of_frames(ds));
  OFString pi;
  if (spp == 3 && !DcmXfer(ds.getOriginalXfer()).isEncapsulated() &&
      ds.findAndGetOFString(DCM_PhotometricInterpretation, pi).good())
    g.subsampled_422 = pi == "YBR_FULL_422" || pi == "YBR_PARTIAL_422";
  if (g.frame_bits() / 8 > 0xFFFFFFFEull) return fail(Errc::corrupt, "frame size out of range");
  return g;
}

} // namespace detail

DcmPixelData* detail::top_pixel_data(DcmDataset& ds) {
  DcmElement* e = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, e, OFFalse).bad() || !e) return nullptr;
  return dynamic_cast<DcmPixelData*>(e);
}

namespace {

constexpr std::string_view kExplicitLittle = "1.2.840.10008.1.2.1";

// Native frame `index` (0-based), as stored or converted to little endian.
// The bytes are read exactly as they are in the file; a big endian OW value
// is then swapped in units of the sample size (16-bit words at least: that is
// how OW is byte-swapped, and 32-bit samples are stored as 32-bit big endian
// values). 1-bit frames that do not start on a byte boundary are shifted so
// that the first pixel is bit 0.
Result<std::string> native_frame(DcmPixelData& px, const detail::PixelGeometry& g, std::uint32_t index,
                                 E_ByteOrder stored_order, bool to_little_endian) {
  const std::uint64_t frame_bits = g.frame_bits();
  const std::uint64_t start_bit = frame_bits * index;
  const std::uint64_t frame_bytes = (frame_bits + 7) / 8;
  const std::uint64_t first_byte = start_bit / 8;
  const std::uint64_t end_byte = (start_bit + frame_bits + 7) / 8;
  const unsigned shift = unsigned(start_bit % 8);

  const bool swap = to_little_endian && stored_order == EBO_BigEndian && px.getTag().getEVR() != EVR_OB;
  const std::uint64_t unit = swap ? std::max<std::uint64_t>(2, g.bits_allocated / 8) : 1;
  const std::uint64_t read_start = first_byte / unit * unit;
  const std::uint64_t read_end = (end_byte + unit - 1) / unit * unit;
  const std::uint64_t length = px.getLength();
  if (read_end > length) return fail(Errc::corrupt, "pixel data shorter than the declared frames");

  std::string raw(static_cast<std::size_t>(read_end - read_start), '\0');
  DcmFileCache cache;
  if (px.getPartialValue(raw.data(), Uint32(read_start), Uint32(raw.size()), &cache, stored_order).bad())
    return fail(Errc::corrupt, "cannot read the frame");
  if (swap)
    for (std::size_t i = 0; i + unit <= raw.size(); i += unit) std::reverse(raw.begin() + i, raw.begin() + i + unit);

  const std::size_t skip = static_cast<std::size_t>(first_byte - read_start);
  if (!shift) return raw.substr(skip, static_cast<std::size_t>(frame_bytes));
  std::string out(static_cast<std::size_t>(frame_bytes), '\0');
  for (std::uint64_t j = 0; j < frame_bits; ++j) {
    const std::uint64_t bit = skip * 8 + shift + j;
    if ((static_cast<unsigned char>(raw[bit / 8]) >> (bit % 8)) & 1u) out[j / 8] |= char(1u << (j % 8));
  }
  return out;
}

} // namespace

namespace detail {

static bool starts_frame(DcmPixelItem& item) {
  unsigned char head[12] = {};
  const Uint32 n = std::min<Uint32>(item.getLength(), sizeof head);
  if (n < 4 || item.getPartialValue(head, 0, n & ~1u).bad()) return false;
  if (head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) return true;            // JPEG / JPEG-LS SOI
  if (head[0] == 0xFF && head[1] == 0x4F && head[2] == 0xFF && head[3] == 0x51) return true;  // J2K SOC+SIZ
  static const unsigned char kJp2[] = {0, 0, 0, 0x0C, 'j', 'P', ' ', ' '};
  return n >= 8 && std::memcmp(head, kJp2, sizeof kJp2) == 0;
}

Result<FragmentRange> locate_fragments(const std::vector<DcmPixelItem*>& items, std::uint32_t frames,
                                       std::uint32_t index) {
  const std::size_t fragments = items.size() - 1;
  if (fragments == 0) return fail(Errc::corrupt, "encapsulated pixel data without fragments");

  // Basic Offset Table: one offset per frame, relative to the first
  // fragment's item tag; each must hit a fragment start.
  DcmPixelItem* bot = items[0];
  const Uint32 bot_len = bot->getLength();
  if (bot_len != 0 && bot_len % 4 == 0 && bot_len / 4 == frames) {
    std::vector<unsigned char> raw(bot_len);
    if (bot->getPartialValue(raw.data(), 0, bot_len, nullptr, EBO_LittleEndian).good()) {
      std::vector<std::uint64_t> starts(fragments);  // byte offset of each fragment's item tag
      std::uint64_t off = 0;
      for (std::size_t k = 0; k < fragments; ++k) {
        starts[k] = off;
        off += 8 + std::uint64_t(items[k + 1]->getLength());
      }
      auto entry = [&](std::uint32_t f) {
        const unsigned char* p = raw.data() + 4 * std::size_t(f);
        return std::uint64_t(p[0]) | (std::uint64_t(p[1]) << 8) | (std::uint64_t(p[2]) << 16) |
               (std::uint64_t(p[3]) << 24);
      };
      auto fragment_at = [&](std::uint64_t offset) -> std::optional<std::size_t> {
        auto it = std::lower_bound(starts.begin(), starts.end(), offset);
        if (it == starts.end() || *it != offset) return std::nullopt;
        return std::size_t(it - starts.begin()) + 1;
      };
      bool valid = entry(0) == 0;
      for (std::uint32_t f = 1; valid && f < frames; ++f) valid = entry(f) > entry(f - 1);
      if (valid) {
        auto first = fragment_at(entry(index));
        auto last = index + 1 < frames ? fragment_at(entry(index + 1)) : std::optional<std::size_t>(items.size());
        if (first && last && *first < *last) return FragmentRange{*first, *last};
      }
    }
  }
  if (fragments == frames) return FragmentRange{index + 1, index + 2};
  if (frames == 1) return FragmentRange{1, items.size()};

  // Several fragments per frame and no usable offset table: frames begin at
  // fragments that start with a codestream marker.
  std::vector<std::size_t> starts;
  for (std::size_t k = 1; k < items.size(); ++k)
    if (starts_frame(*items[k])) starts.push_back(k);
  if (starts.size() == frames && starts[0] == 1)
    return FragmentRange{starts[index], index + 1 < frames ? starts[index + 1] : items.size()};
  return fail(Errc::corrupt, "cannot locate the frame's fragments");
}

Result<std::vector<DcmPixelItem*>> pixel_items(DcmPixelData& px) {
  E_TransferSyntax rep = EXS_Unknown;
  const DcmRepresentationParameter* param = nullptr;
  px.getOriginalRepresentationKey(rep, param);
  DcmPixelSequence* seq = nullptr;
  if (px.getEncapsulatedRepresentation(rep, param, seq).bad() || !seq)
    return fail(Errc::corrupt, "encapsulated pixel data cannot be read");
  std::vector<DcmPixelItem*> items;
  for (DcmObject* o = seq->nextInContainer(nullptr); o; o = seq->nextInContainer(o)) {
    auto* item = dynamic_cast<DcmPixelItem*>(o);
    if (!item) return fail(Errc::corrupt, "malformed pixel sequence");
    items.push_back(item);
  }
  if (items.empty()) return fail(Errc::corrupt, "pixel sequence without offset table");
  return items;
}

Result<std::string> encapsulated_frame(const std::vector<DcmPixelItem*>& items, FragmentRange r) {
  std::uint64_t total = 0;
  for (std::size_t k = r.first; k < r.last; ++k) total += items[k]->getLength();
  if (total > 0xFFFFFFFFull) return fail(Errc::corrupt, "frame too large");
  std::string out(static_cast<std::size_t>(total), '\0');
  DcmFileCache cache;
  std::size_t pos = 0;
  for (std::size_t k = r.first; k < r.last; ++k) {
    const Uint32 n = items[k]->getLength();
    if (n && items[k]->getPartialValue(out.data() + pos, 0, n, &cache).bad())
      return fail(Errc::corrupt, "cannot read a pixel data fragment");
    items[k]->compact();
    pos += n;
  }
  return out;
}

} // namespace detail

namespace {

using detail::encapsulated_frame;
using detail::FragmentRange;
using detail::locate_fragments;
using detail::pixel_items;
using detail::top_pixel_data;

Result<std::string> decoded_frame(DcmDataset& ds, DcmPixelData& px, E_TransferSyntax stored,
                                  const detail::PixelGeometry& g, std::uint32_t index, FragmentRange r,
                                  const std::vector<DcmPixelItem*>& items) {
  if (detail::is_jpeg2000(stored) && !DcmCodecList::canChangeCoding(stored, EXS_LittleEndianExplicit)) {
    auto codestream = encapsulated_frame(items, r);
    if (!codestream) return std::unexpected(codestream.error());
    return detail::decode_j2k(ds, g, *codestream, detail::kMaxJ2kWorkingBytes);
  }
  if (!DcmCodecList::canChangeCoding(stored, EXS_LittleEndianExplicit))
    return fail(Errc::unsupported, "no decoder for the stored transfer syntax");
  if (g.bits_allocated % 8 != 0) return fail(Errc::unsupported, "cannot decode this bit depth");
  if (stored == EXS_RLELossless)
    if (auto s = detail::check_rle_header(*items[r.first]); !s) return std::unexpected(s.error());
  Uint32 frame_size = 0;
  if (px.getUncompressedFrameSize(&ds, frame_size).bad() || frame_size == 0 ||
      std::uint64_t(frame_size) * 8 != g.frame_bits())
    return fail(Errc::corrupt, "cannot compute the frame size");
  std::string out(std::size_t(frame_size) + (frame_size & 1u), '\0');
  Uint32 start = Uint32(r.first);
  OFString color_model;
  DcmFileCache cache;
  const OFCondition c = px.getUncompressedFrame(&ds, index, start, out.data(), Uint32(out.size()), color_model, &cache);
  for (std::size_t k = r.first; k < r.last; ++k) items[k]->compact();
  if (c.bad()) return fail(Errc::unsupported, std::string("cannot decode the frame: ") + c.text());
  out.resize(frame_size);
  // The codecs return samples in the host byte order; Explicit VR Little
  // Endian wants little endian.
  if (gLocalByteOrder != EBO_LittleEndian && g.bits_allocated > 8)
    swapIfNecessary(EBO_LittleEndian, gLocalByteOrder, out.data(), Uint32(out.size()), Uint32(g.bits_allocated / 8));
  return out;
}

} // namespace

Status detail::check_rle_header(DcmPixelItem& item) {
  // DCMTK 3.6.7's RLE decoder copies the 64-byte header without checking the
  // fragment length, and then reads each segment from where the header's
  // offsets point without checking them against it either (a fuzzed offset
  // past the fragment, or an empty last segment, reads outside the buffer).
  // PS3.5 G.5: 1..15 segments, none inside the header, in order, inside the
  // fragment; an encoded segment is at least one run (2 bytes).
  const Uint32 length = item.getLength();
  if (length < 64) return fail(Errc::corrupt, "RLE fragment shorter than its header");
  Uint8 raw[64];
  DcmFileCache cache;
  if (item.getPartialValue(raw, 0, 64, &cache).bad()) return fail(Errc::corrupt, "cannot read an RLE header");
  auto u32 = [&](std::size_t i) {
    return Uint32(raw[4 * i]) | Uint32(raw[4 * i + 1]) << 8 | Uint32(raw[4 * i + 2]) << 16 | Uint32(raw[4 * i + 3]) << 24;
  };
  const Uint32 segments = u32(0);
  if (segments < 1 || segments > 15) return fail(Errc::corrupt, "RLE header: bad number of segments");
  Uint32 previous = 0;
  for (Uint32 i = 1; i <= segments; ++i) {
    const Uint32 offset = u32(i);
    if (i == 1 ? offset < 64 : offset < previous || offset - previous < 2)
      return fail(Errc::corrupt, "RLE header: segment offsets out of order");
    if (offset >= length || length - offset < 2) return fail(Errc::corrupt, "RLE header: segment outside its fragment");
    previous = offset;
  }
  return {};
}

Status detail::check_rle_fragments(DcmDataset& ds) {
  if (ds.getOriginalXfer() != EXS_RLELossless) return {};
  DcmPixelData* px = top_pixel_data(ds);
  if (!px) return {};
  auto items = pixel_items(*px);
  if (!items) return std::unexpected(items.error());
  for (std::size_t k = 1; k < items->size(); ++k)
    if (auto s = check_rle_header(*(*items)[k]); !s) return s;
  return {};
}

Result<FrameInfo> frame_info(std::shared_ptr<ByteSource> object) {
  return detail::guarded([&]() -> Result<FrameInfo> {
    auto ff = detail::load_header(std::move(object));
    if (!ff) return std::unexpected(ff.error());
    FrameInfo info;
    info.transfer_syntax_uid = detail::stored_syntax_uid(**ff);
    info.encapsulated = DcmXfer((*ff)->getDataset()->getOriginalXfer()).isEncapsulated();
    info.number_of_frames = detail::number_of_frames(*(*ff)->getDataset());
    return info;
  });
}

Result<Frame> read_frame(std::shared_ptr<ByteSource> object, std::uint32_t number,
                         std::string_view transfer_syntax_uid) {
  return detail::guarded([&]() -> Result<Frame> {
    const bool as_stored_wildcard = transfer_syntax_uid == "*";
    if (!as_stored_wildcard && !is_valid_uid(transfer_syntax_uid))
      return fail(Errc::invalid_argument, "malformed transfer syntax UID");
    auto ff = detail::load_header(std::move(object));
    if (!ff) return std::unexpected(ff.error());
    DcmDataset& ds = *(*ff)->getDataset();
    DcmPixelData* px = top_pixel_data(ds);
    if (!px) return fail(Errc::not_found, "the object has no pixel data");
    auto g = detail::read_pixel_geometry(ds);
    if (!g) return std::unexpected(g.error());
    if (number < 1 || number > g->number_of_frames) return fail(Errc::invalid_argument, "frame number out of range");
    const std::uint32_t index = number - 1;

    const E_TransferSyntax stored = ds.getOriginalXfer();
    const DcmXfer stored_xfer(stored);
    const std::string stored_uid = detail::stored_syntax_uid(**ff);
    const bool as_stored = as_stored_wildcard || transfer_syntax_uid == stored_uid;
    const bool to_explicit = transfer_syntax_uid == kExplicitLittle;
    if (!as_stored && !to_explicit)
      return fail(Errc::unsupported, "frames are available as stored or as Explicit VR Little Endian");

    Frame frame;
    if (!stored_xfer.isEncapsulated()) {
      auto bytes = native_frame(*px, *g, index, stored_xfer.getPixelDataByteOrder(), !as_stored);
      if (!bytes) return std::unexpected(bytes.error());
      frame.bytes = std::move(*bytes);
      frame.transfer_syntax_uid = as_stored ? stored_uid : std::string(kExplicitLittle);
      frame.media_type = "application/octet-stream";
      return frame;
    }

    auto items = pixel_items(*px);
    if (!items) return std::unexpected(items.error());
    auto range = locate_fragments(*items, g->number_of_frames, index);
    if (!range) return std::unexpected(range.error());
    if (as_stored) {
      auto bytes = encapsulated_frame(*items, *range);
      if (!bytes) return std::unexpected(bytes.error());
      frame.bytes = std::move(*bytes);
      frame.transfer_syntax_uid = stored_uid;
      frame.media_type = media_type_of(stored_uid);
      return frame;
    }
    auto bytes = decoded_frame(ds, *px, stored, *g, index, *range, *items);
    if (!bytes) return std::unexpected(bytes.error());
    frame.bytes = std::move(*bytes);
    frame.transfer_syntax_uid = std::string(kExplicitLittle);
    frame.media_type = "application/octet-stream";
    return frame;
  });
}

std::string media_type_of(std::string_view ts) {
  struct Entry {
    std::string_view uid;
    std::string_view type;
  };
  // PS3.18 Table 8.7.3-5 (single frame bulk data media types).
  static constexpr Entry kTable[] = {
      {"1.2.840.10008.1.2.4.50", "image/jpeg"},   {"1.2.840.10008.1.2.4.51", "image/jpeg"},
      {"1.2.840.10008.1.2.4.57", "image/jpeg"},   {"1.2.840.10008.1.2.4.70", "image/jpeg"},
      {"1.2.840.10008.1.2.4.80", "image/jls"},    {"1.2.840.10008.1.2.4.81", "image/jls"},
      {"1.2.840.10008.1.2.4.90", "image/jp2"},    {"1.2.840.10008.1.2.4.91", "image/jp2"},
      {"1.2.840.10008.1.2.4.92", "image/jpx"},    {"1.2.840.10008.1.2.4.93", "image/jpx"},
      {"1.2.840.10008.1.2.4.201", "image/jphc"},  {"1.2.840.10008.1.2.4.202", "image/jphc"},
      {"1.2.840.10008.1.2.4.203", "image/jphc"},  {"1.2.840.10008.1.2.5", "image/x-dicom-rle"},
      {"1.2.840.10008.1.2.4.100", "video/mpeg"},  {"1.2.840.10008.1.2.4.101", "video/mpeg"},
      {"1.2.840.10008.1.2.4.102", "video/mp4"},   {"1.2.840.10008.1.2.4.103", "video/mp4"},
      {"1.2.840.10008.1.2.4.104", "video/mp4"},   {"1.2.840.10008.1.2.4.105", "video/mp4"},
      {"1.2.840.10008.1.2.4.106", "video/mp4"},   {"1.2.840.10008.1.2.4.107", "video/H265"},
      {"1.2.840.10008.1.2.4.108", "video/H265"},
  };
  for (const auto& e : kTable)
    if (e.uid == ts) return std::string(e.type);
  // Retired JPEG processes (1.2.840.10008.1.2.4.52 - .66) are JPEG too.
  constexpr std::string_view kJpegPrefix = "1.2.840.10008.1.2.4.";
  if (ts.starts_with(kJpegPrefix)) {
    int n = 0;
    const std::string_view rest = ts.substr(kJpegPrefix.size());
    const auto r = std::from_chars(rest.data(), rest.data() + rest.size(), n);
    if (r.ec == std::errc() && r.ptr == rest.data() + rest.size() && n >= 52 && n <= 66) return "image/jpeg";
  }
  return "application/octet-stream";
}

} // namespace tresor::dicom
