// Audit events: who did what, from where, to which patient/study, with what
// outcome. Contract: record() never throws, never drops an event silently
// (a write failure is reported on the ordinary log without patient data), and
// appends one JSON object per line to an append-only file.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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
  admin,           // peer/user/cert/key changes (PS3.15: Security Alert, security configuration)
  // Added for the PS3.15 A.5.3 message set (issue 12):
  application_activity,  // Application Start / Stop
  audit_log_used,        // the trail was read (report, export, verify, API)
  authentication,        // User Authentication: login / logout (failures stay security_alert aggregates)
  access,                // DICOM Instances Accessed: one per (user, study, viewer session/window), with a count
  data_export,           // Data Export: de-identified or plain export, media, zip
  deletion,              // DICOM Study Deleted (also series / instance / patient deletions, crypto-erase)
  patient_record,        // Patient Record: demographics update, merge, re-identification lookup
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

// Early warning before the audit file's file system fills up. Before each
// event is written, the free space of the file system holding the audit file
// is checked; when it is below threshold(total size), an error goes to the
// ordinary log and a security_alert event (reason "audit file system nearly
// full ...") is written, ONCE; it re-arms when the free space is back above
// 1.25 x the threshold. Events are never dropped (the audit trail is the one
// record that must not lose anything); the alert is the operator's cue.
// The default threshold is twice the store's reserve (core/space.h), so the
// alert comes before the store starts refusing objects for want of space.
struct SpaceGuard {
  struct Space {
    std::uint64_t available = 0;  // bytes an unprivileged writer may still use
    std::uint64_t total = 0;      // size of the file system
  };
  std::function<std::uint64_t(std::uint64_t total)> threshold;  // empty: 2 x free_space_reserve(total)
  std::function<std::optional<Space>(int fd)> probe;            // empty: fstatvfs(fd) (tests substitute)
};

// Append-only JSON-lines file (opened with O_APPEND, one write per event).
Result<std::unique_ptr<AuditSink>> open_jsonl_log(const std::filesystem::path& file, const Clock& clock,
                                                  SpaceGuard guard = {});

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
