// Aggregation of viewer reads into PS3.15 "DICOM Instances Accessed" events.
// A viewer opening a 40-image study sends one WADO-RS metadata request and a
// request per instance or frame; auditing each would bury the trail. Instead:
//
// Contract (AccessAggregator):
//  - add() takes one successful read by a principal (actor, user, source of
//    `who`) of some instances; reads are grouped per (actor, user, source,
//    study) into a window that stays open while reads keep coming, and
//    closes once `idle` has passed without one;
//  - a closed window becomes ONE Type::access event (outcome success) with
//    the actor, user, source, patient and study, and details: instances (the
//    number of distinct SOP instances read), requests, series (distinct),
//    first_time, last_time, idle_s. Beyond max_tracked distinct instances in
//    one window the further ones are counted, not remembered (details
//    "instances_at_least" then says the count is a lower bound);
//  - windows are written by flush_expired() (each second by a background
//    thread), by flush_all() and by the destructor: nothing is lost at a clean
//    stop (destroy the aggregator before the sink);
//  - at most max_windows open windows: beyond, the one idle longest is
//    closed early (written), so memory stays bounded;
//  - refused or failed reads are not aggregated: the caller audits them
//    individually, at once;
//  - thread-safe; add() never throws (an allocation failure writes the read
//    as its own access event instead).
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "audit/audit.h"
#include "audit/ticker.h"
#include "core/clock.h"

namespace tresor::audit {

class AccessAggregator {
public:
  struct Read {
    std::string patient_id, study_uid, series_uid, sop_uid;
  };
  AccessAggregator(AuditSink& sink, const Clock& clock, std::chrono::seconds idle, bool background = true,
                   std::size_t max_windows = 10000, std::size_t max_tracked = 100000);
  ~AccessAggregator();
  AccessAggregator(const AccessAggregator&) = delete;
  AccessAggregator& operator=(const AccessAggregator&) = delete;

  void add(const Event& who, const std::vector<Read>& reads) noexcept;
  void flush_expired() noexcept;
  void flush_all() noexcept;

private:
  struct Window {
    Event who;  // actor, user, source, patient, study
    std::chrono::system_clock::time_point first{}, last{};
    std::uint64_t requests = 0;
    std::set<std::string> instances, series;
    std::uint64_t untracked = 0;  // instances beyond max_tracked (maybe repeated)
  };
  Event summary(const Window& w) const;
  void close_if(std::vector<Event>& out, bool all, std::chrono::system_clock::time_point now);  // under mutex_

  AuditSink& sink_;
  const Clock& clock_;
  const std::chrono::seconds idle_;
  const std::size_t max_windows_, max_tracked_;
  std::mutex mutex_;
  std::map<std::string, Window> windows_;
  std::optional<Ticker> flusher_;  // last member: stopped first (the destructor resets it before flushing)
};

} // namespace tresor::audit
