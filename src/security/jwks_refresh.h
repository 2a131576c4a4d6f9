// A JwtVerifier whose key set follows a JWKS published at a URL (key rotation).
// Contract:
//  - the JWKS document comes from an injected fetch function (in `tresor serve`:
//    http::https_get of oidc.jwks_url); start() fetches once and fails when that
//    fetch fails or the document is not a usable JWKS, so a server never starts
//    without keys;
//  - a background thread refetches every refresh_interval; stop() (also run by
//    the destructor) wakes it at once and joins it; a fetch in progress is not
//    interrupted (the fetch function bounds its own duration);
//  - verify() uses the current key set without waiting for any fetch. When a
//    token is refused only because its "kid" is unknown, one synchronous early
//    refetch is made and the token verified again, at most once per
//    min_early_interval (default 60 s) across all callers; tokens with unknown
//    kids inside that window are refused at once (an attacker cannot make us
//    hammer the IdP);
//  - a failed fetch, or a document that does not parse into a usable key set,
//    keeps the previous keys and logs a warning (the reason, never the document);
//  - thread-safe: verify() may run on any number of threads.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include "core/error.h"
#include "security/jwt.h"

namespace tresor::security {

class RefreshingJwtVerifier final : public JwtVerifier {
public:
  using Fetch = std::function<Result<std::string>()>;
  using SteadyNow = std::function<std::chrono::steady_clock::time_point()>;

  struct Options {
    std::chrono::milliseconds refresh_interval = std::chrono::hours(1);   // scheduled refetch
    std::chrono::milliseconds min_early_interval = std::chrono::minutes(1); // between unknown-kid refetches
    SteadyNow now = [] { return std::chrono::steady_clock::now(); };       // rate-limit clock (tests)
    std::string source = "JWKS";   // named in log lines (e.g. the URL's host), never a secret
  };

  static Result<std::unique_ptr<RefreshingJwtVerifier>> start(Fetch fetch, std::string issuer, std::string audience,
                                                              std::vector<std::string> algorithms, Options options);
  ~RefreshingJwtVerifier() override;
  RefreshingJwtVerifier(const RefreshingJwtVerifier&) = delete;
  RefreshingJwtVerifier& operator=(const RefreshingJwtVerifier&) = delete;

  Result<JwtClaims> verify(std::string_view token, std::chrono::system_clock::time_point now) const override;

  // Fetches now (outside the schedule); false when the old keys were kept.
  bool refresh_now() const;
  // Stops and joins the background thread; idempotent. verify() keeps working on the last keys.
  void stop();

  // Fetches attempted so far, including the first one (for tests and metrics).
  std::uint64_t fetch_count() const;

private:
  RefreshingJwtVerifier(Fetch fetch, std::string issuer, std::string audience, std::vector<std::string> algorithms,
                        Options options, std::shared_ptr<const JwtVerifier> first);
  std::shared_ptr<const JwtVerifier> current() const;
  // Fetches and swaps the key set in; skipped (returns true) when another fetch
  // completed since `seen_generation`. Serialized by fetch_mutex_.
  bool refresh(const char* why, std::uint64_t seen_generation) const;
  bool claim_early_refresh() const;
  void run();

  const Fetch fetch_;
  const std::string issuer_, audience_;
  const std::vector<std::string> algorithms_;
  const Options options_;

  mutable std::mutex current_mutex_;  // guards current_, generation_, fetches_
  mutable std::shared_ptr<const JwtVerifier> current_;
  mutable std::uint64_t generation_ = 0;  // successful swaps
  mutable std::uint64_t fetches_ = 1;     // the first fetch happened in start()

  mutable std::mutex fetch_mutex_;  // one fetch at a time

  mutable std::mutex early_mutex_;  // guards last_early_
  mutable std::chrono::steady_clock::time_point last_early_{};
  mutable bool early_used_ = false;

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

} // namespace tresor::security
