// The index: patient / study / series / instance rows and the quarantine.
// Contract:
//  - insert() runs in one transaction and decides, atomically:
//      SOP Instance UID known, same digest      -> duplicate (nothing written)
//      SOP Instance UID known, other digest     -> conflict  (nothing written)
//      study known with other PatientID, PatientName or PatientBirthDate
//                                               -> quarantined (quarantine row only)
//      new study of a known patient (PatientID + issuer) with other
//      PatientName, PatientBirthDate or PatientSex -> quarantined: a store
//                                                  never changes the patient row
//      otherwise                                -> stored (rows inserted / counters updated)
//    With force=true (quarantine release) the demographics check is skipped
//    and the instance joins the patient row as it is (its own demographics
//    are not copied to it). Quarantine reasons name attributes, never values.
//  - update_patient() is the only way the demographics of a stored patient
//    change (an audited administrative action, services::PatientService).
//  - find() implements PS3.4 C.2.2.2 matching on the keys it indexes:
//    single value, '*' and '?' wildcards, date/time ranges, UID lists,
//    universal matching; unknown return keys come back empty. At most `limit`
//    rows are returned, after skipping `offset` matching rows inside SQLite
//    (LIMIT/OFFSET: skipped rows are never materialised; the order is the
//    query plan's, stable for the same request and data). Quarantined
//    instances are never visible.
//  - locate() returns the instances under the matched entities (C-GET/C-MOVE/WADO).
//  - find() and locate() honour request.scope (core/model.h): studies outside
//    it are neither matched nor located, at every level; a patient is
//    visible only through a study in scope, and under a scope its
//    NumberOfPatientRelated* keys count only the studies in scope (computed
//    at query time), so nothing hints at studies outside it.
//  - every method is safe to call from many threads.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include "core/accounts.h"
#include "core/error.h"
#include "core/model.h"

namespace tresor::crypto {
class SecretKey;  // crypto/keyring.h
}

namespace tresor::index {

struct BlobInfo {
  std::string key;          // store key
  std::uint64_t size = 0;   // bytes
  std::string digest;       // SHA-256 hex of the data set (== key today)
};

enum class InsertOutcome { stored, duplicate, conflict, quarantined };

struct InsertResult {
  InsertOutcome outcome = InsertOutcome::stored;
  std::string reason;                 // for conflict / quarantine (audit only)
  std::int64_t quarantine_id = 0;     // when quarantined
};

// The demographics an administrator may correct (patient table).
struct PatientDemographics {
  std::string name;        // PatientName (PN, as stored)
  std::string birth_date;  // PatientBirthDate (DA, YYYYMMDD or "")
  std::string sex;         // PatientSex (M, F, O or "")
  bool operator==(const PatientDemographics&) const = default;
};

// An administrative correction: each value present replaces the stored one.
struct PatientChange {
  std::optional<std::string> name, birth_date, sex;
};

struct QuarantineEntry {
  std::int64_t id = 0;
  std::string reason;
  std::string received_at;            // RFC 3339
  InstanceRecord record;
  BlobInfo blob;
};

// ---- Deletion, legal hold and retention (sqlite/deletion.cpp) ----
// The label that puts a study under legal hold: no deletion of any kind
// (manual or retention) touches a study carrying it.
inline constexpr const char* kHoldLabel = "hold";

enum class DeleteLevel { patient, study, series, instance };
struct DeleteTarget {
  DeleteLevel level = DeleteLevel::study;
  std::string uid;      // PatientID at patient level, else the level's UID
  std::string issuer;   // IssuerOfPatientID (patient level only)
};

// A study as deletion, holds and retention report it.
struct StudySummary {
  std::string study_uid, patient_id, issuer, patient_name;  // PN as stored
  std::string study_date;       // DA as stored ("" if absent)
  std::string received_at;      // earliest instance received (RFC 3339)
  std::size_t series = 0, instances = 0, quarantined = 0;
  std::uint64_t bytes = 0;
  bool whole_study = false;     // deletion: the study itself goes (not only some series / instances)
  std::vector<std::string> labels;
};

// What one deletion removes: per study touched, the rows (counts, bytes) and
// whether the study row goes; the blob keys those rows referenced.
struct DeletionPlan {
  std::vector<StudySummary> studies;
  std::vector<std::string> blob_keys;
};

// Retention candidates: studies dated before `before_date` (YYYYMMDD), or,
// without a valid StudyDate, whose first instance arrived before
// `before_received` (RFC 3339); with `modality` / `sop_class` only studies
// ALL of whose series / instances have that modality / SOP class; never a
// study labelled kHoldLabel. Oldest first, at most `limit`.
struct RetentionQuery {
  std::string before_date, before_received, modality, sop_class;
  std::size_t limit = 10'000;
};

// ---- De-identified export (sqlite/research.cpp, migration 008) ----
// One row of a project's pseudonym map (never exported; re-identification only).
struct PseudonymEntry {
  std::string project, pseudonym, patient_id, created_at;
};
// One study exported to a project (original UID -> de-identified copy's UID).
struct ExportedStudy {
  std::string study_uid, deid_study_uid, target, exported_at;
};

class Index {
public:
  virtual ~Index() = default;
  virtual Result<InsertResult> insert(const InstanceRecord& record, const BlobInfo& blob, bool force = false) = 0;
  virtual Result<std::vector<ResultRow>> find(const QueryRequest& request, std::size_t limit,
                                              std::size_t offset = 0) = 0;
  virtual Result<std::vector<InstanceLocation>> locate(const QueryRequest& request, std::size_t limit) = 0;
  virtual Result<std::optional<InstanceLocation>> find_instance(const std::string& sop_instance_uid) = 0;

  virtual Result<std::vector<QuarantineEntry>> list_quarantine() = 0;
  virtual Result<std::optional<QuarantineEntry>> get_quarantine(std::int64_t id) = 0;
  virtual Status remove_quarantine(std::int64_t id) = 0;

  // Labels an admin attaches to a study; scopes (core/model.h) refer to them.
  // Replaces the study's whole label set. not_found if the study is unknown.
  // A label is 1..64 chars of [A-Za-z0-9_.-] (invalid_argument otherwise).
  virtual Status set_study_labels(const std::string& study_uid, const std::vector<std::string>& labels) = 0;
  virtual Result<std::vector<std::string>> study_labels(const std::string& study_uid) = 0;

  // Replaces the demographics of the patient (PatientID + issuer) given in
  // `change` in one transaction, so every study of that patient answers with
  // them; returns the previous ones. not_found if no such patient; too_large
  // for a value over 4096 bytes (the caller, services::PatientService,
  // applies the VR rules).
  virtual Result<PatientDemographics> update_patient(const std::string& patient_id, const std::string& issuer,
                                                     const PatientChange& change) = 0;

  // Every blob key referenced by an instance or a quarantine row (recovery).
  // Keys of pending deletions count as referenced: recovery must not
  // re-index a deleted object from its blob.
  virtual Result<std::vector<std::string>> referenced_blob_keys() = 0;

  // De-identified export. record_pseudonym: inserts (project, pseudonym,
  // patient_id) unless present; conflict when the pseudonym is already
  // mapped to another patient (an HMAC collision). find_pseudonym: the row,
  // or nullopt. record_export / exported_studies: the studies exported to a
  // project. Default implementations answer unsupported (index fakes).
  virtual Status record_pseudonym(const std::string& /*project*/, const std::string& /*pseudonym*/,
                                  const std::string& /*patient_id*/) {
    return fail(Errc::unsupported, "index: no pseudonyms");
  }
  virtual Result<std::optional<PseudonymEntry>> find_pseudonym(const std::string& /*project*/,
                                                               const std::string& /*pseudonym*/) {
    return fail(Errc::unsupported, "index: no pseudonyms");
  }
  virtual Status record_export(const std::string& /*project*/, const ExportedStudy& /*study*/) {
    return fail(Errc::unsupported, "index: no export records");
  }
  virtual Result<std::vector<ExportedStudy>> exported_studies(const std::string& /*project*/) {
    return fail(Errc::unsupported, "index: no export records");
  }

  // Deletion (two phases, crash-safe; see services/deletion.h).
  // plan_deletion: what delete_entities would remove now (read only).
  // delete_entities: in ONE transaction, refuses with conflict if a study it
  // would touch carries kHoldLabel (the message names the study), else queues
  // every blob key of the removed rows in pending_deletion and removes the
  // instance rows, the quarantine rows of the target (patient, study, series
  // or SOP Instance UID), and the series / studies / patient left empty.
  // not_found if nothing matches. The default implementations answer
  // unsupported (index fakes in tests).
  virtual Result<DeletionPlan> plan_deletion(const DeleteTarget&) { return fail(Errc::unsupported, "index: no deletion"); }
  virtual Result<DeletionPlan> delete_entities(const DeleteTarget&) {
    return fail(Errc::unsupported, "index: no deletion");
  }
  virtual Result<std::vector<std::string>> pending_deletions() { return std::vector<std::string>{}; }
  virtual Status clear_pending_deletion(const std::string&) { return fail(Errc::unsupported, "index: no deletion"); }
  // True if an instance or quarantine row references this blob key.
  virtual Result<bool> blob_key_referenced(const std::string&) { return true; }
  // Adds (present) or removes one label of a study atomically; not_found if
  // the study is unknown. Returns whether the label set changed.
  virtual Result<bool> set_study_label(const std::string&, const std::string&, bool) {
    return fail(Errc::unsupported, "index: no labels");
  }
  virtual Result<std::vector<StudySummary>> studies_with_label(const std::string&) {
    return fail(Errc::unsupported, "index: no labels");
  }
  virtual Result<std::vector<StudySummary>> retention_candidates(const RetentionQuery&) {
    return fail(Errc::unsupported, "index: no retention");
  }
};

// SQLite implementation (WAL). The same database file also persists peers
// and users, so open_sqlite returns one object implementing both interfaces.
// busy_timeout bounds how long a write waits for a lock another connection
// (another process: tresor import, a backup tool) holds; past it the call
// fails with Errc::unavailable and nothing is written.
class SqliteIndex : public Index, public AccountRepository {
public:
  // Read-only SQL for operators and tests (`tresor index sql`), since the
  // sqlite3 CLI cannot read an encrypted index: exactly one statement, run on
  // a query_only reader connection (any write fails), at most max_rows rows,
  // each a JSON array of its columns (integers, reals, strings; blobs as hex
  // strings; null). Errc::invalid_argument for no statement or more than one.
  virtual Result<std::vector<std::string>> read_only_sql(const std::string& sql, std::size_t max_rows) = 0;
};
inline constexpr std::chrono::milliseconds kDefaultBusyTimeout{5000};
Result<std::unique_ptr<SqliteIndex>> open_sqlite(const std::filesystem::path& file,
                                                 std::chrono::milliseconds busy_timeout = kDefaultBusyTimeout);
// Encrypted at rest (the product's only mode: app/instance.cpp): every page of
// the database and its WAL sealed with AES-256-GCM under `key` (the keyring's
// index purpose key; docs/storage-layout.md). The plaintext overload above is
// for tests and tools. A wrong key fails with Errc::corrupt and a message
// saying so; a plaintext index.db found at `file` is converted in place (its
// plaintext file removed) before it is opened.
Result<std::unique_ptr<SqliteIndex>> open_sqlite(const std::filesystem::path& file, const crypto::SecretKey& key,
                                                 std::chrono::milliseconds busy_timeout = kDefaultBusyTimeout);

} // namespace tresor::index
