// JPEG 2000 frame decoder (OpenJPEG), private to dicom/. DCMTK-free.
// Contract:
//  - the input is one encapsulated frame of a JPEG 2000 transfer syntax
//    (1.2.840.10008.1.2.4.90 / .91): a raw J2K codestream (starts with
//    SOC+SIZ, FF 4F FF 51) or a JP2 file (starts with the JP2 signature box);
//    anything else is corrupt. It is read from memory, never from disk;
//  - before OpenJPEG reads the header, the SIZ marker is checked here: at
//    most 4 components, a working image (4 bytes a sample) of at most
//    kMaxJ2kWorkingBytes and on average at least 1,024 samples a tile
//    (OpenJPEG allocates per tile and component while reading the header);
//    unsupported otherwise;
//  - j2k_header() reads the main header only (no decoding) and reports the
//    geometry the codestream declares;
//  - decode_j2k_frame() first checks that geometry against what the data set
//    declares (`expect`): Columns x Rows, SamplesPerPixel components, each
//    one without subsampling, of precision BitsStored and the signedness of
//    PixelRepresentation; BitsAllocated must be 8 or 16 and at least
//    BitsStored. A disagreement is corrupt (nothing is decoded). The frame's
//    native size (Rows x Columns x SamplesPerPixel x BitsAllocated / 8) must
//    not exceed max_output_bytes, and OpenJPEG's working image (4 bytes a
//    sample) not kMaxJ2kWorkingBytes: unsupported otherwise. Decoding is
//    strict: a truncated or damaged codestream is corrupt, never a partial
//    image;
//  - the output is the frame as native DICOM pixel data stores it: samples
//    interleaved (PlanarConfiguration 0), one byte a sample for
//    BitsAllocated 8, two little-endian bytes (uint16, or int16 two's
//    complement: sign-extended) for BitsAllocated 16. JP2 palettes and
//    channel definitions are not applied (the DICOM data set describes the
//    components). A multiple component transform signalled in the
//    codestream (RCT for YBR_RCT, ICT for YBR_ICT) is undone by OpenJPEG:
//    colour output is then RGB (the caller updates PhotometricInterpretation).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace tresor::dicom::detail {

// 4 bytes a sample: 512 MiB is an 11k x 11k grey or a 6.5k x 6.5k RGB frame.
// Also the cap of a whole decoded object in transcode() and of a frame in
// read_frame() and render().
inline constexpr std::uint64_t kMaxJ2kWorkingBytes = 512ull << 20;

struct J2kGeometry {
  std::uint32_t rows = 0;
  std::uint32_t columns = 0;
  std::uint32_t samples_per_pixel = 0;
  std::uint32_t bits_allocated = 0;  // 8 or 16 (ignored by j2k_header)
  std::uint32_t bits_stored = 0;     // component precision
  bool is_signed = false;            // PixelRepresentation 1
};

// The geometry the main header declares (bits_allocated: the smallest of 8
// and 16 that holds the precision, 0 above 16). Corrupt when it cannot be
// read, or its components differ in size, precision or signedness.
Result<J2kGeometry> j2k_header(std::string_view codestream);

Result<std::string> decode_j2k_frame(std::string_view codestream, const J2kGeometry& expect,
                                     std::uint64_t max_output_bytes);

} // namespace tresor::dicom::detail
