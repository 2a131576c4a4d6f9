// Small records sealed under a purpose key (the import journal's lines:
// app/cmd_import.cpp), and keyed names for them.
// Contract: seal_record() = hex(nonce (24 random bytes) || XChaCha20-Poly1305
// ciphertext || tag), `context` bound as associated data; open_record() gives
// the plaintext back or an error (wrong key, altered, torn, other context),
// never partial plaintext. keyed_name() is 64 hex digits of BLAKE2b-256 keyed
// with the key, `domain` separating uses: stable for one key, and a guessed
// input (a directory named after a patient) cannot be confirmed without it.
#pragma once
#include <string>
#include <string_view>

#include "core/error.h"
#include "crypto/keyring.h"

namespace tresor::crypto {

std::string seal_record(const SecretKey& key, std::string_view context, std::string_view plaintext);
Result<std::string> open_record(const SecretKey& key, std::string_view context, std::string_view sealed_hex);
std::string keyed_name(const SecretKey& key, std::string_view domain, std::string_view input);

} // namespace tresor::crypto
