// Deletion, legal hold and retention (issue 12 section 4).
// Contract of DeletionService::remove (admin only, a reason required):
//  1. one index transaction (Index::delete_entities) refuses a study under
//     legal hold (label index::kHoldLabel: Errc::conflict naming the study),
//     else queues the blob keys of the rows it removes in pending_deletion
//     and removes the rows: from its commit on, nothing serves the objects
//     (QIDO, WADO, C-FIND, C-GET, C-MOVE, storage commitment, REST);
//  2. one audit event of type deletion ("DICOM Study Deleted") per study
//     touched, with the actor, source, patient, study, counts and reason;
//  3. each queued blob is removed (BlobStore::remove: with the encrypted
//     store a crypto-erase) unless a row still references it (the same
//     content stored again, or a held copy), under the ingest's KeyLocks so
//     that no ingest of the same key interleaves; then its pending row goes.
//  A blob that cannot be removed now stays queued (the result says how many);
//  recover(), called at start-up BEFORE IngestService::recover, finishes
//  every queued deletion. A crash anywhere leaves either the rows (nothing
//  happened) or queued keys (recovery removes the blobs): never a row
//  without its blob, never a blob the index forgot.
#pragma once
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit.h"
#include "core/accounts.h"
#include "core/error.h"
#include "index/index.h"
#include "services/key_locks.h"
#include "store/blob_store.h"

namespace tresor::services {

inline constexpr std::size_t kMaxDeleteReason = 1024;

struct DeleteRequest {
  index::DeleteTarget target;
  std::string reason;                               // 1..kMaxDeleteReason printable characters
  // The web flow: the patient's name as the user typed it. When present it
  // must match the stored name (patient_name_matches), or, for a patient
  // without a name, the PatientID; otherwise invalid_argument, nothing deleted.
  std::optional<std::string> confirm_patient_name;
};

struct DeleteResult {
  std::vector<index::StudySummary> studies;  // what went, per study
  std::size_t blobs_removed = 0;             // erased now
  std::size_t blobs_shared = 0;              // still referenced by another row: kept
  std::size_t blobs_pending = 0;             // could not be erased now: recovery retries
};

// True when `typed` names the same person as the stored PN `stored`: the
// alphabetic component group's components (split on '^', spaces or commas,
// empty ones dropped) compared in order, ASCII case-insensitively.
bool patient_name_matches(std::string_view stored, std::string_view typed);

class DeletionService {
public:
  // `locks` are the IngestService's (IngestService::key_locks()).
  DeletionService(store::BlobStore& store, index::Index& index, audit::AuditSink& audit, KeyLocks& locks);

  // What remove() would delete now (admin only; for confirmation, dry runs).
  Result<index::DeletionPlan> preview(const Principal& principal, const index::DeleteTarget& target);
  Result<DeleteResult> remove(const Principal& principal, const DeleteRequest& request);
  // Start-up: erases every queued blob no row references. Returns how many
  // keys it finished.
  Result<std::size_t> recover();

  // Legal hold (admin only, audited, reason optional): adds or removes the
  // label index::kHoldLabel on a stored study. Returns whether it changed.
  Result<bool> set_hold(const Principal& principal, const std::string& study_uid, bool on,
                        const std::string& reason);
  Result<std::vector<index::StudySummary>> holds(const Principal& principal);

private:
  void erase(const std::vector<std::string>& keys, DeleteResult& result);

  store::BlobStore& store_;
  index::Index& index_;
  audit::AuditSink& audit_;
  KeyLocks& locks_;
};

// A retention policy: studies older than `years` (by StudyDate, or by the
// time they were received when StudyDate is absent or malformed), optionally
// only studies all of whose series are of `modality` / all of whose instances
// are of `sop_class`; studies under legal hold never match.
struct RetentionPolicy {
  std::string name;
  int years = 0;
  std::string modality, sop_class;
};

struct RetentionItem {
  std::string policy;
  index::StudySummary study;
  bool deleted = false;
  std::string error;   // why a real run could not delete it
};

// Applies retention policies through DeletionService (reason "retention
// policy <name>"). A study matched by several policies is listed once, under
// the first. At most `limit` studies per policy and run.
class RetentionService {
public:
  RetentionService(index::Index& index, DeletionService& deletion);
  Result<std::vector<RetentionItem>> run(const Principal& principal, const std::vector<RetentionPolicy>& policies,
                                         std::chrono::system_clock::time_point now, bool dry_run,
                                         std::size_t limit = 10'000);

private:
  index::Index& index_;
  DeletionService& deletion_;
};

// The cut-off of a policy of `years` at `now` (UTC): YYYYMMDD and RFC 3339
// (29 February becomes 28 February in a common year).
std::pair<std::string, std::string> retention_cutoff(std::chrono::system_clock::time_point now, int years);

} // namespace tresor::services
