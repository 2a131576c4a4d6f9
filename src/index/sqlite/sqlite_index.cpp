#include "index/sqlite/sqlite_index.h"
#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>
#include "core/clock.h"
#include "index/sqlite/migrations.h"
#include "index/sqlite/query.h"

namespace tresor::index {

Result<std::unique_ptr<SqliteIndex>> open_sqlite(const std::filesystem::path& file,
                                                 std::chrono::milliseconds busy_timeout) {
  auto impl = sqlite::SqliteIndexImpl::open(file, busy_timeout);
  if (!impl) return std::unexpected(impl.error());
  return std::unique_ptr<SqliteIndex>(std::move(*impl));
}

Result<std::unique_ptr<SqliteIndex>> open_sqlite(const std::filesystem::path& file, const crypto::SecretKey& key,
                                                 std::chrono::milliseconds busy_timeout) {
  auto impl = sqlite::SqliteIndexImpl::open(file, busy_timeout, &key);
  if (!impl) return std::unexpected(impl.error());
  return std::unique_ptr<SqliteIndex>(std::move(*impl));
}

} // namespace tresor::index

namespace tresor::index::sqlite {
namespace {

// Reader connections: at most this many exist (idle or leased); a query that
// finds none free waits for one (within the busy timeout). Bounds memory (8 MiB
// page cache each, db.cpp) and keeps caches warm under load.
constexpr std::size_t kMaxReaders = 16;
constexpr std::size_t kMaxFieldBytes = 4096;

// The InstanceRecord as quarantine columns (same names as the struct members,
// except the two UIDs below which keep the schema's names).
struct Field {
  const char* column;
  std::string InstanceRecord::*member;
};
constexpr Field kRecordFields[] = {
    {"specific_character_set", &InstanceRecord::specific_character_set},
    {"patient_id", &InstanceRecord::patient_id},
    {"issuer_of_patient_id", &InstanceRecord::issuer_of_patient_id},
    {"patient_name", &InstanceRecord::patient_name},
    {"patient_birth_date", &InstanceRecord::patient_birth_date},
    {"patient_sex", &InstanceRecord::patient_sex},
    {"study_uid", &InstanceRecord::study_uid},
    {"study_date", &InstanceRecord::study_date},
    {"study_time", &InstanceRecord::study_time},
    {"accession_number", &InstanceRecord::accession_number},
    {"study_id", &InstanceRecord::study_id},
    {"study_description", &InstanceRecord::study_description},
    {"referring_physician_name", &InstanceRecord::referring_physician_name},
    {"institution_name", &InstanceRecord::institution_name},
    {"series_uid", &InstanceRecord::series_uid},
    {"modality", &InstanceRecord::modality},
    {"series_number", &InstanceRecord::series_number},
    {"series_description", &InstanceRecord::series_description},
    {"body_part_examined", &InstanceRecord::body_part_examined},
    {"series_date", &InstanceRecord::series_date},
    {"sop_class_uid", &InstanceRecord::sop_class_uid},
    {"sop_instance_uid", &InstanceRecord::sop_instance_uid},
    {"instance_number", &InstanceRecord::instance_number},
    {"transfer_syntax_uid", &InstanceRecord::transfer_syntax_uid},
    {"rows", &InstanceRecord::rows},
    {"columns", &InstanceRecord::columns},
    {"number_of_frames", &InstanceRecord::number_of_frames},
};

std::string now_rfc3339() { return to_rfc3339(std::chrono::system_clock::now()); }

std::string quarantine_columns() {
  std::string cols = "id, reason, received_at";
  for (const auto& f : kRecordFields) (cols += ", ") += f.column;
  return cols + ", blob_key, blob_size, blob_digest";
}

std::string quarantine_insert_sql() {
  std::string cols = "reason, received_at", vals = "?1, ?2";
  int n = 2;
  for (const auto& f : kRecordFields) {
    (cols += ", ") += f.column;
    (vals += ", ?") += std::to_string(++n);
  }
  cols += ", blob_key, blob_size, blob_digest";
  vals += ", ?" + std::to_string(n + 1) + ", ?" + std::to_string(n + 2) + ", ?" + std::to_string(n + 3);
  return "INSERT INTO quarantine (" + cols + ") VALUES (" + vals + ")";
}

const std::string kLocationColumns =
    "SELECT st.study_uid, se.series_uid, i.sop_class, i.sop_uid, i.transfer_syntax, p.patient_id, i.blob_key, i.size"
    " FROM instance i JOIN series se ON se.id = i.series_pk JOIN study st ON st.id = se.study_pk"
    " JOIN patient p ON p.id = st.patient_pk";

InstanceLocation read_location(const Stmt& s) {
  InstanceLocation l;
  l.study_uid = s.text(0);
  l.series_uid = s.text(1);
  l.sop_class_uid = s.text(2);
  l.sop_instance_uid = s.text(3);
  l.transfer_syntax_uid = s.text(4);
  l.patient_id = s.text(5);
  l.blob_key = s.text(6);
  l.size = static_cast<std::uint64_t>(s.int64(7));
  return l;
}

Status validate(const InstanceRecord& r, const BlobInfo& b) {
  if (r.study_uid.empty() || r.series_uid.empty() || r.sop_instance_uid.empty())
    return std::unexpected(make_error(Errc::invalid_argument, "study, series and SOP instance UIDs are required"));
  if (b.key.empty()) return std::unexpected(make_error(Errc::invalid_argument, "blob key is required"));
  for (const auto& f : kRecordFields)
    if ((r.*f.member).size() > kMaxFieldBytes)
      return std::unexpected(make_error(Errc::too_large, std::string("attribute too long: ") + f.column));
  if (b.key.size() > kMaxFieldBytes || b.digest.size() > kMaxFieldBytes)
    return std::unexpected(make_error(Errc::too_large, "blob key or digest too long"));
  if (b.size > static_cast<std::uint64_t>(INT64_MAX)) return std::unexpected(make_error(Errc::too_large, "blob too large"));
  return {};
}

} // namespace

// ---- lifecycle ----

Result<std::unique_ptr<SqliteIndexImpl>> SqliteIndexImpl::open(const std::filesystem::path& file,
                                                              std::chrono::milliseconds busy_timeout,
                                                              const crypto::SecretKey* key) {
  if (file.empty()) return std::unexpected(make_error(Errc::invalid_argument, "index: empty database path"));
  // Create the file owner-only before SQLite touches it; the -wal and -shm
  // files inherit its permissions.
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) {
    ::close(fd);
  } else if (errno != EEXIST) {
    return std::unexpected(make_error(Errc::io_error, std::string("index: cannot create database: ") + std::strerror(errno)));
  }
  std::unique_ptr<SqliteIndexImpl> self(new SqliteIndexImpl(file, busy_timeout));
  if (key) {
    auto vfs = CryptVfs::create(*key);
    if (!vfs) return std::unexpected(vfs.error());
    self->vfs_ = std::move(*vfs);
    // An index written before encryption at rest is never kept in the clear.
    if (auto s = encrypt_plaintext_index(file, *self->vfs_); !s) return std::unexpected(s.error());
  }
  auto w = Connection::open(file, Connection::Mode::writer, busy_timeout, self->vfs_name());
  if (!w) return std::unexpected(self->vfs_ ? explain_open_error(w.error()) : w.error());
  self->writer_ = std::move(*w);
  if (self->vfs_) {
    if (auto s = check_encrypted_index(*self->writer_); !s) return std::unexpected(s.error());
  }
  if (auto s = migrate(*self->writer_, embedded_migrations()); !s) return std::unexpected(s.error());
  return self;
}

// No PRAGMA optimize / ANALYZE here: the planner statistics are fixed by
// migration 002 so that plans do not change with the archive's size.
SqliteIndexImpl::~SqliteIndexImpl() = default;

SqliteIndexImpl::Lease::~Lease() {
  if (!c_) return;
  {
    std::lock_guard lock(owner_->pool_mu_);
    owner_->idle_.push_back(std::move(c_));
  }
  owner_->pool_cv_.notify_one();
}

Result<SqliteIndexImpl::Lease> SqliteIndexImpl::reader() {
  std::unique_lock lock(pool_mu_);
  const auto deadline = std::chrono::steady_clock::now() + std::max(busy_timeout_, std::chrono::milliseconds(1000));
  while (idle_.empty() && open_readers_ >= kMaxReaders) {
    if (pool_cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty())
      return std::unexpected(make_error(Errc::unavailable, "index: every reader connection is busy"));
  }
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(c));
  }
  ++open_readers_;  // reserved before opening, outside the lock
  lock.unlock();
  auto c = Connection::open(file_, Connection::Mode::reader, busy_timeout_, vfs_name());
  if (!c) {
    {
      std::lock_guard relock(pool_mu_);
      --open_readers_;
    }
    pool_cv_.notify_one();
    return std::unexpected(c.error());
  }
  return Lease(this, std::move(*c));
}

// ---- insert ----

Result<InsertResult> SqliteIndexImpl::insert(const InstanceRecord& record, const BlobInfo& blob, bool force) {
  if (auto s = validate(record, blob); !s) return std::unexpected(s.error());
  std::lock_guard lock(writer_mu_);
  return insert_locked(record, blob, force);
}

Result<InsertResult> SqliteIndexImpl::insert_locked(const InstanceRecord& r, const BlobInfo& blob, bool force) {
  Connection& c = *writer_;
  auto tx = Transaction::begin_immediate(c);
  if (!tx) return std::unexpected(tx.error());

  // 1. Same SOP Instance UID already stored?
  {
    auto st = c.prepare("SELECT digest FROM instance WHERE sop_uid = ?1");
    if (!st) return std::unexpected(st.error());
    st->bind(1, r.sop_instance_uid);
    auto row = st->step();
    if (!row) return std::unexpected(row.error());
    if (*row) {
      InsertResult res;
      if (st->text(0) == blob.digest) {
        res.outcome = InsertOutcome::duplicate;
      } else {
        res.outcome = InsertOutcome::conflict;
        res.reason = "SOP Instance UID already stored with different content";
      }
      return res;  // nothing written; the transaction rolls back
    }
  }

  // 2. The study and series, if known.
  std::int64_t study_pk = 0, patient_pk = 0;
  std::string reason;
  {
    auto st = c.prepare(
        "SELECT st.id, p.id, p.patient_id, p.issuer, p.name, p.birth_date"
        " FROM study st JOIN patient p ON p.id = st.patient_pk WHERE st.study_uid = ?1");
    if (!st) return std::unexpected(st.error());
    st->bind(1, r.study_uid);
    auto row = st->step();
    if (!row) return std::unexpected(row.error());
    if (*row) {
      study_pk = st->int64(0);
      patient_pk = st->int64(1);
      if (!force) {
        std::string diffs;
        auto differs = [&](int col, const std::string& v, const char* what) {
          if (st->text(col) != v) (diffs += diffs.empty() ? "" : ", ") += what;
        };
        differs(2, r.patient_id, "PatientID");
        differs(3, r.issuer_of_patient_id, "IssuerOfPatientID");
        differs(4, r.patient_name, "PatientName");
        differs(5, r.patient_birth_date, "PatientBirthDate");
        if (!diffs.empty()) reason = "study already stored for a patient with another " + diffs;
      }
    }
  }
  std::int64_t series_pk = 0;
  {
    auto st = c.prepare("SELECT id, study_pk FROM series WHERE series_uid = ?1");
    if (!st) return std::unexpected(st.error());
    st->bind(1, r.series_uid);
    auto row = st->step();
    if (!row) return std::unexpected(row.error());
    if (*row) {
      series_pk = st->int64(0);
      if (st->int64(1) != study_pk) {
        if (force) {
          InsertResult res;
          res.outcome = InsertOutcome::conflict;
          res.reason = "Series Instance UID already belongs to another study";
          return res;
        }
        if (reason.empty()) reason = "Series Instance UID already belongs to another study";
      }
    }
  }

  // 3. A new study of a known patient joins it only with the same demographics:
  // a store never rewrites what every other study of the patient shows
  // (update_patient() does, as an audited administrative action).
  if (study_pk == 0) {
    auto st = c.prepare("SELECT id, name, birth_date, sex FROM patient WHERE patient_id = ?1 AND issuer = ?2");
    if (!st) return std::unexpected(st.error());
    st->bind(1, r.patient_id).bind(2, r.issuer_of_patient_id);
    auto row = st->step();
    if (!row) return std::unexpected(row.error());
    if (*row) {
      patient_pk = st->int64(0);
      std::string diffs;
      auto differs = [&](int col, const std::string& v, const char* what) {
        if (st->text(col) != v) (diffs += diffs.empty() ? "" : ", ") += what;
      };
      differs(1, r.patient_name, "PatientName");
      differs(2, r.patient_birth_date, "PatientBirthDate");
      differs(3, r.patient_sex, "PatientSex");
      if (!force && !diffs.empty() && reason.empty())
        reason = "new study of a known PatientID with another " + diffs;
    }
  }

  // 4. Quarantine: one row per (SOP Instance UID, digest).
  if (!reason.empty()) {
    InsertResult res;
    res.outcome = InsertOutcome::quarantined;
    res.reason = reason;
    {
      auto st = c.prepare("SELECT id FROM quarantine WHERE sop_instance_uid = ?1 AND blob_digest = ?2");
      if (!st) return std::unexpected(st.error());
      st->bind(1, r.sop_instance_uid).bind(2, blob.digest);
      auto row = st->step();
      if (!row) return std::unexpected(row.error());
      if (*row) res.quarantine_id = st->int64(0);
    }
    if (res.quarantine_id == 0) {
      auto st = c.prepare(quarantine_insert_sql());
      if (!st) return std::unexpected(st.error());
      st->bind(1, reason).bind(2, now_rfc3339());
      int n = 2;
      for (const auto& f : kRecordFields) st->bind(++n, r.*f.member);
      st->bind(n + 1, blob.key).bind(n + 2, static_cast<std::int64_t>(blob.size)).bind(n + 3, blob.digest);
      if (auto s = st->run(); !s) return std::unexpected(s.error());
      res.quarantine_id = sqlite3_last_insert_rowid(c.raw());
    }
    if (auto s = tx->commit(); !s) return std::unexpected(s.error());
    return res;
  }

  // 5. Store: patient (identity = PatientID + issuer), study, series, instance.
  if (patient_pk == 0) {
    auto st = c.prepare(
        "INSERT INTO patient (patient_id, issuer, name, birth_date, sex, charset) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st) return std::unexpected(st.error());
    st->bind(1, r.patient_id).bind(2, r.issuer_of_patient_id).bind(3, r.patient_name).bind(4, r.patient_birth_date)
        .bind(5, r.patient_sex).bind(6, r.specific_character_set);
    if (auto s = st->run(); !s) return std::unexpected(s.error());
    patient_pk = sqlite3_last_insert_rowid(c.raw());
  }
  if (study_pk == 0) {
    auto st = c.prepare(
        "INSERT INTO study (patient_pk, study_uid, date, time, accession, study_id, description,"
        " referring_physician, institution, charset) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!st) return std::unexpected(st.error());
    st->bind(1, patient_pk).bind(2, r.study_uid).bind(3, r.study_date).bind(4, r.study_time)
        .bind(5, r.accession_number).bind(6, r.study_id).bind(7, r.study_description)
        .bind(8, r.referring_physician_name).bind(9, r.institution_name).bind(10, r.specific_character_set);
    if (auto s = st->run(); !s) return std::unexpected(s.error());
    study_pk = sqlite3_last_insert_rowid(c.raw());
  }
  if (series_pk == 0) {
    auto st = c.prepare(
        "INSERT INTO series (study_pk, series_uid, modality, number, description, body_part, date, charset)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!st) return std::unexpected(st.error());
    st->bind(1, study_pk).bind(2, r.series_uid).bind(3, r.modality).bind(4, r.series_number)
        .bind(5, r.series_description).bind(6, r.body_part_examined).bind(7, r.series_date)
        .bind(8, r.specific_character_set);
    if (auto s = st->run(); !s) return std::unexpected(s.error());
    series_pk = sqlite3_last_insert_rowid(c.raw());
  }
  {
    auto st = c.prepare(
        "INSERT INTO instance (series_pk, sop_uid, sop_class, instance_number, transfer_syntax, rows, columns,"
        " frames, charset, blob_key, size, digest, received_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
    if (!st) return std::unexpected(st.error());
    st->bind(1, series_pk).bind(2, r.sop_instance_uid).bind(3, r.sop_class_uid).bind(4, r.instance_number)
        .bind(5, r.transfer_syntax_uid).bind(6, r.rows).bind(7, r.columns).bind(8, r.number_of_frames)
        .bind(9, r.specific_character_set).bind(10, blob.key).bind(11, static_cast<std::int64_t>(blob.size))
        .bind(12, blob.digest).bind(13, now_rfc3339());
    if (auto s = st->run(); !s) return std::unexpected(s.error());
  }
  if (auto s = tx->commit(); !s) return std::unexpected(s.error());
  return InsertResult{};
}

// ---- queries ----

Result<std::vector<ResultRow>> SqliteIndexImpl::find(const QueryRequest& request, std::size_t limit,
                                                     std::size_t offset) {
  auto q = build_find(request, limit, offset);
  if (!q) return std::unexpected(q.error());
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare(q->sql);
  if (!st) return std::unexpected(st.error());
  int n = 0;
  for (const auto& p : q->params) st->bind(++n, p);
  st->bind(n + 1, q->limit);
  if (q->offset > 0) st->bind(n + 2, q->offset);
  std::vector<ResultRow> rows;
  for (;;) {
    auto more = st->step();
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
    ResultRow row;
    row.reserve(q->outputs.size());
    for (const auto& out : q->outputs) row.push_back(Attr{out.tag, out.column >= 0 ? st->text(out.column) : out.constant});
    rows.push_back(std::move(row));
  }
  return rows;
}

Result<std::vector<InstanceLocation>> SqliteIndexImpl::locate(const QueryRequest& request, std::size_t limit) {
  auto q = build_locate(request, limit);
  if (!q) return std::unexpected(q.error());
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare(q->sql);
  if (!st) return std::unexpected(st.error());
  int n = 0;
  for (const auto& p : q->params) st->bind(++n, p);
  st->bind(n + 1, q->limit);
  std::vector<InstanceLocation> out;
  for (;;) {
    auto more = st->step();
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
    out.push_back(read_location(*st));
  }
  return out;
}

Result<std::optional<InstanceLocation>> SqliteIndexImpl::find_instance(const std::string& sop_instance_uid) {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare(kLocationColumns + " WHERE i.sop_uid = ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, sop_instance_uid);
  auto row = st->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<InstanceLocation>{};
  return std::optional<InstanceLocation>{read_location(*st)};
}

// ---- quarantine ----

Result<std::vector<QuarantineEntry>> SqliteIndexImpl::read_quarantine(const char* where, std::int64_t id) {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare("SELECT " + quarantine_columns() + " FROM quarantine " + where);
  if (!st) return std::unexpected(st.error());
  if (id != 0) st->bind(1, id);
  std::vector<QuarantineEntry> out;
  for (;;) {
    auto more = st->step();
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
    QuarantineEntry e;
    e.id = st->int64(0);
    e.reason = st->text(1);
    e.received_at = st->text(2);
    int col = 3;
    for (const auto& f : kRecordFields) e.record.*f.member = st->text(col++);
    e.blob.key = st->text(col);
    e.blob.size = static_cast<std::uint64_t>(st->int64(col + 1));
    e.blob.digest = st->text(col + 2);
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<QuarantineEntry>> SqliteIndexImpl::list_quarantine() { return read_quarantine("ORDER BY id", 0); }

Result<std::optional<QuarantineEntry>> SqliteIndexImpl::get_quarantine(std::int64_t id) {
  if (id <= 0) return std::optional<QuarantineEntry>{};
  auto v = read_quarantine("WHERE id = ?1", id);
  if (!v) return std::unexpected(v.error());
  if (v->empty()) return std::optional<QuarantineEntry>{};
  return std::optional<QuarantineEntry>{std::move(v->front())};
}

Status SqliteIndexImpl::remove_quarantine(std::int64_t id) {
  std::lock_guard lock(writer_mu_);
  auto st = writer_->prepare("DELETE FROM quarantine WHERE id = ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, id);
  if (auto s = st->run(); !s) return s;
  if (sqlite3_changes(writer_->raw()) == 0)
    return std::unexpected(make_error(Errc::not_found, "no such quarantine entry"));
  return {};
}

// ---- administrative correction of a patient's demographics ----

Result<PatientDemographics> SqliteIndexImpl::update_patient(const std::string& patient_id, const std::string& issuer,
                                                           const PatientChange& d) {
  if (patient_id.size() > kMaxFieldBytes || issuer.size() > kMaxFieldBytes)
    return fail(Errc::too_large, "patient identifier too long");
  for (const auto* v : {&d.name, &d.birth_date, &d.sex})
    if (*v && (*v)->size() > kMaxFieldBytes) return fail(Errc::too_large, "patient attribute too long");
  std::lock_guard lock(writer_mu_);
  Connection& c = *writer_;
  auto tx = Transaction::begin_immediate(c);
  if (!tx) return std::unexpected(tx.error());
  PatientDemographics old;
  std::int64_t patient_pk = 0;
  {
    auto st = c.prepare("SELECT id, name, birth_date, sex FROM patient WHERE patient_id = ?1 AND issuer = ?2");
    if (!st) return std::unexpected(st.error());
    st->bind(1, patient_id).bind(2, issuer);
    auto row = st->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(Errc::not_found, "no such patient");
    patient_pk = st->int64(0);
    old.name = st->text(1);
    old.birth_date = st->text(2);
    old.sex = st->text(3);
  }
  {
    auto st = c.prepare(
        "UPDATE patient SET name = coalesce(?2, name), birth_date = coalesce(?3, birth_date), sex = coalesce(?4, sex)"
        " WHERE id = ?1");
    if (!st) return std::unexpected(st.error());
    st->bind(1, patient_pk);
    int n = 1;
    for (const auto* v : {&d.name, &d.birth_date, &d.sex}) {
      ++n;
      if (*v) st->bind(n, **v);
      else st->bind_null(n);
    }
    if (auto s = st->run(); !s) return std::unexpected(s.error());
  }
  if (auto s = tx->commit(); !s) return std::unexpected(s.error());
  return old;
}

Result<std::vector<std::string>> SqliteIndexImpl::referenced_blob_keys() {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare(
      "SELECT blob_key FROM instance UNION SELECT blob_key FROM quarantine UNION SELECT blob_key FROM pending_deletion");
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

} // namespace tresor::index::sqlite
