// JPEG 2000 pixel data of a DCMTK data set, decoded with j2k_decode.cpp
// (OpenJPEG): see web_internal.h for the contracts.
#include <optional>
#include <vector>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>

#include "dicom/j2k_decode.h"
#include "dicom/web_internal.h"

namespace tresor::dicom::detail {

bool is_jpeg2000(E_TransferSyntax xfer) {
  return xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000;
}

Result<std::string> decode_j2k(DcmDataset& ds, const PixelGeometry& g, std::string_view codestream,
                               std::uint64_t max_output_bytes) {
  Uint16 bits_stored = 0, representation = 0;
  if (ds.findAndGetUint16(DCM_BitsStored, bits_stored).bad() || bits_stored == 0)
    return fail(Errc::corrupt, "Bits Stored missing");
  if (ds.findAndGetUint16(DCM_PixelRepresentation, representation).bad()) representation = 0;
  J2kGeometry expect;
  expect.rows = g.rows;
  expect.columns = g.columns;
  expect.samples_per_pixel = g.samples_per_pixel;
  expect.bits_allocated = g.bits_allocated;
  expect.bits_stored = bits_stored;
  expect.is_signed = representation == 1;
  return decode_j2k_frame(codestream, expect, max_output_bytes);
}

Status decode_j2k_pixel_data(DcmDataset& ds, std::uint64_t max_bytes, std::optional<std::uint32_t> only_frame) {
  DcmPixelData* px = top_pixel_data(ds);
  if (!px) return {};
  auto g = read_pixel_geometry(ds);
  if (!g) return std::unexpected(g.error());
  if (g->bits_allocated != 8 && g->bits_allocated != 16)
    return fail(Errc::unsupported, "JPEG 2000: only 8 and 16 bits allocated are decoded");
  if (only_frame && *only_frame >= g->number_of_frames) return fail(Errc::invalid_argument, "frame number out of range");
  const std::uint32_t first = only_frame.value_or(0);
  const std::uint32_t end = only_frame ? *only_frame + 1 : g->number_of_frames;
  const std::uint64_t frame_bytes = g->frame_bits() / 8;
  const std::uint64_t total = frame_bytes * (end - first);
  if (total > max_bytes || total > 0xFFFFFFFEull) return fail(Errc::unsupported, "too large to decode");
  auto items = pixel_items(*px);
  if (!items) return std::unexpected(items.error());

  std::string pixels;
  pixels.reserve(static_cast<std::size_t>(total));
  for (std::uint32_t f = first; f < end; ++f) {
    auto range = locate_fragments(*items, g->number_of_frames, f);
    if (!range) return std::unexpected(range.error());
    auto codestream = encapsulated_frame(*items, *range);
    if (!codestream) return std::unexpected(codestream.error());
    auto frame = decode_j2k(ds, *g, *codestream, frame_bytes);
    if (!frame) return std::unexpected(frame.error());
    pixels += *frame;
  }

  OFCondition c;
  if (g->bits_allocated == 8) {
    c = ds.putAndInsertUint8Array(DCM_PixelData, reinterpret_cast<const Uint8*>(pixels.data()),
                                  static_cast<unsigned long>(pixels.size()));
  } else {
    // The decoder's output is little endian; DCMTK wants host-order words.
    std::vector<Uint16> words(pixels.size() / 2);
    for (std::size_t i = 0; i < words.size(); ++i)
      words[i] = Uint16(static_cast<unsigned char>(pixels[2 * i]) |
                        (static_cast<unsigned char>(pixels[2 * i + 1]) << 8));
    pixels.clear();
    pixels.shrink_to_fit();
    c = ds.putAndInsertUint16Array(DCM_PixelData, words.data(), static_cast<unsigned long>(words.size()));
  }
  if (c.bad()) return fail(Errc::resource_exhausted, "cannot hold the decoded pixel data");
  OFString pi;
  if (ds.findAndGetOFString(DCM_PhotometricInterpretation, pi).good() && (pi == "YBR_RCT" || pi == "YBR_ICT"))
    c = ds.putAndInsertString(DCM_PhotometricInterpretation, "RGB");
  if (c.good() && g->samples_per_pixel > 1) c = ds.putAndInsertUint16(DCM_PlanarConfiguration, 0);
  if (c.good() && only_frame && ds.tagExists(DCM_NumberOfFrames)) c = ds.putAndInsertString(DCM_NumberOfFrames, "1");
  if (c.bad()) return fail(Errc::internal, "cannot describe the decoded pixel data");
  return {};
}

} // namespace tresor::dicom::detail
