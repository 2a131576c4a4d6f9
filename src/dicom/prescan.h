// Bounded, iterative pre-scan of a DICOM file's raw bytes. Private to dicom/.
// Contract:
//  - walks every element header once (single pass, buffered reads, values are
//    skipped by seeking, never loaded), in Implicit VR LE, Explicit VR LE/BE
//    and Deflated Explicit VR LE (inflated by streaming, output capped at
//    max_object_bytes);
//  - descends into every construct DCMTK's recursive parser would descend into
//    (SQ, undefined-length elements, CP-246 UN sequences, defined-length
//    implicit-VR values that start with an Item tag) and refuses nesting
//    deeper than max_sequence_depth before DCMTK sees the bytes;
//  - never trusts a length: a value running past its enclosing item or past
//    the end of the file is refused (truncated -> invalid_argument);
//  - uses no recursion, no DCMTK, and a frame stack bounded by the depth limit.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include "core/error.h"
#include "dicom/inspect.h"

namespace tresor::dicom::detail {

enum class Encoding { implicit_le, explicit_le, explicit_be, deflated_le };

inline constexpr const char* kImplicitLE = "1.2.840.10008.1.2";
inline constexpr const char* kExplicitLE = "1.2.840.10008.1.2.1";
inline constexpr const char* kExplicitBE = "1.2.840.10008.1.2.2";
inline constexpr const char* kDeflatedLE = "1.2.840.10008.1.2.1.99";

// Upper bound on the number of elements (at all levels) of one object: DCMTK
// keeps ~150 bytes of heap per element, so this bounds its memory use.
inline constexpr std::uint64_t kMaxElements = 1'000'000;

struct PrescanResult {
  bool has_meta = false;            // "DICM" at offset 128
  bool preamble_nonzero = false;    // some byte in 0..127 is not zero
  std::uint64_t dataset_offset = 0; // first byte after the meta group (0 if no meta)
  // Transfer syntax UID from the meta header (trailing NUL/space removed); empty if
  // there is no meta header or it has no (0002,0010).
  std::string meta_transfer_syntax;
  bool meta_has_sop_instance = false;
  std::string meta_sop_instance_uid;
  Encoding encoding = Encoding::explicit_le;  // how the data set is encoded
  bool encoding_detected = false;   // true if guessed from the bytes (no TS given)
  // Offset (in the file) of the top-level Pixel Data element header, or the
  // end of the data set if there is none. Meaningless for deflated files.
  std::uint64_t header_end = 0;
  int max_depth = 0;                // deepest sequence nesting seen
  std::uint64_t elements = 0;
  // The top-level Pixel Data (7FE0,0010), if any: its value length (native
  // pixel data) or, when it has an undefined length (encapsulated), the
  // number of items in its sequence (the Basic Offset Table included).
  bool has_pixel_data = false;
  bool pixel_data_encapsulated = false;
  std::uint32_t pixel_data_length = 0;
  std::uint64_t pixel_data_items = 0;
};

// Pixel geometry as declared by the data set, for the ingest check.
struct DeclaredGeometry {
  std::uint64_t rows = 0, columns = 0, samples_per_pixel = 1, bits_allocated = 0;
  std::int64_t number_of_frames = 1;  // NumberOfFrames, 1 when absent
  bool subsampled_422 = false;        // native YBR_FULL_422 / YBR_PARTIAL_422: 2 samples a pixel
};

// Checks the declared geometry against the top-level Pixel Data the
// pre-scan found (the class of CVE-2024-47796: a decoder trusting
// Rows x Columns x SamplesPerPixel x BitsAllocated x NumberOfFrames).
// `encapsulated_syntax`: the transfer syntax is an encapsulated one;
// `video_syntax`: an MPEG-2 / MPEG-4 / HEVC one (one stream for all frames).
// Native: the value must hold every declared frame (trailing padding is
// allowed). Encapsulated: at least one fragment per frame (PS3.5 A.4: a
// fragment never holds data of two frames; video excepted) and a frame whose
// decoded size fits 32 bits. Both: 1 <= Rows, Columns; SamplesPerPixel 1..4;
// BitsAllocated 1 or 8..64 in steps of 8; NumberOfFrames >= 1; arithmetic
// without overflow. invalid_argument with the reason otherwise.
Status check_pixel_geometry(const PrescanResult& ps, const DeclaredGeometry& g, bool encapsulated_syntax,
                            bool video_syntax);

// Maps a transfer syntax UID to the encoding of its data set, nullopt if the
// syntax is unknown. inspect.cpp asks DCMTK, so both parsers read the bytes
// the same way.
using SyntaxResolver = std::optional<Encoding> (*)(std::string_view uid);

// `fd` is an open, readable regular file of `file_size` bytes. A meta header
// naming a syntax the resolver does not know -> Errc::unsupported.
Result<PrescanResult> prescan(int fd, std::uint64_t file_size, const Limits& limits, SyntaxResolver resolve);

// The reason given for a file that is no DICOM at all (no "DICM" at offset
// 128 and no plausible data set at offset 0).
inline constexpr std::string_view kNotDicom = "not a DICOM file";

// Could these first n bytes of a file without "DICM" at 128 start a data set
// (a first element of group 0002, 0004 or 0008, little or big endian)?
bool plausible_dataset_start(const std::uint8_t* p, std::size_t n) noexcept;

// Transfer syntax UID for an encoding.
const char* encoding_uid(Encoding e) noexcept;

} // namespace tresor::dicom::detail
