// PS3.5 9.1 UID grammar.
#include "dicom/inspect.h"

namespace tresor::dicom {

bool is_valid_uid(std::string_view uid) noexcept {
  if (uid.empty() || uid.size() > 64) return false;
  std::size_t component_len = 0;
  char first = 0;
  for (char c : uid) {
    if (c == '.') {
      if (component_len == 0) return false;  // empty component ("1..2", ".1")
      component_len = 0;
      continue;
    }
    if (c < '0' || c > '9') return false;
    if (component_len == 0) first = c;
    else if (first == '0') return false;      // leading zero in a multi-digit component
    ++component_len;
  }
  return component_len > 0;                   // no trailing dot
}

} // namespace tresor::dicom
