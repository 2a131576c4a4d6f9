// Serializes the ingests of one blob key (byte-identical data sets share a
// key): commit -> index -> remove-on-failure of one must not interleave with
// another's, or a failing ingest removes the blob that the other has just
// indexed (a dangling row). Keys map onto a fixed set of striped mutexes, so
// unrelated keys rarely wait for each other and memory stays constant.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace tresor::services {

class KeyLocks {
public:
  // Holds the stripes of its keys until destroyed.
  using Guard = std::vector<std::unique_lock<std::mutex>>;

  // Locks every key's stripe, each once, in ascending stripe order (two
  // batches never wait for each other in a cycle). Blocks while another
  // Guard holds one of them.
  Guard lock(const std::vector<std::string>& keys) {
    std::vector<std::size_t> stripes;
    stripes.reserve(keys.size());
    for (const auto& k : keys) stripes.push_back(std::hash<std::string>{}(k) % kStripes);
    std::sort(stripes.begin(), stripes.end());
    stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
    Guard held;
    held.reserve(stripes.size());
    for (auto s : stripes) held.emplace_back(stripes_[s]);
    return held;
  }
  Guard lock(const std::string& key) { return lock(std::vector<std::string>{key}); }

private:
  static constexpr std::size_t kStripes = 256;
  std::array<std::mutex, kStripes> stripes_;
};

} // namespace tresor::services
