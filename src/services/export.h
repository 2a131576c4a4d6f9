// De-identified export to a research project (PS3.15 Annex E; see
// dicom/deidentify.h for what happens to each object).
// Contract of ExportService::run():
//  - admin only (Operation::admin; permission_denied otherwise, audited);
//  - the project name is 1..55 characters of [A-Za-z0-9_.-]; its pseudonym
//    key is dicom::project_key(root, project), so the same patient gets the
//    same pseudonym (and the same original UID the same new UID) in every
//    export of one project, and different ones in another project;
//  - selects the instances of the studies named (by Study Instance UID, or
//    every study of a PatientID), reads each through BlobStore::open(), and
//    either de-identifies it into the sink or leaves it out with the reason
//    (burned-in risk, unreadable); never writes an original identifier into
//    the sink (file names come from the new UIDs);
//  - records each (project, pseudonym, original PatientID) in the index (the
//    map never leaves Tresor) and each exported study in research_export;
//  - when archive_copy is set, also ingests each de-identified copy through
//    IngestService (a new study under the pseudonym patient) and labels it
//    research_label(project): a researcher whose scope is that label sees
//    these copies over QIDO/WADO/C-FIND, never the originals;
//  - one audit event Type::data_export per run (project, counts, target kind,
//    the original PatientIDs in the patient_id field: audit only).
// reidentify(): admin only; the original PatientID of a pseudonym
// (not_found if unknown), audited as Type::patient_record with reason
// "re-identification" whatever the outcome.
#pragma once
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "audit/audit.h"
#include "core/accounts.h"
#include "core/error.h"
#include "dicom/deidentify.h"
#include "index/index.h"
#include "services/services.h"
#include "store/blob_store.h"

namespace tresor::services {

// The study label of a project's de-identified copies ("research-" + project).
std::string research_label(const std::string& project);
bool is_valid_project(const std::string& project) noexcept;

// Where de-identified objects go. put() takes a finished Part-10 file and a
// relative name made of new UIDs only; it may move or copy the file (the
// caller removes whatever is left). finish() completes the target (closes a
// zip); nothing is complete before it succeeds.
class ExportSink {
public:
  virtual ~ExportSink() = default;
  virtual const char* kind() const noexcept = 0;  // "dir", "zip", "peer"
  virtual Status put(const std::filesystem::path& file, const std::string& name) = 0;
  virtual Status finish() = 0;
};

// A directory (created if missing; must be empty or new, so nothing of an
// earlier export is mixed in). Files: <pseudonym>/<study>/<series>/<sop>.dcm.
Result<std::unique_ptr<ExportSink>> open_directory_sink(const std::filesystem::path& dir);
// A zip file (libzip), written to FILE.part and renamed on finish(); refuses an existing FILE.
Result<std::unique_ptr<ExportSink>> open_zip_sink(const std::filesystem::path& file);

struct ExportRequest {
  std::string project;
  dicom::DeidProfile profile;
  bool allow_burned_in = false;
  std::string patient_id;               // every study of this patient, or
  std::vector<std::string> study_uids;  // these studies
  bool archive_copy = true;             // also archive the copies for the researcher view
};

struct LeftOut {
  std::size_t number = 0;   // 1-based position of the object in the export
  std::string sop_class_uid;
  std::string reason;
};

struct ExportReport {
  std::size_t selected = 0, exported = 0;
  std::vector<LeftOut> left_out;
  std::vector<std::string> pseudonyms;       // distinct, of the exported patients
  std::vector<std::string> deid_study_uids;  // distinct new Study Instance UIDs
  std::size_t archived = 0;                  // copies archived for the researcher view
};

class ExportService {
public:
  // `root`: the pseudonym root key (the keyring's Purpose::pseudonym key, 32 bytes).
  // `work_dir`: where de-identified files are made before the sink takes them.
  ExportService(index::Index& index, store::BlobStore& store, audit::AuditSink& audit, IngestService& ingest,
                std::string root, std::filesystem::path work_dir);

  using Progress = std::function<void(std::size_t done, std::size_t total)>;
  Result<ExportReport> run(const Principal& principal, const ExportRequest& request, ExportSink& sink,
                           const Progress& progress = {});
  Result<std::string> reidentify(const Principal& principal, const std::string& project,
                                 const std::string& pseudonym);

private:
  Result<std::vector<InstanceLocation>> select(const ExportRequest& request);

  index::Index& index_;
  store::BlobStore& store_;
  audit::AuditSink& audit_;
  IngestService& ingest_;
  std::string root_;
  std::filesystem::path work_dir_;
};

} // namespace tresor::services
