// Small cryptographic helpers for HTTP authentication (OpenSSL + libsodium).
// Contract: every function is thread-safe and total (no exceptions, no
// aborts); decoders refuse anything that is not in canonical form.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tresor::security::detail {

// `n` bytes from the operating system CSPRNG (libsodium randombytes_buf).
std::string random_bytes(std::size_t n);

// RFC 4648 section 5 (URL-safe), no padding.
std::string base64url(std::string_view raw);
// True if `text` is non-empty and uses only the base64url alphabet.
bool is_base64url(std::string_view text);

// RFC 4648 section 4 standard alphabet, padding required, no whitespace,
// non-zero trailing bits refused. nullopt if not canonical.
std::optional<std::string> base64_decode_strict(std::string_view text);

std::string sha256(std::string_view data);        // 32 raw bytes
std::string sha256_hex(std::string_view data);    // 64 lowercase hex chars
std::string hmac_sha256(std::string_view key, std::string_view data);  // 32 raw bytes
std::string to_hex(std::string_view raw);         // lowercase

// Constant time in the contents (CRYPTO_memcmp); different lengths are
// unequal (lengths are not secret here: every token has a fixed length).
bool constant_time_equal(std::string_view a, std::string_view b);

} // namespace tresor::security::detail
