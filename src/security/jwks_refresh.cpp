// RefreshingJwtVerifier (see jwks_refresh.h for the contract).
//
// Locks, never nested except fetch_mutex_ -> current_mutex_ (swap after a fetch):
//  - current_mutex_: held only to copy or swap the shared_ptr, so verify() never
//    waits for a fetch;
//  - fetch_mutex_: one fetch at a time (scheduled, early or refresh_now);
//  - early_mutex_: the unknown-kid rate limit;
//  - stop_mutex_: the background thread's stop flag.
#include "security/jwks_refresh.h"

#include "core/log.h"

namespace tresor::security {

Result<std::unique_ptr<RefreshingJwtVerifier>> RefreshingJwtVerifier::start(Fetch fetch, std::string issuer,
                                                                            std::string audience,
                                                                            std::vector<std::string> algorithms,
                                                                            Options options) {
  if (!fetch) return fail(Errc::invalid_argument, "JWKS: no fetch function");
  if (options.refresh_interval <= std::chrono::milliseconds::zero())
    return fail(Errc::invalid_argument, "JWKS: the refresh interval must be positive");
  if (!options.now) options.now = [] { return std::chrono::steady_clock::now(); };
  auto text = fetch();
  if (!text) return fail(text.error().code, options.source + ": " + text.error().message);
  auto first = JwtVerifier::from_jwks_json(*text, issuer, audience, algorithms);
  if (!first) return fail(first.error().code, options.source + ": " + first.error().message);
  std::shared_ptr<const JwtVerifier> shared(std::move(*first));
  return std::unique_ptr<RefreshingJwtVerifier>(new RefreshingJwtVerifier(
      std::move(fetch), std::move(issuer), std::move(audience), std::move(algorithms), std::move(options),
      std::move(shared)));
}

RefreshingJwtVerifier::RefreshingJwtVerifier(Fetch fetch, std::string issuer, std::string audience,
                                             std::vector<std::string> algorithms, Options options,
                                             std::shared_ptr<const JwtVerifier> first)
    : fetch_(std::move(fetch)),
      issuer_(std::move(issuer)),
      audience_(std::move(audience)),
      algorithms_(std::move(algorithms)),
      options_(std::move(options)),
      current_(std::move(first)) {
  thread_ = std::thread([this] { run(); });
}

RefreshingJwtVerifier::~RefreshingJwtVerifier() { stop(); }

void RefreshingJwtVerifier::stop() {
  {
    std::lock_guard lock(stop_mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void RefreshingJwtVerifier::run() {
  std::unique_lock lock(stop_mutex_);
  while (!stop_) {
    if (stop_cv_.wait_for(lock, options_.refresh_interval, [this] { return stop_; })) break;
    lock.unlock();
    std::uint64_t seen;
    {
      std::lock_guard guard(current_mutex_);
      seen = generation_;
    }
    refresh("scheduled", seen);
    lock.lock();
  }
}

std::shared_ptr<const JwtVerifier> RefreshingJwtVerifier::current() const {
  std::lock_guard lock(current_mutex_);
  return current_;
}

std::uint64_t RefreshingJwtVerifier::fetch_count() const {
  std::lock_guard lock(current_mutex_);
  return fetches_;
}

bool RefreshingJwtVerifier::refresh(const char* why, std::uint64_t seen_generation) const {
  std::lock_guard fetching(fetch_mutex_);
  {
    std::lock_guard lock(current_mutex_);
    // Someone else swapped in a fresh key set while we waited for fetch_mutex_.
    if (generation_ != seen_generation) return true;
    ++fetches_;
  }
  auto text = fetch_();
  if (!text) {
    log::warn("{} refresh ({}) failed, keeping the previous keys: {}", options_.source, why, text.error().message);
    return false;
  }
  auto next = JwtVerifier::from_jwks_json(*text, issuer_, audience_, algorithms_);
  if (!next) {
    log::warn("{} refresh ({}) fetched an unusable key set, keeping the previous keys: {}", options_.source, why,
              next.error().message);
    return false;
  }
  std::shared_ptr<const JwtVerifier> fresh(std::move(*next));
  {
    std::lock_guard lock(current_mutex_);
    current_ = std::move(fresh);
    ++generation_;
  }
  log::debug("{} refreshed ({})", options_.source, why);
  return true;
}

bool RefreshingJwtVerifier::refresh_now() const {
  std::uint64_t seen;
  {
    std::lock_guard lock(current_mutex_);
    seen = generation_;
  }
  return refresh("on request", seen);
}

bool RefreshingJwtVerifier::claim_early_refresh() const {
  std::lock_guard lock(early_mutex_);
  const auto now = options_.now();
  if (early_used_ && now - last_early_ < options_.min_early_interval) return false;
  early_used_ = true;
  last_early_ = now;
  return true;
}

Result<JwtClaims> RefreshingJwtVerifier::verify(std::string_view token,
                                                std::chrono::system_clock::time_point now) const {
  std::uint64_t seen;
  std::shared_ptr<const JwtVerifier> verifier;
  {
    std::lock_guard lock(current_mutex_);
    verifier = current_;
    seen = generation_;
  }
  auto result = verifier->verify(token, now);
  if (result || !JwtVerifier::is_unknown_key_id(result.error())) return result;
  // A kid we do not know: the IdP may have rotated its keys. One early refetch
  // per window for everyone; other callers meanwhile are refused at once.
  if (!claim_early_refresh()) return result;
  if (!refresh("unknown key id", seen)) return result;
  return current()->verify(token, now);
}

} // namespace tresor::security
