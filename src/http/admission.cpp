// Admission (see admission.h).
#include "http/admission.h"

#include <algorithm>
#include <iterator>

namespace tresor::http::detail {

Admission::Admission(std::size_t max_per_source, int per_second)
    : max_per_source_(std::max<std::size_t>(1, max_per_source)), rate_(std::max(1, per_second)) {}

std::optional<Admission::Clock::duration> Admission::handshake_delay(const std::string& ip, Clock::time_point now) {
  const double capacity = 2 * rate_;
  auto refill = [&](Bucket& b) {
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(capacity, b.tokens + std::max(0.0, elapsed) * rate_);
    b.last = std::max(b.last, now);
  };
  std::lock_guard lock(mutex_);
  if (buckets_.size() >= kMaxBuckets && !buckets_.contains(ip)) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      refill(it->second);
      it = it->second.tokens >= capacity ? buckets_.erase(it) : std::next(it);
    }
    if (buckets_.size() >= kMaxBuckets) buckets_.clear();  // every address active: start afresh rather than grow
  }
  auto [it, fresh] = buckets_.try_emplace(ip, Bucket{capacity, now});
  Bucket& b = it->second;
  if (!fresh) refill(b);
  const double wait = b.tokens >= 1 ? 0.0 : (1 - b.tokens) / rate_;
  if (wait > std::chrono::duration<double>(kMaxWait).count()) return std::nullopt;
  b.tokens -= 1;
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait));
}

bool Admission::open(const std::string& ip) {
  std::lock_guard lock(mutex_);
  std::size_t& n = open_[ip];
  if (n >= max_per_source_) return false;
  ++n;
  return true;
}

void Admission::close(const std::string& ip) {
  std::lock_guard lock(mutex_);
  if (auto it = open_.find(ip); it != open_.end() && --it->second == 0) open_.erase(it);
}

} // namespace tresor::http::detail
