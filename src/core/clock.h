// Time seam: services take a Clock so tests can move time (lock-outs, expiry).
#pragma once
#include <chrono>
#include <string>

namespace tresor {

class Clock {
public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point now() const = 0;
};

class SystemClock final : public Clock {
public:
  std::chrono::system_clock::time_point now() const override { return std::chrono::system_clock::now(); }
};

// RFC 3339 UTC with milliseconds, e.g. 2026-11-28T12:00:00.123Z
std::string to_rfc3339(std::chrono::system_clock::time_point t);

} // namespace tresor
