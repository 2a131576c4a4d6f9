// Use cases shared by every front end (DIMSE now, DICOMweb later).
// Contract: net/ and http/ translate their protocol into these calls and back;
// every call is audited here (the front ends audit associations/sessions only).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>
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
  // failure the caller removes the blob if it created it.
  Result<StoreResult> finish(const StoreContext& context, const Prepared& p);

  store::BlobStore& store_;
  index::Index& index_;
  audit::AuditSink& audit_;
  dicom::Limits limits_;
  KeyLocks key_locks_;  // commit -> index -> remove of one key at a time
};

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
  // does not apply with unlimited_find, the hard limit always does).
  Result<Page> find_page(const Principal& principal, const QueryRequest& request, std::size_t offset,
                         std::size_t limit);

private:
  index::Index& index_;
  audit::AuditSink& audit_;
  std::size_t cap_;
};

struct RetrieveItem {
  InstanceLocation location;
  std::filesystem::path file;   // where to read the stored Part-10 file
};

// C-GET / C-MOVE / WADO: which instances, and where their bytes are. The
// principal's scope applies (out-of-scope instances are simply not found).
class RetrieveService {
public:
  RetrieveService(index::Index& index, store::BlobStore& store, audit::AuditSink& audit);
  Result<std::vector<RetrieveItem>> locate(const Principal& principal, const QueryRequest& request,
                                           audit::Type type, const std::string& destination = {});

private:
  index::Index& index_;
  store::BlobStore& store_;
  audit::AuditSink& audit_;
};

// Storage commitment: which of the referenced instances are safely stored.
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
