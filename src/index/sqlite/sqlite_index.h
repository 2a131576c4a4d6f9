// The SQLite implementation of Index and AccountRepository (private to src/index).
// Contract (beyond index.h):
//  - one writer connection, guarded by writer_mu_, does every write; each
//    insert() is one BEGIN IMMEDIATE transaction;
//  - reads take a connection from a small pool of query_only connections, so
//    queries run alongside ingest (WAL) and see every committed insert;
//  - the database file is created 0600 and migrated at open.
#pragma once
#include <chrono>
#include <filesystem>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <vector>
#include "index/index.h"
#include "index/sqlite/crypt_vfs.h"
#include "index/sqlite/db.h"

namespace tresor::index::sqlite {

class SqliteIndexImpl final : public SqliteIndex {
public:
  // key: the index purpose key (pages sealed by crypt_vfs.h), or null for a
  // plaintext database (unit tests of other modules, tools).
  static Result<std::unique_ptr<SqliteIndexImpl>> open(const std::filesystem::path& file,
                                                       std::chrono::milliseconds busy_timeout,
                                                       const crypto::SecretKey* key = nullptr);
  ~SqliteIndexImpl() override;

  // Index
  Result<InsertResult> insert(const InstanceRecord& record, const BlobInfo& blob, bool force) override;
  Result<std::vector<ResultRow>> find(const QueryRequest& request, std::size_t limit, std::size_t offset) override;
  Result<std::vector<InstanceLocation>> locate(const QueryRequest& request, std::size_t limit) override;
  Result<std::optional<InstanceLocation>> find_instance(const std::string& sop_instance_uid) override;
  Result<std::vector<QuarantineEntry>> list_quarantine() override;
  Result<std::optional<QuarantineEntry>> get_quarantine(std::int64_t id) override;
  Status remove_quarantine(std::int64_t id) override;
  Result<std::vector<std::string>> referenced_blob_keys() override;
  Result<PatientDemographics> update_patient(const std::string& patient_id, const std::string& issuer,
                                             const PatientChange& change) override;
  // sql_console.cpp
  Result<std::vector<std::string>> read_only_sql(const std::string& sql, std::size_t max_rows) override;
  // Labels (access.cpp)
  Status set_study_labels(const std::string& study_uid, const std::vector<std::string>& labels) override;
  Result<std::vector<std::string>> study_labels(const std::string& study_uid) override;

  // Deletion, holds, retention (deletion.cpp)
  Result<DeletionPlan> plan_deletion(const DeleteTarget& target) override;
  Result<DeletionPlan> delete_entities(const DeleteTarget& target) override;
  Result<std::vector<std::string>> pending_deletions() override;
  Status clear_pending_deletion(const std::string& key) override;
  Result<bool> blob_key_referenced(const std::string& key) override;
  Result<bool> set_study_label(const std::string& study_uid, const std::string& label, bool present) override;
  Result<std::vector<StudySummary>> studies_with_label(const std::string& label) override;
  Result<std::vector<StudySummary>> retention_candidates(const RetentionQuery& query) override;

  // De-identified export (research.cpp)
  Status record_pseudonym(const std::string& project, const std::string& pseudonym,
                          const std::string& patient_id) override;
  Result<std::optional<PseudonymEntry>> find_pseudonym(const std::string& project,
                                                       const std::string& pseudonym) override;
  Status record_export(const std::string& project, const ExportedStudy& study) override;
  Result<std::vector<ExportedStudy>> exported_studies(const std::string& project) override;

  // AccountRepository (accounts.cpp)
  Result<std::optional<Peer>> find_peer(const std::string& ae_title) override;
  Result<std::vector<Peer>> list_peers() override;
  Status put_peer(const Peer& peer) override;
  Result<bool> remove_peer(const std::string& ae_title) override;
  Result<std::optional<User>> find_user(const std::string& username) override;
  Result<std::vector<User>> list_users() override;
  Status put_user(const User& user) override;
  Result<bool> remove_user(const std::string& username) override;
  Status put_token(const ApiToken& token) override;
  Result<std::optional<ApiToken>> find_token_by_hash(const std::string& secret_sha256) override;
  Result<std::vector<ApiToken>> list_tokens(const std::string& username) override;
  Result<bool> revoke_token(const std::string& id) override;

private:
  // A pooled reader connection, returned to the pool on destruction. Any
  // Stmt prepared from it must be destroyed first (declare the lease first).
  class Lease {
  public:
    Lease(SqliteIndexImpl* owner, std::unique_ptr<Connection> c) : owner_(owner), c_(std::move(c)) {}
    Lease(Lease&&) noexcept = default;
    ~Lease();
    Connection& operator*() { return *c_; }
    Connection* operator->() { return c_.get(); }

  private:
    SqliteIndexImpl* owner_;
    std::unique_ptr<Connection> c_;
  };

  SqliteIndexImpl(std::filesystem::path file, std::chrono::milliseconds busy_timeout)
      : file_(std::move(file)), busy_timeout_(busy_timeout) {}
  Result<Lease> reader();
  Result<InsertResult> insert_locked(const InstanceRecord& record, const BlobInfo& blob, bool force);
  Result<std::vector<QuarantineEntry>> read_quarantine(const char* where, std::int64_t id);
  // The plan of a deletion, read on connection c (the writer inside
  // delete_entities' transaction, or a reader).
  // study_pks / patient_pks (optional) receive the rows' keys.
  Result<DeletionPlan> plan_on(Connection& c, const DeleteTarget& target, std::vector<std::int64_t>* study_pks,
                               std::vector<std::int64_t>* patient_pks);

  std::filesystem::path file_;
  std::chrono::milliseconds busy_timeout_;  // every connection's lock wait bound
  std::unique_ptr<CryptVfs> vfs_;            // null = plaintext; outlives every connection below
  std::string vfs_name() const { return vfs_ ? vfs_->name() : std::string(); }
  std::mutex writer_mu_;
  std::unique_ptr<Connection> writer_;
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;            // a reader came back to idle_
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_readers_ = 0;               // idle + leased, <= kMaxReaders
};

} // namespace tresor::index::sqlite
