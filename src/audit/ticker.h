// A background thread that calls `tick` about once a second until the Ticker
// is destroyed; the destructor wakes it at once and joins it, so `tick` never
// runs after the destructor returns. The aggregators close their windows with it.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace tresor::audit {

class Ticker {
public:
  explicit Ticker(std::function<void()> tick) : tick_(std::move(tick)), thread_([this] { run(); }) {}
  ~Ticker() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) {
      lock.unlock();
      tick_();
      lock.lock();
    }
  }

  std::function<void()> tick_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once everything it uses exists
};

} // namespace tresor::audit
