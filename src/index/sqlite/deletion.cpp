// Deletion, legal hold and retention queries of SqliteIndexImpl (index.h).
// Contract of delete_entities (the first phase of services::DeletionService):
// one BEGIN IMMEDIATE transaction on the writer checks the holds, queues the
// blob keys of every row it removes in pending_deletion, and removes the
// rows; either all of it is committed or none. The blobs themselves are the
// service's second phase (remove, then clear_pending_deletion).
#include <algorithm>
#include <chrono>
#include <map>
#include <string>

#include "core/clock.h"
#include "index/sqlite/access.h"
#include "index/sqlite/sqlite_index.h"

namespace tresor::index::sqlite {
namespace {

constexpr const char* kInstanceJoin =
    " FROM instance i JOIN series se ON se.id = i.series_pk JOIN study st ON st.id = se.study_pk"
    " JOIN patient p ON p.id = st.patient_pk";

// ?1 = the UID (PatientID at patient level), ?2 = IssuerOfPatientID.
const char* instance_filter(DeleteLevel level) {
  switch (level) {
    case DeleteLevel::patient: return " WHERE p.patient_id = ?1 AND p.issuer = ?2";
    case DeleteLevel::study: return " WHERE st.study_uid = ?1";
    case DeleteLevel::series: return " WHERE se.series_uid = ?1";
    case DeleteLevel::instance: break;
  }
  return " WHERE i.sop_uid = ?1";
}

const char* quarantine_filter(DeleteLevel level) {
  switch (level) {
    case DeleteLevel::patient: return " WHERE patient_id = ?1 AND issuer_of_patient_id = ?2";
    case DeleteLevel::study: return " WHERE study_uid = ?1";
    case DeleteLevel::series: return " WHERE series_uid = ?1";
    case DeleteLevel::instance: break;
  }
  return " WHERE sop_instance_uid = ?1";
}

const char* level_name(DeleteLevel level) {
  switch (level) {
    case DeleteLevel::patient: return "patient";
    case DeleteLevel::study: return "study";
    case DeleteLevel::series: return "series";
    case DeleteLevel::instance: break;
  }
  return "instance";
}

Status run(Connection& c, const std::string& sql, const DeleteTarget& t) {
  auto st = c.prepare(sql);
  if (!st) return std::unexpected(st.error());
  st->bind(1, t.uid).bind(2, t.issuer);
  return st->run();
}

Status run_pk(Connection& c, const char* sql, std::int64_t pk) {
  auto st = c.prepare(sql);
  if (!st) return std::unexpected(st.error());
  st->bind(1, pk);
  return st->run();
}

Result<std::vector<std::string>> labels_of(Connection& c, const std::string& study_uid) {
  auto st = c.prepare(
      "SELECT sl.label FROM study_label sl JOIN study st ON st.id = sl.study_pk WHERE st.study_uid = ?1"
      " ORDER BY sl.label");
  if (!st) return std::unexpected(st.error());
  st->bind(1, study_uid);
  std::vector<std::string> out;
  for (;;) {
    auto more = st->step();
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
    out.push_back(st->text(0));
  }
  return out;
}

// Rows of a study listing: uid, patient id, issuer, name, date, series,
// instances, bytes, first received.
Result<std::vector<StudySummary>> read_studies(Stmt& st) {
  std::vector<StudySummary> out;
  for (;;) {
    auto more = st.step();
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
    StudySummary s;
    s.study_uid = st.text(0);
    s.patient_id = st.text(1);
    s.issuer = st.text(2);
    s.patient_name = st.text(3);
    s.study_date = st.text(4);
    s.series = static_cast<std::size_t>(st.int64(5));
    s.instances = static_cast<std::size_t>(st.int64(6));
    s.bytes = static_cast<std::uint64_t>(st.int64(7));
    s.received_at = st.text(8);
    s.whole_study = true;
    out.push_back(std::move(s));
  }
  return out;
}

} // namespace

Result<DeletionPlan> SqliteIndexImpl::plan_on(Connection& c, const DeleteTarget& t,
                                              std::vector<std::int64_t>* study_pks,
                                              std::vector<std::int64_t>* patient_pks) {
  if (t.uid.empty()) return fail(Errc::invalid_argument, std::string("no ") + level_name(t.level) + " given");
  DeletionPlan plan;
  std::map<std::string, std::size_t> by_uid;  // study UID -> plan.studies index
  {
    auto st = c.prepare(std::string("SELECT st.id, p.id, st.study_uid, p.patient_id, p.issuer, p.name, st.date,"
                                    " count(DISTINCT se.id), count(*), CAST(total(i.size) AS INTEGER),"
                                    " min(i.received_at), st.num_instances") +
                        kInstanceJoin + instance_filter(t.level) + " GROUP BY st.id ORDER BY st.study_uid");
    if (!st) return std::unexpected(st.error());
    st->bind(1, t.uid).bind(2, t.issuer);
    for (;;) {
      auto more = st->step();
      if (!more) return std::unexpected(more.error());
      if (!*more) break;
      if (study_pks) study_pks->push_back(st->int64(0));
      if (patient_pks) patient_pks->push_back(st->int64(1));
      StudySummary s;
      s.study_uid = st->text(2);
      s.patient_id = st->text(3);
      s.issuer = st->text(4);
      s.patient_name = st->text(5);
      s.study_date = st->text(6);
      s.series = static_cast<std::size_t>(st->int64(7));
      s.instances = static_cast<std::size_t>(st->int64(8));
      s.bytes = static_cast<std::uint64_t>(st->int64(9));
      s.received_at = st->text(10);
      s.whole_study = st->int64(8) == st->int64(11);
      by_uid.emplace(s.study_uid, plan.studies.size());
      plan.studies.push_back(std::move(s));
    }
  }
  {
    // Held copies of the target (quarantine rows carry their own UIDs).
    auto st = c.prepare(std::string("SELECT study_uid, patient_id, issuer_of_patient_id, patient_name, study_date,"
                                    " count(*), CAST(total(blob_size) AS INTEGER), min(received_at)"
                                    " FROM quarantine") +
                        quarantine_filter(t.level) + " GROUP BY study_uid ORDER BY study_uid");
    if (!st) return std::unexpected(st.error());
    st->bind(1, t.uid).bind(2, t.issuer);
    for (;;) {
      auto more = st->step();
      if (!more) return std::unexpected(more.error());
      if (!*more) break;
      const std::string uid = st->text(0);
      auto it = by_uid.find(uid);
      if (it == by_uid.end()) {
        StudySummary s;
        s.study_uid = uid;
        s.patient_id = st->text(1);
        s.issuer = st->text(2);
        s.patient_name = st->text(3);
        s.study_date = st->text(4);
        s.received_at = st->text(7);
        s.whole_study = t.level == DeleteLevel::patient || t.level == DeleteLevel::study;
        it = by_uid.emplace(uid, plan.studies.size()).first;
        plan.studies.push_back(std::move(s));
      }
      StudySummary& s = plan.studies[it->second];
      s.quarantined += static_cast<std::size_t>(st->int64(5));
      s.bytes += static_cast<std::uint64_t>(st->int64(6));
    }
  }
  for (auto& s : plan.studies) {
    auto labels = labels_of(c, s.study_uid);
    if (!labels) return std::unexpected(labels.error());
    s.labels = std::move(*labels);
  }
  {
    auto st = c.prepare(std::string("SELECT i.blob_key") + kInstanceJoin + instance_filter(t.level) +
                        " UNION SELECT blob_key FROM quarantine" + quarantine_filter(t.level));
    if (!st) return std::unexpected(st.error());
    st->bind(1, t.uid).bind(2, t.issuer);
    for (;;) {
      auto more = st->step();
      if (!more) return std::unexpected(more.error());
      if (!*more) break;
      plan.blob_keys.push_back(st->text(0));
    }
  }
  if (plan.studies.empty()) return fail(Errc::not_found, std::string("no such ") + level_name(t.level));
  return plan;
}

Result<DeletionPlan> SqliteIndexImpl::plan_deletion(const DeleteTarget& target) {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  return plan_on(**lease, target, nullptr, nullptr);
}

Result<DeletionPlan> SqliteIndexImpl::delete_entities(const DeleteTarget& t) {
  std::lock_guard lock(writer_mu_);
  Connection& c = *writer_;
  auto tx = Transaction::begin_immediate(c);
  if (!tx) return std::unexpected(tx.error());
  std::vector<std::int64_t> study_pks, patient_pks;
  auto plan = plan_on(c, t, &study_pks, &patient_pks);
  if (!plan) return plan;
  for (const auto& s : plan->studies)
    if (std::ranges::find(s.labels, std::string(kHoldLabel)) != s.labels.end())
      return fail(Errc::conflict, "study " + s.study_uid + " is under legal hold (label '" + kHoldLabel +
                                      "'): remove the hold before deleting it");
  const std::string now = to_rfc3339(std::chrono::system_clock::now());
  for (const auto& key : plan->blob_keys) {
    auto st = c.prepare("INSERT OR IGNORE INTO pending_deletion (blob_key, queued_at) VALUES (?1, ?2)");
    if (!st) return std::unexpected(st.error());
    st->bind(1, key).bind(2, now);
    if (auto s = st->run(); !s) return std::unexpected(s.error());
  }
  if (auto s = run(c, std::string("DELETE FROM instance WHERE id IN (SELECT i.id") + kInstanceJoin +
                          instance_filter(t.level) + ")",
                   t);
      !s)
    return std::unexpected(s.error());
  if (auto s = run(c, std::string("DELETE FROM quarantine") + quarantine_filter(t.level), t); !s)
    return std::unexpected(s.error());
  // Whatever is left empty goes too (the counters are kept by triggers).
  for (auto pk : study_pks) {
    if (auto s = run_pk(c, "DELETE FROM series WHERE study_pk = ?1 AND num_instances = 0", pk); !s)
      return std::unexpected(s.error());
    if (auto s = run_pk(c, "DELETE FROM study WHERE id = ?1 AND num_instances = 0", pk); !s)
      return std::unexpected(s.error());
  }
  for (auto pk : patient_pks)
    if (auto s = run_pk(c, "DELETE FROM patient WHERE id = ?1 AND num_studies = 0", pk); !s)
      return std::unexpected(s.error());
  if (auto s = tx->commit(); !s) return std::unexpected(s.error());
  return plan;
}

Result<std::vector<std::string>> SqliteIndexImpl::pending_deletions() {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare("SELECT blob_key FROM pending_deletion ORDER BY queued_at, blob_key");
  if (!st) return std::unexpected(st.error());
  std::vector<std::string> keys;
  for (;;) {
    auto more = st->step();
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
    keys.push_back(st->text(0));
  }
  return keys;
}

Status SqliteIndexImpl::clear_pending_deletion(const std::string& key) {
  std::lock_guard lock(writer_mu_);
  auto st = writer_->prepare("DELETE FROM pending_deletion WHERE blob_key = ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, key);
  return st->run();
}

Result<bool> SqliteIndexImpl::blob_key_referenced(const std::string& key) {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare(
      "SELECT EXISTS (SELECT 1 FROM instance WHERE blob_key = ?1)"
      " OR EXISTS (SELECT 1 FROM quarantine WHERE blob_key = ?1)");
  if (!st) return std::unexpected(st.error());
  st->bind(1, key);
  auto row = st->step();
  if (!row) return std::unexpected(row.error());
  return *row && st->int64(0) != 0;
}

Result<bool> SqliteIndexImpl::set_study_label(const std::string& study_uid, const std::string& label, bool present) {
  if (!valid_label(label)) return fail(Errc::invalid_argument, "label must be 1..64 characters of [A-Za-z0-9_.-]");
  std::lock_guard lock(writer_mu_);
  Connection& c = *writer_;
  auto tx = Transaction::begin_immediate(c);
  if (!tx) return std::unexpected(tx.error());
  auto pk = sqlite::study_pk(c, study_uid);
  if (!pk) return std::unexpected(pk.error());
  const std::int64_t study_pk = *pk;
  auto st = c.prepare(present ? "INSERT OR IGNORE INTO study_label (study_pk, label) VALUES (?1, ?2)"
                              : "DELETE FROM study_label WHERE study_pk = ?1 AND label = ?2");
  if (!st) return std::unexpected(st.error());
  st->bind(1, study_pk).bind(2, label);
  if (auto s = st->run(); !s) return std::unexpected(s.error());
  const bool changed = sqlite3_changes(c.raw()) > 0;
  if (auto s = tx->commit(); !s) return std::unexpected(s.error());
  return changed;
}

Result<std::vector<StudySummary>> SqliteIndexImpl::studies_with_label(const std::string& label) {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare(
      "SELECT st.study_uid, p.patient_id, p.issuer, p.name, st.date, st.num_series, st.num_instances,"
      " (SELECT CAST(total(i.size) AS INTEGER) FROM series se JOIN instance i ON i.series_pk = se.id"
      "  WHERE se.study_pk = st.id),"
      " (SELECT min(i.received_at) FROM series se JOIN instance i ON i.series_pk = se.id WHERE se.study_pk = st.id)"
      " FROM study_label sl JOIN study st ON st.id = sl.study_pk JOIN patient p ON p.id = st.patient_pk"
      " WHERE sl.label = ?1 ORDER BY st.study_uid");
  if (!st) return std::unexpected(st.error());
  st->bind(1, label);
  auto out = read_studies(*st);
  if (out)
    for (auto& s : *out) s.labels = {label};
  return out;
}

Result<std::vector<StudySummary>> SqliteIndexImpl::retention_candidates(const RetentionQuery& q) {
  if (q.before_date.size() != 8 || q.before_received.empty())
    return fail(Errc::invalid_argument, "retention: a cut-off date (YYYYMMDD) and time are required");
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  // A StudyDate is used when it is eight digits; otherwise the time the
  // study's first instance was received.
  auto st = (*lease)->prepare(
      "SELECT st.study_uid, p.patient_id, p.issuer, p.name, st.date, st.num_series, st.num_instances,"
      " CAST(total(i.size) AS INTEGER), min(i.received_at)"
      " FROM study st JOIN patient p ON p.id = st.patient_pk JOIN series se ON se.study_pk = st.id"
      " JOIN instance i ON i.series_pk = se.id"
      " WHERE NOT EXISTS (SELECT 1 FROM study_label sl WHERE sl.study_pk = st.id AND sl.label = ?3)"
      " AND (?4 = '' OR NOT EXISTS (SELECT 1 FROM series s2 WHERE s2.study_pk = st.id AND s2.modality <> ?4))"
      " AND (?5 = '' OR NOT EXISTS (SELECT 1 FROM series s3 JOIN instance i3 ON i3.series_pk = s3.id"
      "      WHERE s3.study_pk = st.id AND i3.sop_class <> ?5))"
      " GROUP BY st.id"
      " HAVING CASE WHEN length(st.date) = 8 AND st.date NOT GLOB '*[^0-9]*' THEN st.date < ?1"
      "        ELSE min(i.received_at) < ?2 END"
      " ORDER BY st.date, st.study_uid LIMIT ?6");
  if (!st) return std::unexpected(st.error());
  st->bind(1, q.before_date)
      .bind(2, q.before_received)
      .bind(3, std::string(kHoldLabel))
      .bind(4, q.modality)
      .bind(5, q.sop_class)
      .bind(6, static_cast<std::int64_t>(q.limit));
  return read_studies(*st);
}

} // namespace tresor::index::sqlite
