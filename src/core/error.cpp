#include "core/error.h"

namespace tresor {

std::uint16_t Error::dimse_status() const noexcept {
  switch (code) {
    case Errc::invalid_argument: return 0xA900;   // Error: data set does not match SOP class
    case Errc::not_found: return 0xA801;          // Move destination unknown / nothing to do
    case Errc::conflict: return 0x0110;           // Processing failure: would overwrite a different object
    case Errc::permission_denied: return 0x0124;  // Refused: not authorized
    case Errc::unauthenticated: return 0x0124;
    case Errc::too_large: return 0xA700;          // Refused: out of resources
    case Errc::resource_exhausted: return 0xA700;
    case Errc::unsupported: return 0x0122;        // Refused: SOP class not supported
    case Errc::io_error: return 0xA700;
    case Errc::corrupt: return 0xC000;            // Error: cannot understand
    case Errc::unavailable: return 0xA700;
    case Errc::rate_limited: return 0xA700;
    case Errc::internal: return 0xC000;
  }
  return 0xC000;
}

int Error::http_status() const noexcept {
  switch (code) {
    case Errc::invalid_argument: return 400;
    case Errc::not_found: return 404;
    case Errc::conflict: return 409;
    case Errc::permission_denied: return 403;
    case Errc::unauthenticated: return 401;
    case Errc::too_large: return 413;
    case Errc::resource_exhausted: return 503;
    case Errc::unsupported: return 415;
    case Errc::io_error: return 500;
    case Errc::corrupt: return 500;
    case Errc::unavailable: return 503;
    case Errc::rate_limited: return 429;
    case Errc::internal: return 500;
  }
  return 500;
}

const char* to_string(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::not_found: return "not_found";
    case Errc::conflict: return "conflict";
    case Errc::permission_denied: return "permission_denied";
    case Errc::unauthenticated: return "unauthenticated";
    case Errc::too_large: return "too_large";
    case Errc::resource_exhausted: return "resource_exhausted";
    case Errc::unsupported: return "unsupported";
    case Errc::io_error: return "io_error";
    case Errc::corrupt: return "corrupt";
    case Errc::unavailable: return "unavailable";
    case Errc::rate_limited: return "rate_limited";
    case Errc::internal: return "internal";
  }
  return "internal";
}

} // namespace tresor
