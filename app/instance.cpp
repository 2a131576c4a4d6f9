#include "instance.h"

#include <arpa/inet.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "core/log.h"

namespace tresor::app {
namespace fs = std::filesystem;

Result<std::unique_ptr<Instance>> Instance::open(const fs::path& var_dir) {
  auto config = config::load(var_dir / "tresor.toml");
  if (!config) return std::unexpected(config.error());
  return open(std::move(*config));
}

Result<std::unique_ptr<Instance>> Instance::open(config::Config config) {
  log::init(config.log_level);
  std::unique_ptr<Instance> self(new Instance(std::move(config)));
  const config::Config& c = self->config_;

  std::error_code ec;
  fs::create_directories(c.var_dir, ec);
  if (ec) return fail(Errc::io_error, "cannot create " + c.var_dir.string() + ": " + ec.message());

  // The keys first: without the right KEK nothing else opens (the error is
  // one operator-facing line naming the key file or key_command).
  if (c.encryption.enabled) {
    auto ring = crypto::Keyring::open({c.encryption.key_file, c.encryption.key_command}, c.var_dir);
    if (!ring) return std::unexpected(ring.error());
    self->keyring_ = std::move(*ring);
  }

  // The index encrypted under its purpose key (index/sqlite/crypt_vfs.h); a
  // plaintext index.db from before is converted in place.
  const std::chrono::milliseconds index_busy(c.index_busy_timeout_ms);
  auto index = self->keyring_
                   ? index::open_sqlite(c.index_file(), self->keyring_->purpose_key(crypto::Purpose::index), index_busy)
                   : index::open_sqlite(c.index_file(), index_busy);
  if (!index) return fail(index.error().code, c.index_file().string() + ": " + index.error().message);
  self->index_ = std::move(*index);

  auto store = store::open_fs_store(c.store_dir(), store::real_file_system(), self->keyring_.get());
  if (!store) return fail(store.error().code, c.store_dir().string() + ": " + store.error().message);
  self->store_ = std::move(*store);

  fs::create_directories(c.audit_file().parent_path(), ec);
  ::chmod(c.audit_file().parent_path().c_str(), 0700);
  // The trail's records are encrypted under the audit purpose key (audit/trail.h).
  self->audit_key_ = self->keyring_ ? &self->keyring_->purpose_key(crypto::Purpose::audit) : nullptr;
  auto audit = audit::open_trail_log(c.audit_file().parent_path(), self->clock_, self->audit_key_, trail_options(c));
  if (!audit) return fail(audit.error().code, c.audit_file().string() + ": " + audit.error().message);
  self->audit_ = std::move(*audit);

  dicom::Limits limits{c.dimse.max_object_bytes, c.dimse.max_sequence_depth};
  self->ingest_ = std::make_unique<services::IngestService>(*self->store_, *self->index_, *self->audit_, limits);
  self->query_ = std::make_unique<services::QueryService>(*self->index_, *self->audit_, c.dimse.find_cap);
  self->qido_ = std::make_unique<services::QueryService>(*self->index_, *self->audit_, c.http.qido_cap);
  self->retrieve_ =
      std::make_unique<services::RetrieveService>(*self->index_, *self->store_, *self->audit_, c.dimse.retrieve_cap);
  self->access_ = std::make_unique<audit::AccessAggregator>(*self->audit_, self->clock_,
                                                            std::chrono::seconds(c.audit.access_window_s));
  self->wado_ = std::make_unique<services::RetrieveService>(*self->index_, *self->store_, *self->audit_,
                                                            c.dimse.retrieve_cap, self->access_.get());
  self->commitment_ = std::make_unique<services::CommitmentService>(*self->index_, *self->audit_);
  self->deletion_ = std::make_unique<services::DeletionService>(*self->store_, *self->index_, *self->audit_,
                                                                self->ingest_->key_locks());
  return self;
}

void Instance::record_admin(std::string_view action, std::string_view subject, audit::Outcome outcome,
                            std::vector<std::pair<std::string, std::string>> details) {
  audit::Event event;
  event.type = audit::Type::admin;
  event.outcome = outcome;
  event.actor = "system";
  event.user = local_user();
  event.source = "local";
  event.reason = action;
  if (!subject.empty()) event.reason.append(" ").append(subject);
  event.details = std::move(details);
  event.details.insert(event.details.begin(), {"action", std::string(action)});
  audit_->record(event);
}

audit::TrailOptions trail_options(const config::Config& c) {
  audit::TrailOptions trail;
  trail.rotate_bytes = c.audit.rotate_bytes;
  trail.checkpoint_records = static_cast<std::uint64_t>(c.audit.checkpoint_records);
  trail.checkpoint_interval = std::chrono::seconds(c.audit.checkpoint_seconds);
  return trail;
}

void Instance::record_application_activity(std::string_view what) {
  if (access_) access_->flush_all();  // the viewer sessions so far come before a stop
  audit::Event event;
  event.type = audit::Type::application_activity;
  event.outcome = audit::Outcome::success;
  event.actor = config_.dimse.ae_title;
  event.user = local_user();
  event.source = "local";
  event.reason = what;
  event.details = {{"action", std::string(what)}, {"pid", std::to_string(::getpid())}};
  audit_->record(event);
}

void print_error(std::string_view message) {
  std::cerr << "tresor: " << message << '\n';
  std::cerr.flush();
}

std::string local_user() {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd pw{};
  passwd* result = nullptr;
  if (::getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &result) == 0 && result != nullptr &&
      result->pw_name != nullptr)
    return result->pw_name;
  return "uid:" + std::to_string(::geteuid());
}

Principal system_principal(std::string name) {
  Principal p;
  p.kind = Principal::Kind::system;
  p.name = std::move(name);
  p.user = local_user();
  p.operations = {Operation::echo, Operation::store, Operation::find,
                  Operation::get,  Operation::move,  Operation::commit};
  p.unlimited_find = true;
  p.unlimited_retrieve = true;
  return p;
}

void print_findings(std::ostream& out, const std::vector<config::Finding>& findings) {
  for (const config::Finding& f : findings)
    out << (f.warning ? "WARNING: " : "FINDING: ") << f.what << "\n  fix: " << f.fix << '\n';
  out.flush();
}

} // namespace tresor::app
