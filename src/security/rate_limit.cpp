// Sliding-window failure counting with temporary blocks (see rate_limit.h).
#include "security/rate_limit.h"

#include <algorithm>
#include <vector>

namespace tresor::security {

FailureTracker::FailureTracker(int max_failures, std::chrono::seconds window, std::chrono::seconds block,
                               std::size_t max_keys)
    : max_failures_(std::max(max_failures, 1)),
      window_(std::max(window, std::chrono::seconds{1})),
      block_(std::max(block, std::chrono::seconds{0})),
      max_keys_(std::max<std::size_t>(max_keys, 1)) {}

bool FailureTracker::is_blocked(const std::string& key, time_point now) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  return it != entries_.end() && now < it->second.blocked_until;
}

std::optional<FailureTracker::time_point> FailureTracker::blocked_until(const std::string& key, time_point now) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end() || now >= it->second.blocked_until) return std::nullopt;
  return it->second.blocked_until;
}

bool FailureTracker::record_failure(const std::string& key, time_point now) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= max_keys_) {
      // 1. Drop entries that no longer carry information (block over, all
      //    failures outside the window).
      std::erase_if(entries_, [&](const auto& kv) {
        const Entry& e = kv.second;
        return now >= e.blocked_until && (e.failures.empty() || e.failures.back() <= now - window_);
      });
    }
    if (entries_.size() >= max_keys_) {
      // 2. Still full: evict about an eighth of the map, unblocked keys first,
      //    then the least recently active. Evicting in batches keeps the cost
      //    amortised O(1) per new key.
      struct Victim {
        bool blocked;
        time_point last;
        const std::string* key;
      };
      std::vector<Victim> all;
      all.reserve(entries_.size());
      for (const auto& [k, e] : entries_) {
        const time_point last = std::max(e.failures.empty() ? time_point{} : e.failures.back(),
                                         e.blocked_until - block_);
        all.push_back({now < e.blocked_until, last, &k});
      }
      const std::size_t n = std::min(all.size(), std::max<std::size_t>(1, max_keys_ / 8));
      auto older = [](const Victim& a, const Victim& b) {
        if (a.blocked != b.blocked) return !a.blocked;
        return a.last < b.last;
      };
      std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n - 1), all.end(), older);
      std::vector<std::string> doomed;
      doomed.reserve(n);
      for (std::size_t i = 0; i < n; ++i) doomed.push_back(*all[i].key);
      for (const auto& k : doomed) entries_.erase(k);
    }
    it = entries_.emplace(key, Entry{}).first;
  }

  Entry& e = it->second;
  if (now < e.blocked_until) return false;  // already blocked: the block is not extended
  while (!e.failures.empty() && e.failures.front() <= now - window_) e.failures.pop_front();
  e.failures.push_back(now);
  if (static_cast<int>(e.failures.size()) >= max_failures_) {
    e.failures.clear();
    e.blocked_until = now + block_;
    return block_.count() > 0;
  }
  return false;
}

void FailureTracker::reset(const std::string& key) {
  std::lock_guard lock(mutex_);
  entries_.erase(key);
}

std::vector<std::pair<std::string, FailureTracker::time_point>> FailureTracker::blocked(time_point now) const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, time_point>> out;
  for (const auto& [key, entry] : entries_)
    if (entry.blocked_until > now) out.emplace_back(key, entry.blocked_until);
  return out;
}

} // namespace tresor::security
