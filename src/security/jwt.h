// JWT verification on OpenSSL 3 EVP with algorithms pinned by configuration.
// Contract: the accepted algorithms come from config, never from the token;
// alg=none and HMAC algorithms are refused; keys come from a JWKS document
// (from_jwks_json) or file (from_jwks_file) loaded once (RSA, EC P-256 and
// Ed25519 keys) and immutable in the verifier (jwks_refresh.h swaps whole
// verifiers to follow key rotation at a JWKS URL); tokens over 8 KiB, bad
// base64url, bad JSON, a wrong signature, iss/aud mismatch, missing or past
// exp, future nbf are refused with a reason.
#pragma once
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>
#include "core/error.h"

namespace tresor::security {

struct JwtClaims {
  std::string subject;
  std::string issuer;
  std::vector<std::string> roles;   // "roles" claim if present
  std::chrono::system_clock::time_point expires{};
};

class JwtVerifier {
public:
  static Result<std::unique_ptr<JwtVerifier>> from_jwks_file(const std::filesystem::path& jwks, std::string issuer,
                                                             std::string audience,
                                                             std::vector<std::string> algorithms);
  // The same from a JWKS document in memory (at most 1 MiB), e.g. fetched from a URL.
  static Result<std::unique_ptr<JwtVerifier>> from_jwks_json(std::string_view jwks, std::string issuer,
                                                             std::string audience,
                                                             std::vector<std::string> algorithms);
  // True when `e`, returned by verify(), says only that the token's "kid" names
  // no key of the set usable with its (allowed) algorithm: the key set may be stale.
  static bool is_unknown_key_id(const Error& e) noexcept;
  virtual ~JwtVerifier() = default;
  virtual Result<JwtClaims> verify(std::string_view token, std::chrono::system_clock::time_point now) const = 0;
};

} // namespace tresor::security
