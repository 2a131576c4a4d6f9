// `[retention] daily = true`: tresor serve applies the retention policies
// once a day (the first run ten minutes after start), through the same
// services::RetentionService as `tresor retention run` (actor "retention",
// reason "retention policy <name>", every deletion audited). Stopped, and
// joined, by stop() or the destructor; a run in progress finishes first.
#pragma once
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "services/deletion.h"

namespace tresor::app {

class Instance;

// The [retention] policies of the configuration, parsed (validated at load).
std::vector<services::RetentionPolicy> retention_policies(const Instance& instance);

class DailyRetention {
public:
  explicit DailyRetention(Instance& instance);
  ~DailyRetention();
  DailyRetention(const DailyRetention&) = delete;
  DailyRetention& operator=(const DailyRetention&) = delete;
  void stop();

private:
  void loop();
  Instance& instance_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace tresor::app
