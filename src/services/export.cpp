// services::ExportService (contract in export.h).
#include "services/export.h"

#include <algorithm>
#include <set>

namespace tresor::services {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxExportInstances = 1'000'000;

std::string join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += '\\';
    out += s;
  }
  return out;
}

audit::Event export_event(const Principal& p, const ExportRequest& r) {
  audit::Event e;
  e.type = audit::Type::data_export;
  e.actor = p.name;
  e.user = p.user;
  e.source = p.source;
  e.details = {{"project", r.project}, {"profile", dicom::to_string(r.profile)}};
  return e;
}

} // namespace

std::string research_label(const std::string& project) { return "research-" + project; }

bool is_valid_project(const std::string& project) noexcept {
  if (project.empty() || project.size() > 55) return false;
  return std::all_of(project.begin(), project.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

ExportService::ExportService(index::Index& index, store::BlobStore& store, audit::AuditSink& audit,
                             IngestService& ingest, std::string root, fs::path work_dir)
    : index_(index), store_(store), audit_(audit), ingest_(ingest), root_(std::move(root)),
      work_dir_(std::move(work_dir)) {}

Result<std::vector<InstanceLocation>> ExportService::select(const ExportRequest& r) {
  QueryRequest q;
  if (!r.study_uids.empty()) {
    std::string list;
    for (const auto& uid : r.study_uids) {
      if (uid.empty() || uid.find_first_of("*?\\") != std::string::npos)
        return fail(Errc::invalid_argument, "a Study Instance UID must be given in full");
      if (!list.empty()) list += '\\';
      list += uid;
    }
    q.model = QueryModel::study_root;
    q.level = Level::study;
    q.keys = {{tags::StudyInstanceUID, list}};
  } else if (!r.patient_id.empty()) {
    if (r.patient_id.find_first_of("*?\\") != std::string::npos)
      return fail(Errc::invalid_argument, "a PatientID must be given in full");
    q.model = QueryModel::patient_root;
    q.level = Level::patient;
    q.keys = {{tags::PatientID, r.patient_id}};
  } else {
    return fail(Errc::invalid_argument, "name a patient or at least one study");
  }
  return index_.locate(q, kMaxExportInstances);
}

Result<ExportReport> ExportService::run(const Principal& principal, const ExportRequest& request, ExportSink& sink,
                                        const Progress& progress) {
  audit::Event ev = export_event(principal, request);
  ev.details.emplace_back("target", sink.kind());
  auto refuse = [&](audit::Outcome outcome, const Error& err) -> Result<ExportReport> {
    ev.outcome = outcome;
    ev.reason = err.message;
    audit_.record(ev);
    return std::unexpected(err);
  };
  if (!principal.may(Operation::admin))
    return refuse(audit::Outcome::denied, Error{Errc::permission_denied, "de-identified export is for administrators"});
  if (!is_valid_project(request.project))
    return refuse(audit::Outcome::failure,
                  Error{Errc::invalid_argument, "project name must be 1..55 characters of [A-Za-z0-9_.-]"});
  if (root_.size() != 32)
    return refuse(audit::Outcome::failure, Error{Errc::internal, "no pseudonym key"});
  auto located = select(request);
  if (!located) return refuse(audit::Outcome::failure, located.error());
  if (located->empty()) return refuse(audit::Outcome::failure, Error{Errc::not_found, "no such patient or study"});

  std::error_code ec;
  fs::create_directories(work_dir_, ec);
  dicom::DeidRequest dr;
  dr.profile = request.profile;
  dr.key = dicom::project_key(root_, request.project);
  dr.allow_burned_in = request.allow_burned_in;

  ExportReport report;
  report.selected = located->size();
  std::set<std::string> originals, pseudonyms, new_studies;
  std::set<std::pair<std::string, std::string>> studies;  // (original, new)
  StoreContext store_ctx;
  store_ctx.principal = principal;
  Status failed;
  std::size_t n = 0;
  for (const InstanceLocation& loc : *located) {
    ++n;
    if (progress) progress(n - 1, located->size());
    auto source = store_.open(loc.blob_key);
    if (!source) {
      report.left_out.push_back({n, loc.sop_class_uid, "cannot read the stored object: " + source.error().message});
      continue;
    }
    const fs::path tmp = work_dir_ / ("deid-" + std::to_string(n) + ".dcm");
    auto out = dicom::deidentify(std::shared_ptr<ByteSource>(std::move(*source)), tmp, dr);
    if (!out) {
      fs::remove(tmp, ec);
      report.left_out.push_back({n, loc.sop_class_uid, out.error().message});
      continue;
    }
    if (out->left_out) {
      report.left_out.push_back({n, out->sop_class_uid, out->reason});
      continue;
    }
    if (auto s = index_.record_pseudonym(request.project, out->pseudonym, out->patient_id); !s) {
      fs::remove(tmp, ec);
      failed = s;
      break;
    }
    originals.insert(out->patient_id);
    pseudonyms.insert(out->pseudonym);
    new_studies.insert(out->study_uid);
    studies.insert({loc.study_uid, out->study_uid});
    if (request.archive_copy) {
      auto stored = ingest_.ingest_file(store_ctx, tmp);
      if (stored) {
        if (stored->kind != StoreResult::Kind::quarantined) ++report.archived;
      } else if (stored.error().code != Errc::conflict) {
        // A copy from an export with another profile keeps its place (same
        // new UIDs, other content); anything else stops the export.
        fs::remove(tmp, ec);
        failed = std::unexpected(stored.error());
        break;
      }
    }
    const std::string name = out->pseudonym + "/" + out->study_uid + "/" + out->series_uid + "/" +
                             out->sop_instance_uid + ".dcm";
    if (auto s = sink.put(tmp, name); !s) {
      fs::remove(tmp, ec);
      failed = s;
      break;
    }
    fs::remove(tmp, ec);
    ++report.exported;
  }
  if (failed) failed = sink.finish();
  if (progress) progress(located->size(), located->size());
  if (request.archive_copy)
    for (const auto& uid : new_studies)
      if (auto s = index_.set_study_label(uid, research_label(request.project), true); !s && failed) failed = std::unexpected(s.error());
  for (const auto& [orig, deid] : studies)
    if (auto s = index_.record_export(request.project, index::ExportedStudy{orig, deid, sink.kind(), {}}); !s && failed)
      failed = s;
  report.pseudonyms.assign(pseudonyms.begin(), pseudonyms.end());
  report.deid_study_uids.assign(new_studies.begin(), new_studies.end());

  ev.patient_id = join(originals);
  ev.details.emplace_back("selected", std::to_string(report.selected));
  ev.details.emplace_back("exported", std::to_string(report.exported));
  ev.details.emplace_back("left_out", std::to_string(report.left_out.size()));
  ev.details.emplace_back("studies", std::to_string(studies.size()));
  ev.details.emplace_back("archived", std::to_string(report.archived));
  if (!failed) return refuse(audit::Outcome::failure, failed.error());
  ev.outcome = audit::Outcome::success;
  audit_.record(ev);
  return report;
}

Result<std::string> ExportService::reidentify(const Principal& principal, const std::string& project,
                                              const std::string& pseudonym) {
  audit::Event ev;
  ev.type = audit::Type::patient_record;
  ev.actor = principal.name;
  ev.user = principal.user;
  ev.source = principal.source;
  ev.reason = "re-identification";
  ev.details = {{"project", project}, {"pseudonym", pseudonym}};
  auto done = [&](audit::Outcome o, const Error& err) -> Result<std::string> {
    ev.outcome = o;
    ev.details.emplace_back("error", err.message);
    audit_.record(ev);
    return std::unexpected(err);
  };
  if (!principal.may(Operation::admin))
    return done(audit::Outcome::denied, Error{Errc::permission_denied, "re-identification is for administrators"});
  auto found = index_.find_pseudonym(project, pseudonym);
  if (!found) return done(audit::Outcome::failure, found.error());
  if (!*found) return done(audit::Outcome::failure, Error{Errc::not_found, "no such pseudonym in this project"});
  ev.patient_id = (*found)->patient_id;
  ev.outcome = audit::Outcome::success;
  audit_.record(ev);
  return (*found)->patient_id;
}

} // namespace tresor::services
