// Argon2id passwords (libsodium crypto_pwhash_str, INTERACTIVE limits).
// Contract: at most 2 verifications run at once (each takes ~64 MiB and
// ~0.2 s); secrets are never logged; random_secret() is for generated
// passwords printed once.
#pragma once
#include <string>
#include <string_view>
#include "core/error.h"

namespace tresor::security {

Status init_crypto();  // sodium_init(); call once at start-up
Result<std::string> hash_password(std::string_view password);
bool verify_password(std::string_view phc_hash, std::string_view password);
std::string random_secret(std::size_t bytes = 18);  // URL-safe base64 without padding
// True for empty passwords and well-known defaults (admin, orthanc, password, ...).
bool is_weak_password(std::string_view password);

} // namespace tresor::security
