// A map with a size bound that evicts its oldest insertions first. Used by
// the HTTP authenticator for sessions and the Basic verification cache.
// Contract: at most `capacity` entries; put() of a new key into a full map
// evicts the least recently inserted entry (re-putting a key makes it the
// newest); every operation is O(log n) except erase_if (O(n)). Not
// thread-safe: the owner locks.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>

namespace tresor::security {

template <class Value>
class BoundedMap {
public:
  explicit BoundedMap(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

  // Inserts or replaces `key`; returns the number of entries evicted to make room.
  std::size_t put(const std::string& key, Value value) {
    erase(key);
    std::size_t evicted = 0;
    while (entries_.size() >= capacity_ && !order_.empty()) {
      auto oldest = order_.begin();
      entries_.erase(oldest->second);
      order_.erase(oldest);
      ++evicted;
    }
    const std::uint64_t seq = next_seq_++;
    entries_.emplace(key, Slot{std::move(value), seq});
    order_.emplace(seq, key);
    return evicted;
  }

  Value* find(const std::string& key) {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second.value;
  }

  bool erase(const std::string& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return false;
    order_.erase(it->second.seq);
    entries_.erase(it);
    return true;
  }

  // Removes every entry whose value satisfies `pred`; returns how many.
  template <class Pred>
  std::size_t erase_if(Pred pred) {
    std::size_t n = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (pred(std::as_const(it->second.value))) {
        order_.erase(it->second.seq);
        it = entries_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

  // Calls fn(key, value) for every entry, in no particular order.
  template <class Fn>
  void for_each(Fn fn) const {
    for (const auto& [key, slot] : entries_) fn(key, slot.value);
  }

  std::size_t size() const { return entries_.size(); }
  std::size_t capacity() const { return capacity_; }

private:
  struct Slot {
    Value value;
    std::uint64_t seq;
  };
  std::size_t capacity_;
  std::uint64_t next_seq_ = 0;
  std::unordered_map<std::string, Slot> entries_;
  std::map<std::uint64_t, std::string> order_;  // insertion sequence -> key
};

} // namespace tresor::security
