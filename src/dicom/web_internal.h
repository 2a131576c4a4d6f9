// Helpers shared by the web_*.cpp files (DICOMweb conversions). Includes
// DCMTK headers: private to dicom/.
// Contract:
//  - load_header(): reads a stored Part-10 object (meta header required)
//    from its ByteSource with DCMTK (dicom/source_stream.h), leaving element
//    values larger than 4 KiB in the source (they are read on access); no
//    source -> not_found, a read error of the source -> that error, parse
//    failure -> corrupt;
//  - read_pixel_geometry(): Rows, Columns, SamplesPerPixel, BitsAllocated and
//    NumberOfFrames of the top-level data set, bounded (corrupt when absent
//    or out of range);
//  - guarded(): runs a callable and turns escaping C++ exceptions into
//    Errc::internal / resource_exhausted errors (DCMTK and the codecs must
//    never throw across the module boundary).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcspchrs.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include "core/byte_source.h"
#include "core/error.h"
#include "dicom/j2k_decode.h"

namespace tresor::dicom::detail {

// Values above this size stay on disk until read.
inline constexpr Uint32 kMaxReadLength = 4096;

Result<std::unique_ptr<DcmFileFormat>> load_header(std::shared_ptr<ByteSource> object);

// The transfer syntax the data set was stored in (UID string).
std::string stored_syntax_uid(DcmFileFormat& ff);

struct PixelGeometry {
  std::uint32_t rows = 0;
  std::uint32_t columns = 0;
  std::uint32_t samples_per_pixel = 0;
  std::uint32_t bits_allocated = 0;
  std::uint32_t number_of_frames = 0;  // >= 1
  // Native YBR_FULL_422 / YBR_PARTIAL_422 (PS3.3 C.7.6.3.1.2): the two
  // chrominance samples are shared by two pixels, so a frame holds 2 samples
  // a pixel, not 3.
  bool subsampled_422 = false;
  // Bits of one frame as stored (native pixel data).
  std::uint64_t frame_bits() const {
    return std::uint64_t(rows) * columns * (subsampled_422 ? 2 : samples_per_pixel) * bits_allocated;
  }
};
Result<PixelGeometry> read_pixel_geometry(DcmDataset& ds);

// DCMTK 3.6.7's RLE decoder trusts the 64-byte RLE header of a frame's
// fragment (its length and segment offsets): corrupt unless the header is
// there and every segment it names lies inside the fragment, in order.
Status check_rle_header(DcmPixelItem& item);
// check_rle_header on every fragment of RLE pixel data (PS3.5 A.4.2: one
// fragment per frame). No-op for other syntaxes.
Status check_rle_fragments(DcmDataset& ds);

// NumberOfFrames of a data set with top-level PixelData (>= 1), 0 without.
std::uint32_t number_of_frames(DcmDataset& ds);

// The top-level Pixel Data element, or nullptr.
DcmPixelData* top_pixel_data(DcmDataset& ds);
// The items of encapsulated pixel data (item 0: the Basic Offset Table);
// corrupt when there is none or the sequence is malformed.
Result<std::vector<DcmPixelItem*>> pixel_items(DcmPixelData& px);
// The fragments (indexes into pixel_items(); item 0 is the Basic Offset
// Table) of encapsulated frame `index` (0-based): [first, last).
struct FragmentRange {
  std::size_t first = 0;
  std::size_t last = 0;
};
Result<FragmentRange> locate_fragments(const std::vector<DcmPixelItem*>& items, std::uint32_t frames,
                                       std::uint32_t index);
// The bytes of those fragments, concatenated (the frame's codestream).
Result<std::string> encapsulated_frame(const std::vector<DcmPixelItem*>& items, FragmentRange r);

// JPEG 2000 (j2k_dataset.cpp, with OpenJPEG: Debian's DCMTK 3.6.7 has no
// codec for it). Part 1 lossless-only and lossy (1.2.840.10008.1.2.4.90/.91).
bool is_jpeg2000(E_TransferSyntax xfer);
// One encapsulated frame decoded to native little-endian pixels, checked
// against the data set's Rows, Columns, SamplesPerPixel, BitsAllocated,
// BitsStored and PixelRepresentation (j2k_decode.h).
Result<std::string> decode_j2k(DcmDataset& ds, const PixelGeometry& g, std::string_view codestream,
                               std::uint64_t max_output_bytes);
// Replaces the data set's encapsulated JPEG 2000 Pixel Data by native Pixel
// Data holding every frame decoded (OW for BitsAllocated 16, OB for 8), and
// describes it as DCMTK's decoders do: PhotometricInterpretation YBR_RCT and
// YBR_ICT become RGB (the codestream's component transform is undone by the
// decoder), PlanarConfiguration 0. With `only_frame` (0-based), that frame
// only, and NumberOfFrames (if present) becomes 1. unsupported when the
// frames would exceed max_bytes; corrupt when a frame cannot be located or
// decoded.
Status decode_j2k_pixel_data(DcmDataset& ds, std::uint64_t max_bytes,
                             std::optional<std::uint32_t> only_frame = std::nullopt);

// Appends `in`, replacing each byte that does not start a valid UTF-8
// sequence (RFC 3629: no overlongs, surrogates or code points > U+10FFFF)
// by U+FFFD.
void append_valid_utf8(std::string& out, std::string_view in);

// Converts strings of one item to UTF-8 according to its SpecificCharacterSet
// value (raw, possibly multi-valued; empty = default repertoire). Never
// fails: undecodable bytes become U+FFFD. `delimiters` are the characters
// that reset ISO 2022 designations for the VR ("\\^=" for PN, "\\" for
// multi-valued strings, "" for texts; CR LF FF HT always do).
class Iso2022;
class Utf8Converter {
public:
  explicit Utf8Converter(std::string_view specific_character_set);
  ~Utf8Converter();
  Utf8Converter(const Utf8Converter&) = delete;
  Utf8Converter& operator=(const Utf8Converter&) = delete;
  void append(std::string& out, std::string_view raw, const char* delimiters) const;

private:
  std::unique_ptr<Iso2022> iso2022_;
  std::unique_ptr<DcmSpecificCharacterSet> dcmtk_;
};

template <class F> auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return std::unexpected(Error{Errc::resource_exhausted, "out of memory"});
  } catch (const std::exception&) {
    return std::unexpected(Error{Errc::internal, "unexpected failure in the DICOM conversion"});
  }
}

} // namespace tresor::dicom::detail
