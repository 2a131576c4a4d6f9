// Device cookies (OWASP "Slow Down Online Guessing Attacks with Device
// Cookies"): a browser that logged in to an account gets an authenticated
// token for that account; a later password guess presenting it is judged as
// coming from a device the owner used, not from a guesser.
//
// Contract:
//  - a device cookie is "v1.<nonce>.<expires>.<mac>": nonce = 16 random
//    bytes (base64url, 22 chars), expires = Unix seconds (decimal), mac =
//    base64url(HMAC-SHA256(key, "tresor-device-v1" NUL account NUL nonce NUL
//    expires)) (43 chars). The account is bound by the MAC only (the cookie
//    does not carry the name); at most kMaxCookieChars characters are ever
//    parsed.
//  - verify() returns the nonce (the device's identity for the throttle) only
//    for a well-formed cookie, not expired, whose MAC (compared in constant
//    time) matches the claimed account; anything else (forged, expired,
//    issued for another account, too long, malformed) is nullopt: the caller
//    treats it as no cookie.
//  - the key: 32 random bytes in a file of its own (raw), created with mode
//    0600 by load_or_create() at `tresor init` and at the first `serve` of an
//    instance that predates device cookies; never logged. Replacing the file
//    invalidates every device cookie (they become "no cookie").
//  - immutable after construction; thread-safe.
#pragma once
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace tresor::security {

class DeviceCookies {
public:
  using time_point = std::chrono::system_clock::time_point;
  static constexpr std::size_t kKeyBytes = 32;
  static constexpr std::size_t kMaxCookieChars = 128;  // a valid cookie is at most ~90

  // Reads the key file; if it does not exist, creates it (32 random bytes,
  // mode 0600, written to a temporary file and linked into place, so two
  // processes starting at once agree on one key). A file of the wrong size
  // is an error (never silently replaced).
  static Result<DeviceCookies> load_or_create(const std::filesystem::path& key_file);

  // `key` must be kKeyBytes bytes (tests build one directly).
  explicit DeviceCookies(std::string key);
  ~DeviceCookies();
  DeviceCookies(DeviceCookies&&) noexcept;
  DeviceCookies& operator=(DeviceCookies&&) noexcept;
  DeviceCookies(const DeviceCookies&) = delete;
  DeviceCookies& operator=(const DeviceCookies&) = delete;

  // A fresh cookie value for `account`, valid until now + ttl ("" if the
  // random source fails).
  std::string issue(std::string_view account, time_point now, std::chrono::seconds ttl) const;
  // The device's nonce when `cookie` is a valid, unexpired device cookie of
  // `account` (see the contract), else nullopt.
  std::optional<std::string> verify(std::string_view cookie, std::string_view account, time_point now) const;

private:
  std::string mac(std::string_view account, std::string_view nonce, std::string_view expires) const;
  std::string key_;
};

} // namespace tresor::security
