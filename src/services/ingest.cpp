// Ingest: validate, sanitize, write durably, index, then answer.
// Order (the durability contract): inspect (validates, zeroes the preamble) ->
// digest of the data set -> link into place + fsync (ingest) or, for a batch,
// link every object into place + one file-system sync (ingest_batch) -> index
// transaction(s) -> success. No index row is written before its blob (and,
// in a batch, every blob of the batch) is durable. A failure after a blob was
// created removes it again unless another object of the batch references it.
// Ingests of the same key (byte-identical data sets) run that sequence one
// at a time (KeyLocks): otherwise a failing one could remove the blob that a
// concurrent identical one found in place and indexed.
#include <cstdio>
#include <unordered_set>

#include "core/log.h"
#include "services/services.h"
#include "services/scope_check.h"

namespace tresor::services {

namespace {

audit::Event store_event(const StoreContext& ctx, const InstanceRecord* r) {
  audit::Event e;
  e.type = audit::Type::store;
  e.actor = ctx.principal.name;
  e.user = ctx.principal.user;
  e.source = ctx.principal.source;
  if (r) {
    e.patient_id = r->patient_id;
    e.study_uid = r->study_uid;
    e.series_uid = r->series_uid;
    e.sop_uid = r->sop_instance_uid;
  } else {
    e.sop_uid = ctx.expected_sop_instance;
  }
  return e;
}

// An administrator's action on a held instance.
audit::Event quarantine_event(const Principal& principal, const index::QuarantineEntry& q, const char* action) {
  audit::Event e;
  e.type = audit::Type::quarantine;
  e.outcome = audit::Outcome::success;
  e.actor = principal.name;
  e.source = principal.source;
  e.patient_id = q.record.patient_id;
  e.study_uid = q.record.study_uid;
  e.sop_uid = q.record.sop_instance_uid;
  e.details.emplace_back("action", action);
  e.details.emplace_back("quarantine_id", std::to_string(q.id));
  return e;
}

} // namespace

IngestService::IngestService(store::BlobStore& store, index::Index& index, audit::AuditSink& audit,
                             dicom::Limits limits)
    : store_(store), index_(index), audit_(audit), limits_(limits) {}

Result<store::TempBlob> IngestService::begin() { return store_.create_temp(); }

void IngestService::discard(const store::TempBlob& temp) noexcept { store_.abort(temp); }

Result<IngestService::Prepared> IngestService::prepare(const StoreContext& ctx, const store::TempBlob& temp) {
  auto refuse = [&](const Error& err, const InstanceRecord* r) -> Result<Prepared> {
    store_.abort(temp);
    auto e = store_event(ctx, r);
    e.outcome = audit::Outcome::failure;
    e.reason = err.message;
    audit_.record(e);
    return std::unexpected(err);
  };

  auto inspected = dicom::inspect_file(temp.path, limits_);
  if (!inspected) return refuse(inspected.error(), nullptr);
  const InstanceRecord& r = inspected->record;
  if (!ctx.expected_sop_class.empty() && ctx.expected_sop_class != r.sop_class_uid)
    return refuse(make_error(Errc::invalid_argument, "SOP Class UID of the data set differs from the request"), &r);
  if (!ctx.expected_sop_instance.empty() && ctx.expected_sop_instance != r.sop_instance_uid)
    return refuse(make_error(Errc::invalid_argument, "SOP Instance UID of the data set differs from the request"),
                  &r);

  if (!ctx.expected_study.empty() && ctx.expected_study != r.study_uid)
    return refuse(make_error(Errc::invalid_argument, "Study Instance UID of the data set differs from the request"),
                  &r);
  // A scoped principal writes only into studies of its scope; one refusal for
  // every case, decided before the index says anything (scope_check.h).
  if (auto in_scope = detail::check_store_scope(index_, ctx.principal, r); !in_scope)
    return refuse(in_scope.error(), &r);

  auto digest = store::sha256_file(temp.path, inspected->dataset_offset);
  if (!digest) return refuse(digest.error(), &r);
  std::error_code ec;
  auto size = std::filesystem::file_size(temp.path, ec);
  if (ec) return refuse(make_error(Errc::io_error, "cannot stat received object"), &r);
  return Prepared{temp, std::move(inspected->record), std::move(*digest), size};
}

void IngestService::refuse_prepared(const StoreContext& ctx, const Prepared& p, const Error& err) {
  auto e = store_event(ctx, &p.record);
  e.outcome = audit::Outcome::failure;
  e.reason = err.message;
  audit_.record(e);
}

Result<StoreResult> IngestService::finish(const StoreContext& ctx, const Prepared& p) {
  const InstanceRecord& r = p.record;
  auto inserted = index_.insert(r, index::BlobInfo{p.key, p.size, p.key});
  auto e = store_event(ctx, &r);
  if (!inserted) {
    e.outcome = audit::Outcome::failure;
    e.reason = inserted.error().message;
    audit_.record(e);
    return std::unexpected(inserted.error());
  }

  StoreResult result;
  result.sop_instance_uid = r.sop_instance_uid;
  result.sop_class_uid = r.sop_class_uid;
  result.study_uid = r.study_uid;
  switch (inserted->outcome) {
    case index::InsertOutcome::stored:
      result.kind = StoreResult::Kind::stored;
      e.outcome = audit::Outcome::success;
      break;
    case index::InsertOutcome::duplicate:
      result.kind = StoreResult::Kind::duplicate;
      e.outcome = audit::Outcome::success;
      e.details.emplace_back("duplicate", "identical instance already stored");
      break;
    case index::InsertOutcome::conflict: {
      if (same_as_archived(p)) {
        // A router or a modality whose compression setting changed re-sends
        // the same instance in another transfer syntax: not a conflict.
        result.kind = StoreResult::Kind::duplicate;
        result.other_encoding = true;
        e.outcome = audit::Outcome::success;
        e.details.emplace_back("duplicate", "same data set in another transfer syntax already stored");
        break;
      }
      Error err = make_error(Errc::conflict,
                             "an instance with this SOP Instance UID and different content is already stored");
      e.outcome = audit::Outcome::failure;
      e.reason = err.message;
      audit_.record(e);
      return std::unexpected(err);
    }
    case index::InsertOutcome::quarantined:
      result.kind = StoreResult::Kind::quarantined;
      e.type = audit::Type::quarantine;
      e.outcome = audit::Outcome::success;
      e.reason = inserted->reason;
      e.details.emplace_back("action", "held");
      e.details.emplace_back("quarantine_id", std::to_string(inserted->quarantine_id));
      break;
  }
  audit_.record(e);
  return result;
}

Result<StoreResult> IngestService::ingest(const StoreContext& ctx, const store::TempBlob& temp) {
  auto prepared = prepare(ctx, temp);
  if (!prepared) return std::unexpected(prepared.error());
  const auto guard = key_locks_.lock(prepared->key);
  // One object: fsync it (and its directory where the file system needs it;
  // a syncfs of a busy file system costs more than that).
  auto created = store_.commit(temp, prepared->key);
  if (!created) {
    refuse_prepared(ctx, *prepared, created.error());
    return std::unexpected(created.error());
  }
  auto result = finish(ctx, *prepared);
  if ((!result || result->other_encoding) && *created) (void)store_.remove(prepared->key);
  return result;
}

std::vector<Result<StoreResult>> IngestService::ingest_batch(const StoreContext& ctx,
                                                             const std::vector<store::TempBlob>& temps) {
  std::vector<Result<StoreResult>> results;
  results.reserve(temps.size());
  std::vector<Prepared> prepared;
  std::vector<std::size_t> slot;  // prepared[k] answers results[slot[k]]
  for (std::size_t i = 0; i < temps.size(); ++i) {
    auto p = prepare(ctx, temps[i]);  // consumes the temp on failure
    if (!p) {
      results.emplace_back(std::unexpected(p.error()));
      continue;
    }
    results.emplace_back(std::unexpected(make_error(Errc::internal, "not ingested")));
    prepared.push_back(std::move(*p));
    slot.push_back(i);
  }
  if (prepared.empty()) return results;

  std::vector<std::pair<store::TempBlob, std::string>> items;
  std::vector<std::string> keys;
  items.reserve(prepared.size());
  keys.reserve(prepared.size());
  for (const auto& p : prepared) {
    items.emplace_back(p.temp, p.key);
    keys.push_back(p.key);
  }
  const auto guard = key_locks_.lock(keys);
  auto created = store_.commit_batch(items);  // consumes every temp
  if (!created) {
    for (std::size_t k = 0; k < prepared.size(); ++k) {
      refuse_prepared(ctx, prepared[k], created.error());
      results[slot[k]] = std::unexpected(created.error());
    }
    return results;
  }

  // Every blob is durable: index them.
  for (std::size_t k = 0; k < prepared.size(); ++k) results[slot[k]] = finish(ctx, prepared[k]);

  // Remove a blob this batch created only if no object of the batch ended up
  // referencing it (two identical objects in one request share one blob: the
  // second is a duplicate of the first).
  std::unordered_set<std::string> kept, removed;
  auto unreferenced = [&](std::size_t k) { return !results[slot[k]] || results[slot[k]]->other_encoding; };
  for (std::size_t k = 0; k < prepared.size(); ++k)
    if (!unreferenced(k)) kept.insert(prepared[k].key);
  for (std::size_t k = 0; k < prepared.size(); ++k) {
    const auto& key = prepared[k].key;
    if ((*created)[k] && unreferenced(k) && !kept.contains(key) && removed.insert(key).second)
      (void)store_.remove(key);
  }
  return results;
}

Result<StoreResult> IngestService::ingest_file(const StoreContext& ctx, const std::filesystem::path& file) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec) return fail(Errc::io_error, "cannot read " + file.filename().string());
  if (size > limits_.max_object_bytes) return fail(Errc::too_large, "object exceeds the size limit");
  auto temp = store_.create_temp();
  if (!temp) return std::unexpected(temp.error());
  if (auto copied = store_.fill_temp(*temp, file); !copied) {
    store_.abort(*temp);
    return std::unexpected(copied.error());
  }
  return ingest(ctx, *temp);
}

Status IngestService::release(const Principal& principal, std::int64_t id) {
  auto entry = index_.get_quarantine(id);
  if (!entry) return std::unexpected(entry.error());
  if (!*entry) return fail(Errc::not_found, "no quarantined instance with id " + std::to_string(id));
  const auto& q = **entry;
  auto inserted = index_.insert(q.record, q.blob, /*force=*/true);
  if (!inserted) return std::unexpected(inserted.error());
  if (inserted->outcome == index::InsertOutcome::conflict)
    return fail(Errc::conflict, "a different instance with this SOP Instance UID is already stored");
  if (auto s = index_.remove_quarantine(id); !s) return s;
  audit_.record(quarantine_event(principal, q, "released"));
  return {};
}

Status IngestService::drop(const Principal& principal, std::int64_t id) {
  auto entry = index_.get_quarantine(id);
  if (!entry) return std::unexpected(entry.error());
  if (!*entry) return fail(Errc::not_found, "no quarantined instance with id " + std::to_string(id));
  const auto& q = **entry;
  const auto guard = key_locks_.lock(q.blob.key);  // no ingest of the same key in between
  if (auto s = index_.remove_quarantine(id); !s) return s;
  // The blob may still back an archived instance or another held copy.
  bool referenced = false;
  if (auto inst = index_.find_instance(q.record.sop_instance_uid); inst && *inst && (*inst)->blob_key == q.blob.key)
    referenced = true;
  if (auto rest = index_.list_quarantine(); rest) {
    for (const auto& other : *rest)
      if (other.blob.key == q.blob.key) referenced = true;
  } else {
    referenced = true;  // be conservative: never delete what may be in use
  }
  if (!referenced) (void)store_.remove(q.blob.key);
  audit_.record(quarantine_event(principal, q, "dropped"));
  return {};
}

// The plaintext of a stored blob in a new temp blob (the caller aborts it).
// Errc::corrupt when the blob cannot be read as what it claims to be.
Result<store::TempBlob> IngestService::plaintext_copy(const std::string& key) {
  auto source = store_.open(key);
  if (!source) return fail(Errc::corrupt, source.error().message);
  auto temp = store_.create_temp();
  if (!temp) return std::unexpected(temp.error());
  std::FILE* out = std::fopen(temp->path.c_str(), "wb");
  if (!out) {
    store_.abort(*temp);
    return fail(Errc::io_error, "open temp blob");
  }
  std::vector<std::byte> buf(256 * 1024);
  Status st;
  for (std::uint64_t off = 0; off < (*source)->size();) {
    auto n = (*source)->read_at(off, buf);
    if (!n || *n == 0) {
      st = fail(Errc::corrupt, n ? "stored object " + key + " is shorter than it claims" : n.error().message);
      break;
    }
    if (std::fwrite(buf.data(), 1, *n, out) != *n) {
      st = fail(Errc::io_error, "write temp blob");
      break;
    }
    off += *n;
  }
  if (std::fclose(out) != 0 && st) st = fail(Errc::io_error, "write temp blob");
  if (!st) {
    store_.abort(*temp);
    return std::unexpected(st.error());
  }
  return *temp;
}

Result<std::size_t> IngestService::recover() {
  store_.clean_temp();
  auto keys = store_.list_keys();
  if (!keys) return std::unexpected(keys.error());
  auto refs = index_.referenced_blob_keys();
  if (!refs) return std::unexpected(refs.error());
  std::unordered_set<std::string> referenced(refs->begin(), refs->end());
  std::size_t recovered = 0;
  for (const auto& key : *keys) {
    if (referenced.contains(key)) continue;
    // An unreferenced blob was fsynced before its index transaction; either
    // that transaction never committed (no success was sent) or a power cut
    // dropped the tail of the WAL (a success may have been sent). Re-index it
    // through the normal decision; remove it only if it cannot be indexed.
    // Read through open() (the plaintext of an encrypted blob; a blob that
    // fails authentication is not kept), into a temp blob for inspection.
    auto temp = plaintext_copy(key);
    if (!temp && temp.error().code != Errc::corrupt) continue;  // e.g. disk full: try again at the next start
    bool keep = false;
    if (temp) {
      if (auto inspected = dicom::inspect_file(temp->path, limits_); inspected) {
        // A crash inside BlobStore::commit can leave a name whose content is
        // not (yet) what the key says: only an exact match is re-indexed.
        auto digest = store::sha256_file(temp->path, inspected->dataset_offset);
        std::error_code ec;
        auto size = std::filesystem::file_size(temp->path, ec);
        if (digest && *digest == key && !ec) {
          auto inserted = index_.insert(inspected->record, index::BlobInfo{key, size, key});
          keep = inserted && (inserted->outcome == index::InsertOutcome::stored ||
                              inserted->outcome == index::InsertOutcome::quarantined);
        }
      }
      store_.abort(*temp);
    }
    if (!keep) (void)store_.remove(key);
    ++recovered;
  }
  if (recovered > 0) log::warn("recovery: {} unreferenced blob(s) re-indexed or removed", recovered);
  return recovered;
}

} // namespace tresor::services
