// Admission of new HTTPS connections per source address (no Beast here), so
// that one address can neither hold every connection nor spend the server's
// CPU on TLS handshakes:
//  - at most `max_per_source` open connections per address (open() refuses
//    beyond, close() gives the place back);
//  - handshakes: a token bucket per address, `per_second` tokens a second,
//    up to twice that many saved (a burst). Without a token a connection
//    waits for one (the bucket goes into debt) up to kMaxWait; beyond, it is
//    refused. So a legitimate client's burst is slowed down, not cut off, and
//    a flood costs at most the rate's handshakes. Idle buckets are dropped
//    once kMaxBuckets addresses are tracked, so memory stays bounded.
// Thread-safe.
#pragma once
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace tresor::http::detail {

class Admission {
public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxBuckets = 4096;
  static constexpr std::chrono::seconds kMaxWait{2};

  Admission(std::size_t max_per_source, int per_second);

  // How long this address's next handshake must wait (zero: at once), or
  // nullopt when it is refused. Consumes a token.
  std::optional<Clock::duration> handshake_delay(const std::string& ip, Clock::time_point now);
  bool open(const std::string& ip);  // false: the address is at its cap
  void close(const std::string& ip);

private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point last{};
  };
  const std::size_t max_per_source_;
  const double rate_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> open_;
  std::unordered_map<std::string, Bucket> buckets_;
};

} // namespace tresor::http::detail
