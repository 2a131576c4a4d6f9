// Argon2id password hashing on libsodium (see passwords.h for the contract).
#include "security/passwords.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace tresor::security {
namespace {

// Passwords and hashes longer than this are refused: the input comes from the
// network (DICOM user identity, HTTP login) and must be bounded.
constexpr std::size_t kMaxPasswordBytes = 1024;
constexpr std::size_t kMinPasswordChars = 12;
constexpr std::size_t kMaxSecretBytes = 1024;

// sodium_init() is idempotent and thread-safe; this makes every entry point
// safe to call even if init_crypto() was forgotten.
bool ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

// Bounds concurrent Argon2id verifications (each ~64 MiB, ~0.2 s of a core).
// Not configuration: a fixed resource guard shared by the whole process.
VerifySlots& verify_slots() {
  static VerifySlots slots(VerifySlots::Limits{});
  return slots;
}

// Well-known vendor defaults and the most common passwords. Compared
// case-insensitively. Short ones are already refused by the length rule but are
// kept so that the list documents what is meant.
constexpr std::array<std::string_view, 40> kWellKnown = {
    "admin",          "administrator",    "orthanc",         "dicoogle",        "password",
    "changeme",       "root",             "123456",          "12345678",        "123456789",
    "1234567890",     "123456789012",     "qwerty",          "qwertyuiop",      "letmein",
    "welcome",        "default",          "secret",          "pacs",            "dicom",
    "conquest",       "dcm4chee",         "dcm4che",         "horos",           "osirix",
    "password123",    "password1234",     "passwordpassword","adminadmin",      "adminadmin123",
    "administrator1", "changeme123",      "changemenow",     "orthancorthanc",  "letmeinletmein",
    "welcome123456",  "admin123456789",   "qwerty123456",    "iloveyou123",     "superuser",
};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

} // namespace

Status init_crypto() {
  if (!ensure_sodium()) return fail(Errc::internal, "libsodium initialisation failed");
  return {};
}

Result<std::string> hash_password(std::string_view password) {
  if (!ensure_sodium()) return fail(Errc::internal, "libsodium initialisation failed");
  if (password.empty()) return fail(Errc::invalid_argument, "empty password");
  if (password.size() > kMaxPasswordBytes) return fail(Errc::too_large, "password too long");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return fail(Errc::resource_exhausted, "password hashing failed (out of memory)");
  }
  return std::string(out);
}

VerifySlots& verification_slots() { return verify_slots(); }

Verification verify_password(std::string_view phc_hash, std::string_view password, VerifyLane lane) {
  if (!ensure_sodium()) return Verification::mismatch;
  if (password.empty() || password.size() > kMaxPasswordBytes) return Verification::mismatch;
  // crypto_pwhash_str_verify() wants a NUL-terminated string that fits STRBYTES.
  if (phc_hash.empty() || phc_hash.size() >= crypto_pwhash_STRBYTES) return Verification::mismatch;
  if (phc_hash.find('\0') != std::string_view::npos) return Verification::mismatch;
  if (!phc_hash.starts_with("$argon2id$") && !phc_hash.starts_with("$argon2i$")) return Verification::mismatch;
  char stored[crypto_pwhash_STRBYTES] = {};
  std::copy(phc_hash.begin(), phc_hash.end(), stored);
  auto slot = verify_slots().acquire(lane);
  if (!slot) return Verification::busy;
  return crypto_pwhash_str_verify(stored, password.data(), password.size()) == 0 ? Verification::match
                                                                                 : Verification::mismatch;
}

bool verify_password(std::string_view phc_hash, std::string_view password) {
  return verify_password(phc_hash, password, VerifyLane::priority) == Verification::match;
}

std::string random_secret(std::size_t bytes) {
  if (!ensure_sodium() || bytes == 0) return {};
  bytes = std::min(bytes, kMaxSecretBytes);
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  constexpr int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(bytes, variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(raw.data()), raw.size(),
                    variant);
  sodium_memzero(raw.data(), raw.size());
  out.resize(std::char_traits<char>::length(out.c_str()));
  return out;
}

bool is_weak_password(std::string_view password) {
  if (password.size() < kMinPasswordChars) return true;
  // A single repeated character ("aaaaaaaaaaaa") is as good as empty.
  if (std::all_of(password.begin(), password.end(), [&](char c) { return c == password.front(); })) return true;
  const std::string l = lower(password);
  return std::find(kWellKnown.begin(), kWellKnown.end(), std::string_view(l)) != kWellKnown.end();
}

} // namespace tresor::security
