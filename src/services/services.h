// Use cases shared by every front end (DIMSE now, DICOMweb later).
// Contract: net/ and http/ translate their protocol into these calls and back;
// every call is audited here (the front ends audit associations/sessions only).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>
#include "audit/access.h"
#include "audit/audit.h"
#include "core/accounts.h"
#include "core/error.h"
#include "core/model.h"
#include "dicom/inspect.h"
#include "index/index.h"
#include "services/key_locks.h"
#include "store/blob_store.h"

namespace tresor::services {

struct StoreContext {
  Principal principal;
  std::string expected_sop_class;     // from the C-STORE command ("" = do not check)
  std::string expected_sop_instance;
  std::string expected_study;         // STOW-RS to /studies/{study} ("" = do not check)
};

struct StoreResult {
  enum class Kind { stored, duplicate, quarantined } kind = Kind::stored;
  // A duplicate that is the stored instance's data set in another transfer
  // syntax (dicom::same_dataset): the new copy is not kept.
  bool other_encoding = false;
  std::string sop_instance_uid;
  std::string sop_class_uid;
  std::string study_uid;
};

// Ingest: validate, sanitize, write durably, index, answer.
class IngestService {
public:
  IngestService(store::BlobStore& store, index::Index& index, audit::AuditSink& audit, dicom::Limits limits);
  // An empty temp file for a streaming receiver (DCMTK writes the C-STORE there).
  Result<store::TempBlob> begin();
  // Removes a temp blob that will not be ingested (a receive failed midway).
  void discard(const store::TempBlob& temp) noexcept;
  // Consumes `temp` in every case (committed or removed). Success means the
  // blob is fsynced and the index rows are committed.
  Result<StoreResult> ingest(const StoreContext& context, const store::TempBlob& temp);
  // Several objects of one request (STOW-RS): each temp gets ingest()'s
  // checks, the valid ones are made durable together (one
  // BlobStore::commit_batch: one file-system sync instead of two fsyncs per
  // object), then each is indexed in its own transaction and audited.
  // Returns one result per temp, in order, with ingest()'s meaning for each
  // (a failure of the shared commit fails every object that reached it).
  // Consumes every temp in every case. Nothing is indexed before every blob
  // of the batch is durable.
  std::vector<Result<StoreResult>> ingest_batch(const StoreContext& context,
                                                const std::vector<store::TempBlob>& temps);
  // Copies an existing file into a temp blob and ingests it (tresor import).
  Result<StoreResult> ingest_file(const StoreContext& context, const std::filesystem::path& file);
  // Quarantine release: ingest the held instance into the index, skipping the demographics check.
  Status release(const Principal& principal, std::int64_t quarantine_id);
  Status drop(const Principal& principal, std::int64_t quarantine_id);
  // Start-up recovery: removes temp files; re-indexes each blob no row
  // references whose content matches its key (it was durable before its index
  // transaction, which a crash or power cut lost), and removes the others.
  Result<std::size_t> recover();
  // Shared with services::DeletionService (deletion.h): a blob is removed
  // only under its key's lock, so no ingest of the same content interleaves.
  KeyLocks& key_locks() { return key_locks_; }

private:
  // A checked object, ready to commit: its temp, what it is, its key.
  struct Prepared {
    store::TempBlob temp;
    InstanceRecord record;
    std::string key;
    std::uint64_t size = 0;
  };
  // inspect + context checks + digest + size; on failure the temp is
  // removed and the failure audited.
  Result<Prepared> prepare(const StoreContext& context, const store::TempBlob& temp);
  // Audits a failure of an object whose blob could not be committed.
  void refuse_prepared(const StoreContext& context, const Prepared& p, const Error& err);
  // Index insert + audit, after the blob is durable. Removes nothing: on
  // failure, or for a duplicate in another encoding (other_encoding), the
  // caller removes the blob if it created it.
  Result<StoreResult> finish(const StoreContext& context, const Prepared& p);
  // recover(): a stored blob's plaintext (through BlobStore::open) in a temp blob.
  Result<store::TempBlob> plaintext_copy(const std::string& key);
  // The SOP Instance UID is archived with another blob: is `p` the same data
  // set once decoded (ingest_compare.cpp)? False when it cannot be told.
  bool same_as_archived(const Prepared& p);

  store::BlobStore& store_;
  index::Index& index_;
  audit::AuditSink& audit_;
  dicom::Limits limits_;
  KeyLocks key_locks_;  // commit -> index -> remove of one key at a time
};

// The deepest QIDO-RS offset accepted (find_page refuses a larger one with
// invalid_argument, 400): paging is done in the index (LIMIT/OFFSET), and
// SQLite still steps over the skipped rows, so the bound keeps one request's
// cost bounded. Deeper result sets are reached by narrowing the query.
inline constexpr std::size_t kMaxPageOffset = 100'000;

// One page of QIDO-RS results.
struct Page {
  std::vector<ResultRow> rows;
  bool truncated = false;   // more matches exist beyond this page (QIDO answers with a Warning header)
};

// C-FIND / QIDO. Both apply the principal's scope (request.scope is
// overwritten with principal.scope), so the same principal sees the same
// studies over DIMSE and HTTP.
class QueryService {
public:
  QueryService(index::Index& index, audit::AuditSink& audit, std::size_t cap);
  // resource_exhausted when more than the cap match and the principal has no unlimited_find.
  Result<std::vector<ResultRow>> find(const Principal& principal, const QueryRequest& request);
  // QIDO-RS: rows [offset, offset + min(limit, cap)) (limit 0 = cap; the cap
  // does not apply with unlimited_find, the hard limit always does). The
  // index skips the offset rows itself (never more than limit + 1 rows are
  // built here); offset > kMaxPageOffset is invalid_argument.
  Result<Page> find_page(const Principal& principal, const QueryRequest& request, std::size_t offset,
                         std::size_t limit);

private:
  index::Index& index_;
  audit::AuditSink& audit_;
  std::size_t cap_;
};

// One located instance. Its bytes are read through RetrieveService::open()
// (never through a path: the store may keep objects encrypted).
struct RetrieveItem {
  InstanceLocation location;   // location.blob_key names the stored object
};

// Default of dimse.retrieve_cap: above the instance count of nearly every
// single study (a thin-slice multiphase CT has a few thousand), far below an
// archive; bulk moves need the peer's unlimited_retrieve.
inline constexpr std::size_t kDefaultRetrieveCap = 10'000;

// C-GET / C-MOVE / WADO: which instances, and where their bytes are. The
// principal's scope applies (out-of-scope instances are simply not found).
// Contract of locate():
//  - the identifier carries the unique key of its level (PatientID at
//    PATIENT, StudyInstanceUID at STUDY, SeriesInstanceUID at SERIES,
//    SOPInstanceUID at IMAGE; PS3.4 C.4.2.2.1, C.4.3.2.1), non-empty and
//    without '*' or '?'; a list of UIDs ('\') is allowed at the level, a
//    unique key given above the level must be one value. Otherwise
//    invalid_argument (0xA900 identifier does not match SOP class / 400).
//    Unique keys above the level may be omitted (relational retrieve).
//  - more than `cap` matching instances without principal.unlimited_retrieve:
//    resource_exhausted, nothing is sent (C-GET/C-MOVE answer 0xA702).
//  - every request is audited, refused ones with the reason.
class RetrieveService {
public:
  // access: successful C-GET-type reads go to this aggregator (one "DICOM
  // Instances Accessed" event per user, study and viewing window) instead of
  // one retrieve event each; the HTTP (WADO) service has one, DIMSE not.
  RetrieveService(index::Index& index, store::BlobStore& store, audit::AuditSink& audit,
                  std::size_t cap = kDefaultRetrieveCap, audit::AccessAggregator* access = nullptr);
  Result<std::vector<RetrieveItem>> locate(const Principal& principal, const QueryRequest& request,
                                           audit::Type type, const std::string& destination = {});
  // The plaintext of a located instance (store::BlobStore::open): random
  // access, read by one thread at a time; open one per reader and keep it no
  // longer than the answer that reads it. not_found when the object went
  // away since locate() (deleted); corrupt / io_error as the store reports.
  // Opening is not audited again: locate() audited the retrieve.
  Result<std::unique_ptr<ByteSource>> open(const RetrieveItem& item) const;

private:
  index::Index& index_;
  store::BlobStore& store_;
  audit::AuditSink& audit_;
  std::size_t cap_;
  audit::AccessAggregator* access_ = nullptr;
};

// Administrative correction of a patient's demographics (REST
// PUT /api/patients/{id}, `tresor patient update`): the only way they change
// once stored (a store of a new study with other demographics is quarantined).
// Contract: admin operation only (permission_denied otherwise); values are
// checked (PatientName: ASCII PN of at most 64 characters and 4 '^', no '=',
// '\' or control characters; PatientBirthDate: YYYYMMDD or empty; PatientSex:
// M, F, O or empty; at least one of them given); the patient row is updated in
// one transaction, so QIDO-RS and C-FIND show the new values for every study
// of the patient; every attempt is audited (type admin, action
// patient.update) and the old and new values are written to the audit trail
// only, never to the ordinary log or the answer.
struct PatientUpdate {
  std::string patient_id;   // PatientID, 1..64 characters
  std::string issuer;       // IssuerOfPatientID ("" = none)
  index::PatientChange change;
};
class PatientService {
public:
  PatientService(index::Index& index, audit::AuditSink& audit);
  Status update(const Principal& principal, const PatientUpdate& update);

private:
  index::Index& index_;
  audit::AuditSink& audit_;
};

// True when the stored study with this UID is visible under `scope` (the
// index's own scope predicate); false when it is not stored or not visible.
// Used where an answer must not reach outside a principal's scope without a
// query of its own (storage commitment, the audit trail API).
Result<bool> study_in_scope(index::Index& index, const Scope& scope, const std::string& study_uid);

// Storage commitment: which of the referenced instances are safely stored.
// An instance of a study outside the principal's scope is reported failed
// exactly like a missing one (the SCP answers 0x0112 no such object instance).
struct CommitmentItem {
  std::string sop_class_uid, sop_instance_uid;
};
struct CommitmentResult {
  std::vector<CommitmentItem> success, failed;
};
class CommitmentService {
public:
  CommitmentService(index::Index& index, audit::AuditSink& audit);
  CommitmentResult check(const Principal& principal, const std::vector<CommitmentItem>& items);

private:
  index::Index& index_;
  audit::AuditSink& audit_;
};

} // namespace tresor::services
