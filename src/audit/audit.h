// Audit events: who did what, from where, to which patient/study, with what
// outcome. Contract: record() never throws, never drops an event silently
// (a write failure is reported on the ordinary log without patient data), and
// appends one record per line to the append-only trail (open_trail_log).
#pragma once
#include <chrono>
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

namespace tresor::crypto {
class SecretKey;
}

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

// The tamper-evident audit trail in `audit_dir` (var/audit/; format in
// audit/trail_codec.h and docs/storage-layout.md; read back with
// audit/trail.h). Contract, besides AuditSink's:
//  - each record gets the next sequence number (no gap, across processes and
//    rotations), its UTC time and the chained SHA-256 hash, and is appended
//    with ONE write(2) to an O_APPEND file (0600), under an flock() shared by
//    every process that writes the trail (a CLI command while `tresor serve`
//    runs); each writer first catches up with what the others appended;
//  - with a key (the keyring's audit purpose key) records are encrypted
//    (XChaCha20-Poly1305, the seq as associated data); without one they are
//    written in the clear (tests, instances without a keyring);
//  - a checkpoint signed with the Ed25519 key <var>/keys/audit-sign.key
//    (created on first open, 0600; public half in audit-sign.pub) after every
//    checkpoint_records records, checkpoint_interval after the first record it
//    does not cover yet, before each rotation and when the log is destroyed
//    (clean stop); the latest one is also kept in audit_dir/trail.head so that
//    verify_trail() notices a truncated tail;
//  - once the current file reaches rotate_bytes it is renamed
//    audit.<its first seq>.jsonl and a new audit.jsonl starts with the last
//    seq and hash, so the chain runs on;
//  - open fails plainly when the last record does not open with `key` (wrong
//    key) or the signing key cannot be read; a torn last line (crash
//    mid-write) is cut off and reported by a security_alert record.
struct TrailOptions {
  std::uint64_t rotate_bytes = 64ull << 20;
  std::uint64_t checkpoint_records = 1000;
  std::chrono::seconds checkpoint_interval{60};
  SpaceGuard guard;
};
Result<std::unique_ptr<AuditSink>> open_trail_log(const std::filesystem::path& audit_dir, const Clock& clock,
                                                  const crypto::SecretKey* key, TrailOptions options = {});

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
