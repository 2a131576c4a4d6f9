// Audit events: who did what, from where, to which patient/study, with what
// outcome. Contract: record() never throws, never drops an event silently
// (a write failure is reported on the ordinary log without patient data), and
// appends one JSON object per line to an append-only file.
#pragma once
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>
#include "core/clock.h"
#include "core/error.h"

namespace tresor::audit {

enum class Type {
  association,     // accepted or rejected association (reason = the real one)
  store,           // C-STORE / STOW / import of one instance
  query,           // C-FIND / QIDO with its keys
  retrieve,        // C-GET / WADO
  move,            // C-MOVE
  commitment,      // storage commitment
  quarantine,      // instance held / released / dropped
  security_alert,  // brute force blocks, lock-outs
  admin,           // peer/user/cert changes
};
const char* to_string(Type t) noexcept;

enum class Outcome { success, failure, denied };
const char* to_string(Outcome o) noexcept;

struct Event {
  Type type = Type::association;
  Outcome outcome = Outcome::success;
  std::string actor;        // AE title, username or "system"
  std::string user;         // authenticated user behind a peer, if any
  std::string source;       // remote address
  std::string patient_id;
  std::string study_uid;
  std::string series_uid;
  std::string sop_uid;
  std::string reason;       // the real reason (audit only)
  std::vector<std::pair<std::string, std::string>> details;  // e.g. query keys, counts
};

class AuditSink {
public:
  virtual ~AuditSink() = default;
  virtual void record(const Event& event) noexcept = 0;
};

// Append-only JSON-lines file (opened with O_APPEND, one write per event).
Result<std::unique_ptr<AuditSink>> open_jsonl_log(const std::filesystem::path& file, const Clock& clock);

// Keeps events in memory (tests).
class MemorySink final : public AuditSink {
public:
  void record(const Event& event) noexcept override {
    std::lock_guard lock(mutex_);
    events_.push_back(event);
  }
  std::vector<Event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
private:
  mutable std::mutex mutex_;
  std::vector<Event> events_;
};

} // namespace tresor::audit
