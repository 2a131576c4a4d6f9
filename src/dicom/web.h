// DICOMweb conversions of stored Part-10 files (PS3.18). DCMTK-free
// interface: http/ uses it without seeing DCMTK.
// Contract for every function:
//  - input is a stored object's plaintext as a ByteSource
//    (core/byte_source.h; RetrieveService::open / BlobStore::open), a Part-10
//    object with its meta header, never a file path (the store may keep the
//    object encrypted on disk); the source is shared with the DCMTK streams
//    reading it (dicom/source_stream.h) and read by the calling thread only;
//  - only the bytes needed are read from the source: the elements of the
//    header (values larger than 4 KiB are skipped, not read: DCMTK's
//    maxReadLength, re-read through the stream factory on access) and the
//    bytes of what is asked (one frame's pixels or fragments, one bulk
//    value), in 64 KiB windows (dicom::kSourceBuffer), so a frame of a
//    500-frame object decrypts a frame's worth of chunks, not the object;
//  - nothing larger than one frame (or one rendered image) is held in memory
//    besides what DCMTK needs to decode it; metadata reads never decode
//    pixel data;
//  - errors: invalid_argument for bad requests (frame number out of range,
//    unknown transfer syntax), unsupported when a conversion is impossible
//    (the caller answers 406), corrupt when the stored file cannot be parsed.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <memory>
#include "core/byte_source.h"
#include "core/error.h"
#include "core/model.h"

namespace tresor::dicom {

// ---- DICOM JSON (PS3.18 F.2) ----
struct JsonOptions {
  // Absolute URL of the instance, e.g.
  // "https://host:8443/dicom-web/studies/1/series/2/instances/3". Bulk data
  // elements get BulkDataURI = instance_url + "/bulk/" + path, where path is
  // the 8-hex-digit tags (lower case) and item indexes from the top level
  // down, joined by '/' (e.g. "7fe00010" or "00540016/0/00181072");
  // PixelData is bulk data too (path "7fe00010"). Empty instance_url:
  // bulk elements are left out entirely.
  std::string instance_url;
  // Binary values (OB OD OF OL OV OW UN) and any value longer than this are
  // bulk data; shorter binary values are InlineBinary (base64).
  std::size_t bulk_threshold = 1024;
};

// One instance's data set as a DICOM JSON object ("{...}", no surrounding
// array). Meta header elements (group 0002) are left out. PN values become
// {"Alphabetic": ...} objects (Ideographic/Phonetic when present); IS/DS
// become JSON numbers; AT becomes "ggggeeee"; sequences nest.
Result<std::string> to_dicom_json(std::shared_ptr<ByteSource> object, const JsonOptions& options);

// The value of the bulk element at `path` (see JsonOptions) as raw bytes in
// the stored byte order. invalid_argument for a malformed path, not_found if
// absent. PixelData of an encapsulated syntax is not served here (frames are).
Result<std::string> bulk_value(std::shared_ptr<ByteSource> object, std::string_view path);

// ---- Frames (PS3.18 8.7.4 / 10.4.1.1.3) ----
struct FrameInfo {
  std::uint32_t number_of_frames = 0;   // 0 = no pixel data
  std::string transfer_syntax_uid;       // as stored
  bool encapsulated = false;
};
Result<FrameInfo> frame_info(std::shared_ptr<ByteSource> object);

// Frame `number` (1-based). If `transfer_syntax_uid` is the stored syntax or
// "*", the bytes are returned as stored (the compressed bitstream of an
// encapsulated syntax, all fragments of that frame concatenated); if it is
// Explicit VR Little Endian ("1.2.840.10008.1.2.1"), the frame is decoded to
// native little-endian pixels (DCMTK codecs: JPEG, JPEG-LS, RLE; OpenJPEG:
// JPEG 2000 .90/.91, corrupt when the codestream disagrees with the data
// set's geometry; other syntaxes -> unsupported). Anything else ->
// unsupported. `media_type` is set to the
// matching media type (application/octet-stream, image/jpeg, image/jls,
// image/jp2, image/x-dicom-rle, ...).
struct Frame {
  std::string bytes;
  std::string transfer_syntax_uid;
  std::string media_type;
};
Result<Frame> read_frame(std::shared_ptr<ByteSource> object, std::uint32_t number,
                         std::string_view transfer_syntax_uid);

// ---- Rendered / thumbnail (PS3.18 8.3.5.1.3) ----
enum class ImageFormat { jpeg, png };
struct RenderOptions {
  ImageFormat format = ImageFormat::jpeg;
  std::uint32_t frame = 1;               // 1-based
  int quality = 90;                      // JPEG quality 1..100
  std::optional<double> window_center;   // both or neither; else the first window in the file, else min/max
  std::optional<double> window_width;
  std::uint32_t max_rows = 0;            // scale down (keeping aspect) to fit; 0 = original size
  std::uint32_t max_columns = 0;
};
// 8-bit grey (MONOCHROME1/2, VOI LUT or window applied) or RGB output,
// encoded with libjpeg-turbo or libpng. unsupported for pixel data neither
// DCMTK nor OpenJPEG (JPEG 2000 .90/.91) can decode; corrupt for a JPEG 2000
// codestream that disagrees with the data set.
Result<std::string> render(std::shared_ptr<ByteSource> object, const RenderOptions& options);

// ---- Transfer syntax conversion for WADO-RS / WADO-URI instance retrieval ----
// Writes a Part-10 copy of the stored object `in` in `transfer_syntax_uid`
// to `out` (a new file, 0600). Supported targets: Implicit/Explicit VR Little Endian and any
// syntax DCMTK can encode from the stored one (decompression of JPEG,
// JPEG-LS, RLE, and of JPEG 2000 .90/.91 with OpenJPEG; encoding to JPEG-LS
// lossless / RLE / JPEG lossless). The data set is otherwise unchanged
// (decoded JPEG 2000: YBR_RCT / YBR_ICT become RGB, PlanarConfiguration 0).
// unsupported when nothing here can convert.
Status transcode(std::shared_ptr<ByteSource> in, const std::filesystem::path& out,
                 std::string_view transfer_syntax_uid);

// Media type of a transfer syntax for single-frame bulk data
// ("application/octet-stream" for the native ones).
std::string media_type_of(std::string_view transfer_syntax_uid);

} // namespace tresor::dicom
