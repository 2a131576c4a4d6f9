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
  virtual Result<std::vector<std::string>> referenced_blob_keys() = 0;
};

// SQLite implementation (WAL). The same database file also persists peers
// and users, so open_sqlite returns one object implementing both interfaces.
// busy_timeout bounds how long a write waits for a lock another connection
// (another process: tresor import, a backup tool) holds; past it the call
// fails with Errc::unavailable and nothing is written.
class SqliteIndex : public Index, public AccountRepository {};
inline constexpr std::chrono::milliseconds kDefaultBusyTimeout{5000};
Result<std::unique_ptr<SqliteIndex>> open_sqlite(const std::filesystem::path& file,
                                                 std::chrono::milliseconds busy_timeout = kDefaultBusyTimeout);

} // namespace tresor::index
