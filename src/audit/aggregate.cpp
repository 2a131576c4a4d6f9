// FailureAggregator (see aggregate.h for the contract). Events are forwarded
// to the sink outside the mutex, so a slow disk never holds up counting.
#include "audit/aggregate.h"

namespace tresor::audit {

FailureAggregator::FailureAggregator(AuditSink& sink, const Clock& clock, std::chrono::seconds window,
                                     std::size_t max_sources, bool background)
    : sink_(sink), clock_(clock), window_(std::max(window, std::chrono::seconds(1))),
      max_sources_(std::max<std::size_t>(max_sources, 1)) {
  if (background) flusher_.emplace([this] { flush_expired(); });
}

FailureAggregator::~FailureAggregator() {
  flusher_.reset();  // joined: no flush_expired() runs past this line
  flush_all();
}

Event FailureAggregator::summary(const std::string& source, const Window& w) const {
  Event e = w.last_event;
  e.source = source;
  if (!w.same_actor) e.actor.clear();
  const std::string last_reason = e.reason;
  e.reason = std::to_string(w.count) + " more failures from this source in " + std::to_string(window_.count()) +
             " s (last: " + last_reason + ")";
  std::erase_if(e.details, [](const auto& kv) { return kv.first == "aggregate"; });
  e.details.emplace_back("aggregate", "summary");
  e.details.emplace_back("count", std::to_string(w.count));
  e.details.emplace_back("window_s", std::to_string(window_.count()));
  e.details.emplace_back("first_time", to_rfc3339(w.start));
  e.details.emplace_back("last_time", to_rfc3339(w.last));
  return e;
}

void FailureAggregator::close_front(std::vector<Event>& out) {
  auto [start, source] = std::move(order_.front());
  order_.pop_front();
  auto it = windows_.find(source);
  if (it == windows_.end() || it->second.start != start) return;  // stale entry
  if (it->second.count > 0) out.push_back(summary(source, it->second));
  windows_.erase(it);
}

void FailureAggregator::record(const Event& event) noexcept {
  try {
    const auto now = clock_.now();
    std::vector<Event> out;
    {
      std::lock_guard lock(mutex_);
      while (!order_.empty() && now - order_.front().first >= window_) close_front(out);
      auto it = windows_.find(event.source);
      if (it == windows_.end()) {
        while (windows_.size() >= max_sources_ && !order_.empty()) close_front(out);
        Window w;
        w.start = w.last = now;
        windows_.emplace(event.source, std::move(w));
        order_.emplace_back(now, event.source);
        Event first = event;
        first.details.emplace_back("aggregate", "first of window");
        out.push_back(std::move(first));
      } else {
        Window& w = it->second;
        if (w.count > 0 && w.last_event.actor != event.actor) w.same_actor = false;
        ++w.count;
        w.last = now;
        w.last_event = event;
      }
    }
    for (const Event& e : out) sink_.record(e);
  } catch (...) {  // out of memory: forward the event itself rather than lose it
    sink_.record(event);
  }
}

void FailureAggregator::flush_expired() noexcept {
  try {
    const auto now = clock_.now();
    std::vector<Event> out;
    {
      std::lock_guard lock(mutex_);
      while (!order_.empty() && now - order_.front().first >= window_) close_front(out);
    }
    for (const Event& e : out) sink_.record(e);
  } catch (...) {
  }
}

void FailureAggregator::flush_all() noexcept {
  try {
    std::vector<Event> out;
    {
      std::lock_guard lock(mutex_);
      while (!order_.empty()) close_front(out);
    }
    for (const Event& e : out) sink_.record(e);
  } catch (...) {
  }
}

} // namespace tresor::audit
