// The composition root: one opened instance directory (config, index, store,
// audit, services). Every verb except `init` starts by opening one; `serve`
// additionally builds the network parts (see cmd_serve.cpp).
#pragma once
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audit/audit.h"
#include "config/config.h"
#include "core/accounts.h"
#include "core/clock.h"
#include "core/error.h"
#include "crypto/keyring.h"
#include "index/index.h"
#include "services/deletion.h"
#include "services/services.h"
#include "store/blob_store.h"

namespace tresor::app {

class Instance {
public:
  // Loads var_dir/tresor.toml, configures logging, opens the index (creating
  // its schema), the blob store and the audit log.
  static Result<std::unique_ptr<Instance>> open(const std::filesystem::path& var_dir);
  // Same, from an already loaded configuration (used by `init`).
  static Result<std::unique_ptr<Instance>> open(config::Config config);

  const config::Config& config() const { return config_; }
  // The key hierarchy (crypto/keyring.h), opened first: purpose keys for the
  // index, audit trail, journal and pseudonyms. Null only when
  // [encryption] enabled = false.
  const crypto::Keyring* keyring() const { return keyring_.get(); }
  const Clock& clock() const { return clock_; }
  index::SqliteIndex& index() { return *index_; }
  AccountRepository& accounts() { return *index_; }
  store::BlobStore& store() { return *store_; }
  audit::AuditSink& audit() { return *audit_; }
  services::IngestService& ingest() { return *ingest_; }
  services::QueryService& query() { return *query_; }
  services::QueryService& qido() { return *qido_; }   // same service, capped at http.qido_cap
  services::RetrieveService& retrieve() { return *retrieve_; }
  // The same for DICOMweb (WADO-RS/URI): reads are aggregated into one access event per user, study and window.
  services::RetrieveService& wado() { return *wado_; }
  services::CommitmentService& commitment() { return *commitment_; }
  services::DeletionService& deletion() { return *deletion_; }

  // Records an administrative change (type admin, actor "system", user = the
  // local OS user). `action` is e.g. "peer add"; `subject` the peer/user/cert.
  void record_admin(std::string_view action, std::string_view subject, audit::Outcome outcome,
                    std::vector<std::pair<std::string, std::string>> details = {});
  // PS3.15 Application Activity: "Application Start" / "Application Stop" of `tresor serve`.
  void record_application_activity(std::string_view what);
  // The audit trail's key (crypto::Purpose::audit); null while the instance has no keyring.
  const crypto::SecretKey* audit_key() const { return audit_key_; }

private:
  explicit Instance(config::Config config) : config_(std::move(config)) {}

  config::Config config_;
  SystemClock clock_;
  std::unique_ptr<crypto::Keyring> keyring_;  // outlives everything that uses its keys
  std::unique_ptr<index::SqliteIndex> index_;
  std::unique_ptr<store::BlobStore> store_;
  const crypto::SecretKey* audit_key_ = nullptr;
  std::unique_ptr<audit::AuditSink> audit_;
  std::unique_ptr<audit::AccessAggregator> access_;  // flushed into audit_ when destroyed (clean stop)
  // Declared after what they reference, so they are destroyed first.
  std::unique_ptr<services::IngestService> ingest_;
  std::unique_ptr<services::QueryService> query_;
  std::unique_ptr<services::QueryService> qido_;
  std::unique_ptr<services::RetrieveService> retrieve_;
  std::unique_ptr<services::RetrieveService> wado_;
  std::unique_ptr<services::CommitmentService> commitment_;
  std::unique_ptr<services::DeletionService> deletion_;
};

// The audit trail's options from the [audit] table (audit::open_trail_log).
audit::TrailOptions trail_options(const config::Config& config);

// "tresor: <message>" on stderr.
void print_error(std::string_view message);

// The local OS account running this command ("unknown" if it has no name).
std::string local_user();

// The principal for local administrative work (CLI, import): kind system,
// every operation, no result cap.
Principal system_principal(std::string name);

// The exposure check plus the well-known-password check that only app/ can
// do (it needs security::verify_password). Shared by `serve` and `check`.
std::vector<config::Finding> all_findings(Instance& instance);
// "FINDING: <what>\n  fix: <fix>" per finding.
void print_findings(std::ostream& out, const std::vector<config::Finding>& findings);


} // namespace tresor::app
