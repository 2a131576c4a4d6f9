#include "core/model.h"

namespace tresor {

const char* to_string(Level level) noexcept {
  switch (level) {
    case Level::patient: return "PATIENT";
    case Level::study: return "STUDY";
    case Level::series: return "SERIES";
    case Level::image: return "IMAGE";
  }
  return "STUDY";
}

std::optional<Level> parse_level(std::string_view text) noexcept {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.remove_suffix(1);
  if (text == "PATIENT") return Level::patient;
  if (text == "STUDY") return Level::study;
  if (text == "SERIES") return Level::series;
  if (text == "IMAGE") return Level::image;
  return std::nullopt;
}

} // namespace tresor
