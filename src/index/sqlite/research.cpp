// The de-identified export tables of SqliteIndexImpl (index.h, migration 008).
#include <chrono>
#include <string>

#include "core/clock.h"
#include "index/sqlite/sqlite_index.h"

namespace tresor::index::sqlite {

Status SqliteIndexImpl::record_pseudonym(const std::string& project, const std::string& pseudonym,
                                         const std::string& patient_id) {
  std::lock_guard lock(writer_mu_);
  Connection& c = *writer_;
  auto tx = Transaction::begin_immediate(c);
  if (!tx) return std::unexpected(tx.error());
  {
    auto st = c.prepare("SELECT patient_id FROM research_pseudonym WHERE project = ?1 AND pseudonym = ?2");
    if (!st) return std::unexpected(st.error());
    st->bind(1, project).bind(2, pseudonym);
    auto more = st->step();
    if (!more) return std::unexpected(more.error());
    if (*more) {
      if (st->text(0) != patient_id) return fail(Errc::conflict, "pseudonym already stands for another patient");
      return {};
    }
  }
  auto st = c.prepare(
      "INSERT INTO research_pseudonym (project, pseudonym, patient_id, created_at) VALUES (?1, ?2, ?3, ?4)");
  if (!st) return std::unexpected(st.error());
  st->bind(1, project).bind(2, pseudonym).bind(3, patient_id).bind(4, to_rfc3339(std::chrono::system_clock::now()));
  if (auto s = st->run(); !s) return s;
  return tx->commit();
}

Result<std::optional<PseudonymEntry>> SqliteIndexImpl::find_pseudonym(const std::string& project,
                                                                      const std::string& pseudonym) {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare(
      "SELECT patient_id, created_at FROM research_pseudonym WHERE project = ?1 AND pseudonym = ?2");
  if (!st) return std::unexpected(st.error());
  st->bind(1, project).bind(2, pseudonym);
  auto more = st->step();
  if (!more) return std::unexpected(more.error());
  if (!*more) return std::optional<PseudonymEntry>{};
  return std::optional<PseudonymEntry>{PseudonymEntry{project, pseudonym, st->text(0), st->text(1)}};
}

Status SqliteIndexImpl::record_export(const std::string& project, const ExportedStudy& study) {
  std::lock_guard lock(writer_mu_);
  auto st = writer_->prepare(
      "INSERT OR IGNORE INTO research_export (project, study_uid, deid_study_uid, target, exported_at)"
      " VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!st) return std::unexpected(st.error());
  const std::string at = study.exported_at.empty() ? to_rfc3339(std::chrono::system_clock::now()) : study.exported_at;
  st->bind(1, project).bind(2, study.study_uid).bind(3, study.deid_study_uid).bind(4, study.target).bind(5, at);
  return st->run();
}

Result<std::vector<ExportedStudy>> SqliteIndexImpl::exported_studies(const std::string& project) {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare(
      "SELECT study_uid, deid_study_uid, target, exported_at FROM research_export WHERE project = ?1"
      " ORDER BY exported_at, study_uid");
  if (!st) return std::unexpected(st.error());
  st->bind(1, project);
  std::vector<ExportedStudy> out;
  for (;;) {
    auto more = st->step();
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
    out.push_back(ExportedStudy{st->text(0), st->text(1), st->text(2), st->text(3)});
  }
  return out;
}

} // namespace tresor::index::sqlite
