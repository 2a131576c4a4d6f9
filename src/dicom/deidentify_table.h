// Table E.1-1 of PS3.15 (Basic Application Level Confidentiality Profile) and
// the safe private list, as data for deidentify.cpp. Internal to src/dicom.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>

namespace tresor::dicom::deid {

// The basic profile's action (Table E.1-1, "Basic Prof." column).
enum class Action : std::uint8_t {
  X,    // remove
  Z,    // zero length
  D,    // non-zero dummy of the VR
  K,    // keep (sequences: cleaned recursively)
  U,    // replace the UID (map_uid)
  XZ,   // X/Z: applied as Z
  XD,   // X/D, Z/D, X/Z/D: applied as D
  XZU,  // X/Z/U*: sequence kept, every UID in it replaced
};

// The option column that overrides the basic action, if any.
enum class Option : std::uint8_t {
  none,
  dates,        // Retain Longitudinal Temporal Information, Modified Dates: C (shifted)
  patient,      // Retain Patient Characteristics: K
  device,       // Retain Device Identity: K
  descriptors,  // Clean Descriptors: C (kept, identifying words removed)
  structured,   // Clean Structured Content: C (content tree kept and cleaned)
};

struct Entry {
  std::string_view keyword;  // DCMTK data dictionary name (standard keyword)
  Action action;
  Option option;
};

// Every attribute of Table E.1-1 handled here (repeating groups 50xx/60xx
// are handled by group in deidentify.cpp).
std::span<const Entry> table();

// The safe private attributes kept (Table E.3.10-1 style): private creator,
// group, element offset within the creator's block. Kept only with a numeric
// VR (DS IS FD FL SL SS UL US), so a name can never hide in them.
struct SafePrivate {
  std::string_view creator;
  std::uint16_t group;
  std::uint8_t element;  // low byte of the element number (xx of gggg,00xx)
};
std::span<const SafePrivate> safe_private();

} // namespace tresor::dicom::deid
