// Cryptographic helpers for HTTP authentication (see auth_crypto.h).
// Digests return "" in the (practically impossible) case that OpenSSL fails;
// callers treat "" as "no match".
#include "security/auth_crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <algorithm>

namespace tresor::security::detail {
namespace {

bool ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

} // namespace

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (!ensure_sodium()) return {};
  randombytes_buf(out.data(), out.size());
  return out;
}

std::string base64url(std::string_view raw) {
  if (!ensure_sodium()) return {};
  constexpr int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(raw.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(raw.data()), raw.size(), variant);
  out.resize(std::char_traits<char>::length(out.c_str()));
  return out;
}

bool is_base64url(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::optional<std::string> base64_decode_strict(std::string_view text) {
  if (!ensure_sodium() || text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  // With b64_end != nullptr libsodium stops at the first invalid character
  // instead of failing, so the whole input must have been consumed. Without
  // an ignore set it refuses whitespace; the ORIGINAL variant requires
  // correct padding and refuses non-zero trailing bits.
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(), nullptr,
                        &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return std::nullopt;
  }
  if (end != text.data() + text.size()) return std::nullopt;
  out.resize(len);
  return out;
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1 || len != 32) return {};
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string to_hex(std::string_view raw) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  const std::string d = sha256(data);
  return d.empty() ? std::string{} : to_hex(d);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), md, &len) == nullptr ||
      len != 32) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace tresor::security::detail
