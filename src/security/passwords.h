// Argon2id passwords (libsodium crypto_pwhash_str, INTERACTIVE limits).
// Contract: at most 3 verifications run at once (each takes ~64 MiB and
// ~0.2 s), admitted by a process-wide VerifySlots (verify_slots.h): 2 shared
// slots with a short bounded queue, 1 reserved for the priority lane (DIMSE
// user identity, logins from a known-good address); secrets are never
// logged; random_secret() is for generated passwords printed once.
#pragma once
#include <string>
#include <string_view>
#include "core/error.h"
#include "security/verify_slots.h"

namespace tresor::security {

using VerifyLane = VerifySlots::Lane;

Status init_crypto();  // sodium_init(); call once at start-up
Result<std::string> hash_password(std::string_view password);
// Priority lane, waiting for a slot (bounded): for callers that are not
// exposed to a flood (the CLI) or are throttled upstream.
bool verify_password(std::string_view phc_hash, std::string_view password);
enum class Verification { match, mismatch, busy };
// busy: the lane refused (no slot soon enough); nothing was verified.
Verification verify_password(std::string_view phc_hash, std::string_view password, VerifyLane lane);
// The process-wide verification slots behind verify_password() (tests hold
// slots to show that one lane cannot starve the other).
VerifySlots& verification_slots();
std::string random_secret(std::size_t bytes = 18);  // URL-safe base64 without padding
// True for empty passwords and well-known defaults (admin, orthanc, password, ...).
bool is_weak_password(std::string_view password);

} // namespace tresor::security
