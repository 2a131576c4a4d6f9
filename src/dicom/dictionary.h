// The DICOM data dictionary (DCMTK's, PS3.6) behind a DCMTK-free interface,
// for front ends that name attributes by keyword (QIDO-RS) or need a VR
// (DICOM JSON). Thread-safe (DCMTK's dictionary is read-locked per call).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include "core/model.h"

namespace tresor::dicom {

// "PatientName" -> 0x00100010; nullopt for an unknown keyword.
std::optional<Tag> tag_for_keyword(std::string_view keyword);
// 0x00100010 -> "PatientName"; "" when unknown (private, retired-unknown).
std::string keyword_for(Tag tag);
// Two-letter VR of the dictionary entry; ambiguous VRs resolved to the usual
// choice (US for xs, OW for ox/px, OB for lt); "UN" when unknown.
std::string vr_for(Tag tag);

// Converts a value encoded in `specific_character_set` (the (0008,0005)
// value, '\\'-joined) to UTF-8. ASCII-only values and an empty or
// "ISO_IR 192" character set pass through unchanged; a conversion failure
// returns the input unchanged (the JSON writer then replaces invalid bytes).
// For PN values pass is_pn = true ('=' and '^' are delimiters).
std::string to_utf8(std::string_view value, std::string_view specific_character_set, bool is_pn = false);

} // namespace tresor::dicom
