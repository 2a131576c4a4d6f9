// AccessAggregator (see access.h for the contract). Events go to the sink
// outside the mutex.
#include "audit/access.h"

#include <algorithm>

namespace tresor::audit {

AccessAggregator::AccessAggregator(AuditSink& sink, const Clock& clock, std::chrono::seconds idle, bool background,
                                   std::size_t max_windows, std::size_t max_tracked)
    : sink_(sink), clock_(clock), idle_(std::max(idle, std::chrono::seconds(1))),
      max_windows_(std::max<std::size_t>(max_windows, 1)), max_tracked_(std::max<std::size_t>(max_tracked, 1)) {
  if (background) flusher_.emplace([this] { flush_expired(); });
}

AccessAggregator::~AccessAggregator() {
  flusher_.reset();  // joined: no flush_expired() runs past this line
  flush_all();
}

Event AccessAggregator::summary(const Window& w) const {
  Event e = w.who;
  e.type = Type::access;
  e.outcome = Outcome::success;
  e.details.clear();
  e.details.emplace_back("instances", std::to_string(w.instances.size() + w.untracked));
  if (w.untracked > 0) e.details.emplace_back("instances_at_least", std::to_string(w.instances.size()));
  e.details.emplace_back("requests", std::to_string(w.requests));
  e.details.emplace_back("series", std::to_string(w.series.size()));
  e.details.emplace_back("first_time", to_rfc3339(w.first));
  e.details.emplace_back("last_time", to_rfc3339(w.last));
  e.details.emplace_back("idle_s", std::to_string(idle_.count()));
  return e;
}

void AccessAggregator::close_if(std::vector<Event>& out, bool all, std::chrono::system_clock::time_point now) {
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (all || now - it->second.last >= idle_) {
      out.push_back(summary(it->second));
      it = windows_.erase(it);
    } else {
      ++it;
    }
  }
}

void AccessAggregator::add(const Event& who, const std::vector<Read>& reads) noexcept {
  try {
    const auto now = clock_.now();
    std::vector<Event> out;
    {
      std::lock_guard lock(mutex_);
      close_if(out, false, now);
      // Reads of several studies (a patient-level request) count in each study's window.
      std::map<std::string, std::vector<const Read*>> by_study;
      for (const Read& r : reads) by_study[r.study_uid].push_back(&r);
      for (const auto& [study, rs] : by_study) {
        const std::string key = who.actor + '\x1f' + who.user + '\x1f' + who.source + '\x1f' + study;
        auto it = windows_.find(key);
        if (it == windows_.end()) {
          while (windows_.size() >= max_windows_) {
            auto oldest = std::ranges::min_element(windows_, {}, [](const auto& kv) { return kv.second.last; });
            out.push_back(summary(oldest->second));
            windows_.erase(oldest);
          }
          Window w;
          w.who.actor = who.actor;
          w.who.user = who.user;
          w.who.source = who.source;
          w.who.study_uid = study;
          w.who.patient_id = rs.front()->patient_id;
          w.first = now;
          it = windows_.emplace(key, std::move(w)).first;
        }
        Window& w = it->second;
        w.last = now;
        ++w.requests;
        for (const Read* r : rs) {
          if (!r->series_uid.empty() && w.series.size() < max_tracked_) w.series.insert(r->series_uid);
          if (w.instances.contains(r->sop_uid)) continue;
          if (w.instances.size() < max_tracked_) w.instances.insert(r->sop_uid);
          else ++w.untracked;
        }
      }
    }
    for (const Event& e : out) sink_.record(e);
  } catch (...) {  // out of memory: audit the read by itself rather than lose it
    Event e = who;
    e.type = Type::access;
    e.details = {{"instances", std::to_string(reads.size())}, {"aggregate", "none (out of memory)"}};
    sink_.record(e);
  }
}

void AccessAggregator::flush_expired() noexcept {
  try {
    std::vector<Event> out;
    {
      std::lock_guard lock(mutex_);
      close_if(out, false, clock_.now());
    }
    for (const Event& e : out) sink_.record(e);
  } catch (...) {
  }
}

void AccessAggregator::flush_all() noexcept {
  try {
    std::vector<Event> out;
    {
      std::lock_guard lock(mutex_);
      close_if(out, true, clock_.now());
    }
    for (const Event& e : out) sink_.record(e);
  } catch (...) {
  }
}

} // namespace tresor::audit
