// Route registration for the HTTP API: DICOMweb (PS3.18) under /dicom-web,
// WADO-URI at /wado, the account and admin REST API under /api.
// Every handler goes through the same services as DIMSE (ingest, query,
// retrieve), with the principal set by the server's authentication.
#pragma once
#include <filesystem>
#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>
#include "audit/audit.h"
#include "config/config.h"
#include "core/accounts.h"
#include "core/clock.h"
#include "http/router.h"
#include "index/index.h"
#include "services/deletion.h"
#include "security/http_auth.h"
#include "services/services.h"

namespace tresor::http {

struct Deps {
  const config::Config& config;
  services::IngestService& ingest;
  services::QueryService& query;        // constructed with http.qido_cap
  services::RetrieveService& retrieve;
  services::DeletionService& deletion;  // the instance's one (shares the ingest's per-key locks)
  index::Index& index;
  AccountRepository& accounts;
  security::HttpAuthenticator& auth;
  audit::AuditSink& audit;
  const Clock& clock;
  std::filesystem::path temp_dir;       // scratch files (transcoding), same file system as the store
  // The exposure check of config/ (run on demand by GET /api/exposure).
  std::function<std::vector<config::Finding>()> exposure;
  // Source addresses the DIMSE listener blocks now, with the end of the block.
  std::function<std::vector<std::pair<std::string, std::chrono::system_clock::time_point>>()> dimse_blocked;
  // Tresor's own pages and the viewer bundle ("" = no web UI).
  std::filesystem::path web_root;
  // The audit trail's key (crypto::Purpose::audit) for GET /api/audit; null: a trail written in the clear.
  const crypto::SecretKey* audit_key = nullptr;
};

void add_dicomweb_routes(Router& router, const Deps& deps);   // QIDO, WADO-RS, STOW, WADO-URI
void add_api_routes(Router& router, const Deps& deps);        // login, tokens, admin, audit
void add_all_routes(Router& router, const Deps& deps);        // the three above plus the web UI (static_files.h)

} // namespace tresor::http
