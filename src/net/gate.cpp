#include "net/gate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

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
  if (policy_.source_blocked(ip)) {
    log::debug("dimse: connection from a blocked source dropped before the handshake");
    return false;
  }
  std::lock_guard lock(mutex_);
  auto& n = in_flight_[ip];
  if (n >= per_source_) {
    log::warn("dimse: a source exceeded {} concurrent negotiations; connection dropped", per_source_);
    return false;
  }
  ++n;
  t_admitted = ip;
  t_gate = this;
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
