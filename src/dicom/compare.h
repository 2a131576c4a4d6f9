// Is a re-sent instance the same data set as the stored one, once decoded?
// DCMTK-free interface (services/ uses it).
// Contract for same_dataset():
//  - a and b are the plaintext of two stored Part-10 objects that passed
//    inspect_file (the archived blob and a newly received one with the same
//    SOP Instance UID), read through their ByteSources (BlobStore::open);
//  - each data set is decoded to Explicit VR Little Endian with DCMTK's
//    codecs (JPEG, JPEG-LS, RLE; the RLE fragments checked first) or, for
//    JPEG 2000 (1.2.840.10008.1.2.4.90/.91), with OpenJPEG (j2k_decode.h:
//    each frame checked against the declared geometry, PhotometricInterpretation
//    YBR_RCT/YBR_ICT read as the RGB the decoder returns) and the two
//    are compared attribute by attribute, in tag order, nested sequences
//    included: same tags, same number of items, same values. Ignored: the
//    preamble and group 0002 (not part of the data set), group length
//    elements (gggg,0000), Data Set Trailing Padding (FFFC,FFFC), how
//    lengths are encoded (defined or undefined), the byte order, the VR an
//    implicit-VR encoding left unknown (the value bytes are compared), and
//    the padding of string values (trailing spaces and NULs). Native Pixel
//    Data is compared over the bytes of the declared frames (Rows x Columns
//    x SamplesPerPixel x BitsAllocated x NumberOfFrames): bytes after them
//    are padding, not pixels;
//  - pixels are compared bit for bit: a lossy-compressed copy of a lossless
//    original decodes to other pixels (and says LossyImageCompression=01),
//    so it is a different data set. There is no tolerance rule: a PACS cannot
//    tell a lossy re-send from a tampered image;
//  - unsupported when either cannot be decoded here (JPEG 2000 Part 2,
//    HTJ2K, video: no codec; JPEG 2000 with a BitsAllocated other than 8 or
//    16) or declares more than max_decoded_bytes
//    of pixels (the comparison holds both decoded objects in memory);
//    corrupt when either cannot be parsed. The caller keeps its refusal then.
#pragma once
#include <cstdint>
#include <memory>
#include "core/byte_source.h"
#include "core/error.h"

namespace tresor::dicom {

inline constexpr std::uint64_t kDefaultMaxCompareBytes = 256ull << 20;  // decoded pixels per object

Result<bool> same_dataset(std::shared_ptr<ByteSource> a, std::shared_ptr<ByteSource> b,
                          std::uint64_t max_decoded_bytes = kDefaultMaxCompareBytes);

} // namespace tresor::dicom
