// Validation and key extraction of a received object. DCMTK-free interface.
// Contract for inspect_file():
//  - input is a file on disk (Part-10 with meta header, as DCMTK writes a
//    received C-STORE; or a file to import, which may lack the meta header);
//  - rejects (Errc::invalid_argument / too_large, with a reason safe to show)
//    objects larger than limits.max_object_bytes, sequences nested deeper than
//    limits.max_sequence_depth (checked by a bounded pre-scan BEFORE DCMTK
//    parses anything), missing or syntactically invalid Study/Series/SOP
//    Instance UIDs or SOP Class UID, truncated or unparsable data, top-level
//    Pixel Data that does not hold what Rows x Columns x SamplesPerPixel x
//    BitsAllocated x NumberOfFrames declare (native: shorter; encapsulated:
//    fewer fragments than frames) or whose encoding contradicts the
//    transfer syntax (detail::check_pixel_geometry);
//  - if the file has a 128-byte preamble, overwrites it with zeros in place
//    (CVE-2019-11687); files without meta header are rewritten in place as
//    Part-10 files with a zero preamble, data set bytes unchanged; these
//    in-place changes are not fsynced (the file is a store temp file, made
//    durable by BlobStore::commit());
//  - returns the indexed keys and the byte offset at which the data set starts.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string_view>
#include "core/error.h"
#include "core/model.h"

namespace tresor::dicom {

struct Limits {
  std::uint64_t max_object_bytes = 4ull << 30;  // 4 GiB
  int max_sequence_depth = 32;
};

struct Inspection {
  InstanceRecord record;
  std::uint64_t dataset_offset = 0;
};

Result<Inspection> inspect_file(const std::filesystem::path& file, const Limits& limits);

// True unless the file is no DICOM at all: "DICM" at offset 128, or a
// plausible first data element at offset 0 (a bare data set whose first
// group is 0002, 0004 or 0008; every object inspect_file accepts starts like
// that). Reads at most 136 bytes. inspect_file refuses such files with the
// reason "not a DICOM file"; `tresor import` skips them (a README or a CSV
// next to the images) instead of counting them as failures.
bool looks_like_dicom(const std::filesystem::path& file);

// PS3.5 9.1 UID grammar: 1..64 chars, digits and dots, no empty component,
// no leading zero in a multi-digit component.
bool is_valid_uid(std::string_view uid) noexcept;

// Set DCMTK's process-wide globals and register codecs. Call once at start-up
// before any thread starts.
void init_globals();

} // namespace tresor::dicom
