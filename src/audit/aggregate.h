// Aggregation of failure events per source address, so that a flood of failed
// requests writes O(windows) audit lines, not one line per request.
//
// Contract (FailureAggregator::record, per event source address):
//  - the first event of a source in a window (a window opens with that event
//    and lasts `window`) is forwarded at once, unchanged except for the detail
//    "aggregate" = "first of window" (a single failure stays visible at once,
//    with its real reason);
//  - further events of that source within the window are only counted; when
//    the window has ended, ONE summary event is forwarded: the type, outcome
//    and details of the last event counted, actor = that actor when every
//    counted event had the same one (else ""), reason "<n> more failures from
//    this source in <w> s (last: <reason>)", details + count, window_s,
//    first_time, last_time. No summary when nothing was counted;
//  - summaries are written by flush_expired() (called by record() and every
//    second by a background thread), by flush_all() and by the destructor,
//    so a burst is reported at most about one window after it ended;
//  - at most max_sources open windows: beyond, the oldest window is closed
//    early (its summary written), so memory stays bounded whatever the number
//    of addresses;
//  - so a source produces at most 2 audit lines per window;
//  - thread-safe; record() never throws (AuditSink).
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "audit/audit.h"
#include "audit/ticker.h"
#include "core/clock.h"

namespace tresor::audit {

class FailureAggregator final : public AuditSink {
public:
  // background: run the once-a-second flush thread (tests drive flush_expired() themselves).
  FailureAggregator(AuditSink& sink, const Clock& clock, std::chrono::seconds window, std::size_t max_sources = 10000,
                    bool background = true);
  ~FailureAggregator() override;
  FailureAggregator(const FailureAggregator&) = delete;
  FailureAggregator& operator=(const FailureAggregator&) = delete;

  void record(const Event& event) noexcept override;
  void flush_expired() noexcept;  // summaries of the windows that have ended
  void flush_all() noexcept;      // summaries of every window, ended or not

private:
  struct Window {
    std::chrono::system_clock::time_point start{}, last{};
    std::uint64_t count = 0;     // events counted (not forwarded) in this window
    Event last_event;            // the last counted one
    bool same_actor = true;
  };
  Event summary(const std::string& source, const Window& w) const;
  void close_front(std::vector<Event>& out);  // under mutex_

  AuditSink& sink_;
  const Clock& clock_;
  const std::chrono::seconds window_;
  const std::size_t max_sources_;
  std::mutex mutex_;
  std::unordered_map<std::string, Window> windows_;
  // Sources in the order their windows opened (start time); an entry whose
  // start differs from windows_[source].start is stale and skipped.
  std::deque<std::pair<std::chrono::system_clock::time_point, std::string>> order_;
  std::optional<Ticker> flusher_;  // last member: stopped first (the destructor resets it before flushing)
};

} // namespace tresor::audit
