// Errors as values at module boundaries.
// Contract: every Error carries a machine code, a human reason that is safe to
// show to the caller (no patient data, no secrets), and maps to exactly one
// DIMSE status and one HTTP status.
#pragma once
#include <cstdint>
#include <expected>
#include <string>

namespace tresor {

enum class Errc {
  invalid_argument,   // malformed input: bad UID, missing attribute, bad syntax
  not_found,          // nothing matches (or the caller may not know it exists)
  conflict,           // same SOP Instance UID with different content, etc.
  permission_denied,  // authenticated principal lacks the permission
  unauthenticated,    // no or bad credentials
  too_large,          // a size or count limit was exceeded
  resource_exhausted, // result cap, pool full, disk full
  unsupported,        // SOP class / transfer syntax / operation not supported
  io_error,           // file system or network failure
  corrupt,            // stored data failed an integrity check
  unavailable,        // busy or locked; the caller may retry
  rate_limited,       // too many attempts (password guesses): retry after Error::retry_after_s
  internal,           // a bug
};

struct Error {
  Errc code = Errc::internal;
  std::string message;
  int retry_after_s = 0;  // > 0: the caller may retry after this many seconds (HTTP Retry-After)

  // DIMSE status for a C-STORE / C-FIND / C-GET / C-MOVE response (PS3.4).
  std::uint16_t dimse_status() const noexcept;
  // HTTP status for DICOMweb / REST responses.
  int http_status() const noexcept;
};

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }
inline std::unexpected<Error> fail(Errc code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

template <class T> using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

const char* to_string(Errc code) noexcept;

} // namespace tresor
