// SecretKey: 32 bytes in libsodium guarded memory (sodium_malloc: guard
// pages, mlock'd where allowed, zeroed by sodium_free).
#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "crypto/keyring.h"

namespace tresor::crypto {

namespace {
unsigned char* alloc_key() {
  if (sodium_init() < 0) std::abort();
  auto* p = static_cast<unsigned char*>(sodium_malloc(kKeyBytes));
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, kKeyBytes);
  return p;
}
} // namespace

SecretKey::SecretKey() : bytes_(alloc_key()) {}
SecretKey::~SecretKey() {
  if (bytes_) sodium_free(bytes_);
}
SecretKey::SecretKey(SecretKey&& other) noexcept : bytes_(other.bytes_) { other.bytes_ = nullptr; }
SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
  if (this != &other) {
    if (bytes_) sodium_free(bytes_);
    bytes_ = other.bytes_;
    other.bytes_ = nullptr;
  }
  return *this;
}

SecretKey SecretKey::random() {
  SecretKey k;
  randombytes_buf(k.data(), kKeyBytes);
  return k;
}

Result<SecretKey> SecretKey::from_bytes(std::string_view bytes) {
  if (bytes.size() != kKeyBytes) return fail(Errc::invalid_argument, "a key must be exactly 32 bytes");
  SecretKey k;
  std::memcpy(k.data(), bytes.data(), kKeyBytes);
  return k;
}

const char* to_string(Purpose p) noexcept {
  switch (p) {
    case Purpose::index: return "index";
    case Purpose::audit: return "audit";
    case Purpose::journal: return "journal";
    case Purpose::pseudonym: return "pseudonym";
  }
  return "unknown";
}

} // namespace tresor::crypto
