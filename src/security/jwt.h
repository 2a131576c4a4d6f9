// JWT verification on OpenSSL 3 EVP with algorithms pinned by configuration.
// Contract: the accepted algorithms come from config, never from the token;
// alg=none and HMAC algorithms are refused; keys come from a JWKS file loaded
// once (RSA and EC P-256 keys); tokens over 8 KiB, bad base64url, bad JSON,
// a wrong signature, iss/aud mismatch, missing or past exp, future nbf are
// refused with a reason.
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
  virtual ~JwtVerifier() = default;
  virtual Result<JwtClaims> verify(std::string_view token, std::chrono::system_clock::time_point now) const = 0;
};

} // namespace tresor::security
