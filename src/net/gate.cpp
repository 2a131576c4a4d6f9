#include "net/gate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <thread>

#include "core/log.h"

namespace tresor::net::detail {

namespace {
// The source admitted on this (negotiator) thread and not yet released.
thread_local std::string t_admitted;
thread_local Gate* t_gate = nullptr;

std::string peer_ip(DcmNativeSocketType fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || addr.sin_family != AF_INET) return {};
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &addr.sin_addr, buf, sizeof buf);
  return buf;
}
} // namespace

bool Gate::admit(DcmNativeSocketType fd) {
  done();
  const std::string ip = peer_ip(fd);
  if (ip.empty()) return false;
  return admit_source(ip);
}

bool Gate::admit_source(const std::string& ip) {
  done();
  const bool blocked = policy_.source_blocked(ip);
  std::chrono::steady_clock::duration wait{};
  {
    std::lock_guard lock(mutex_);
    auto& n = in_flight_[ip];
    const std::size_t cap = blocked ? std::min(per_source_, kBlockedConcurrent) : per_source_;
    if (n >= cap) {
      if (n == 0) in_flight_.erase(ip);
      if (blocked) log::debug("dimse: connection from a blocked source dropped (negotiations in flight)");
      else log::warn("dimse: a source exceeded {} concurrent negotiations; connection dropped", per_source_);
      return false;
    }
    if (blocked) {
      // Token bucket, allowed to go negative by at most kBlockedConcurrent
      // (the waiters below): each connection waits until its token is due.
      const auto now = std::chrono::steady_clock::now();
      if (buckets_.size() >= kMaxBuckets && !buckets_.contains(ip)) {
        std::erase_if(buckets_, [&](const auto& kv) { return !in_flight_.contains(kv.first); });
      }
      auto [it, fresh] = buckets_.try_emplace(ip, Bucket{static_cast<double>(blocked_rate_), now});
      Bucket& b = it->second;
      if (!fresh) {
        const double elapsed = std::chrono::duration<double>(now - b.updated).count();
        b.tokens = std::min<double>(blocked_rate_, b.tokens + elapsed * blocked_rate_);
        b.updated = now;
      }
      b.tokens -= 1.0;
      if (b.tokens < 0)
        wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(-b.tokens / blocked_rate_));
    } else {
      buckets_.erase(ip);
    }
    ++n;
    t_admitted = ip;
    t_gate = this;
  }
  if (wait > std::chrono::steady_clock::duration::zero()) std::this_thread::sleep_for(wait);
  return true;
}

void Gate::done() {
  if (t_gate != this || t_admitted.empty()) return;
  std::lock_guard lock(mutex_);
  if (auto it = in_flight_.find(t_admitted); it != in_flight_.end() && --it->second == 0) in_flight_.erase(it);
  t_admitted.clear();
  t_gate = nullptr;
}

} // namespace tresor::net::detail
