// Counting failures per key (source address, account) in a sliding window and
// blocking the key for a while past a threshold. Thread-safe; memory bounded
// (oldest keys are evicted beyond max_keys).
#pragma once
#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tresor::security {

class FailureTracker {
public:
  using time_point = std::chrono::system_clock::time_point;
  FailureTracker(int max_failures, std::chrono::seconds window, std::chrono::seconds block,
                 std::size_t max_keys = 100000);
  bool is_blocked(const std::string& key, time_point now) const;
  // The end of the key's block, if blocked at `now`.
  std::optional<time_point> blocked_until(const std::string& key, time_point now) const;
  // Records one failure; returns true if this failure started a block.
  bool record_failure(const std::string& key, time_point now);
  void reset(const std::string& key);
  // Every key blocked at `now`, with the end of its block (for the admin's security page).
  std::vector<std::pair<std::string, time_point>> blocked(time_point now) const;

private:
  struct Entry {
    std::deque<time_point> failures;
    time_point blocked_until{};
  };
  int max_failures_;
  std::chrono::seconds window_, block_;
  std::size_t max_keys_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

} // namespace tresor::security
