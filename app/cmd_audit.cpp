// `tresor audit verify | show`: the tamper-evident audit trail (var/audit/,
// docs/storage-layout.md). Neither opens the whole instance: a trail whose
// end was altered must still be verifiable. Reading the trail is itself
// audited (Audit Log Used), after the read, so that verify checks the trail
// as it was found.
#include <iostream>
#include <regex>

#include "audit/trail.h"
#include "commands.h"
#include "instance.h"

namespace tresor::app {
namespace {

// The keyring's audit purpose key ([encryption] enabled), else none (a trail written in the clear).
struct AuditKey {
  std::unique_ptr<crypto::Keyring> ring;
  const crypto::SecretKey* key = nullptr;
};
Result<AuditKey> audit_key(const config::Config& c) {
  AuditKey k;
  if (!c.encryption.enabled) return k;
  auto ring = crypto::Keyring::open({c.encryption.key_file, c.encryption.key_command}, c.var_dir);
  if (!ring) return std::unexpected(ring.error());
  k.ring = std::move(*ring);
  k.key = &k.ring->purpose_key(crypto::Purpose::audit);
  return k;
}

void record_use(const config::Config& config, const crypto::SecretKey* key, const char* action,
                audit::Outcome outcome, std::vector<std::pair<std::string, std::string>> details) {
  SystemClock clock;
  auto log = audit::open_trail_log(config.audit_file().parent_path(), clock, key, trail_options(config));
  if (!log) {
    print_error("this use of the audit trail could not be audited: " + log.error().message);
    return;
  }
  audit::Event e;
  e.type = audit::Type::audit_log_used;
  e.outcome = outcome;
  e.actor = "system";
  e.user = local_user();
  e.source = "local";
  e.reason = action;
  e.details = std::move(details);
  e.details.insert(e.details.begin(), {"action", action});
  (*log)->record(e);
}

Result<config::Config> load_config(const Global& global) { return config::load(global.var / "tresor.toml"); }

} // namespace

int cmd_audit_verify(const Global& global) {
  auto config = load_config(global);
  if (!config) {
    print_error(config.error().message);
    return kExitFailed;
  }
  auto key = audit_key(*config);
  if (!key) {
    print_error(key.error().message);
    return kExitFailed;
  }
  const auto dir = config->audit_file().parent_path();
  auto report = audit::verify_trail(dir, key->key);
  if (!report) {
    print_error("audit trail verification FAILED: " + report.error().message);
    record_use(*config, key->key, "audit verify", audit::Outcome::failure, {{"error", report.error().message}});
    return kExitFailed;
  }
  std::cout << "audit trail verified: " << report->records << " records";
  if (report->records > 0) std::cout << " (seq 1.." << report->last_seq << ", " << report->first_time << " to " << report->last_time << ")";
  std::cout << " in " << report->files << " file(s), " << report->checkpoints << " signed checkpoint(s)";
  if (report->checkpoints > 0) std::cout << ", the last at seq " << report->last_checkpoint_seq;
  std::cout << '\n';
  if (report->last_seq > report->last_checkpoint_seq)
    std::cout << "note: the " << report->last_seq - report->last_checkpoint_seq
              << " newest record(s) are chained but not yet covered by a checkpoint (the server is running, or "
                 "stopped without a clean shutdown)\n";
  if (!report->signing_key.empty()) std::cout << "signing key (Ed25519): " << report->signing_key << '\n';
  std::cout.flush();
  record_use(*config, key->key, "audit verify", audit::Outcome::success,
             {{"records", std::to_string(report->records)}, {"last_seq", std::to_string(report->last_seq)}});
  return kExitOk;
}

int cmd_audit_show(const Global& global, const AuditShowOptions& options) {
  static const std::regex time_re(R"(\d{4}-\d{2}-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d{1,3})?)?)?Z?)?)");
  if (!options.since.empty() && !std::regex_match(options.since, time_re)) {
    print_error("--since takes a UTC date or time: YYYY-MM-DD[Thh[:mm[:ss[.mmm]]]][Z]");
    return kExitUsage;
  }
  std::string since = options.since;
  if (!since.empty() && since.back() == 'Z') since.pop_back();
  auto config = load_config(global);
  if (!config) {
    print_error(config.error().message);
    return kExitFailed;
  }
  auto key = audit_key(*config);
  if (!key) {
    print_error(key.error().message);
    return kExitFailed;
  }
  auto reader = audit::TrailReader::open(config->audit_file().parent_path(), key->key);
  if (!reader) {
    print_error(reader.error().message);
    return kExitFailed;
  }
  std::uint64_t shown = 0;
  int status = kExitOk;
  for (;;) {
    auto r = (*reader)->next();
    if (!r) {
      print_error(r.error().message + " (run `tresor audit verify`)");
      status = kExitFailed;
      break;
    }
    if (!*r) break;
    const audit::Record& rec = **r;
    if (!since.empty() && rec.time < since) continue;
    ++shown;
    if (options.json) {
      std::cout << audit::to_json_line(rec) << '\n';
      continue;
    }
    const audit::Event& e = rec.event;
    std::cout << rec.seq << "  " << rec.time << "  " << audit::to_string(e.type) << "  " << audit::to_string(e.outcome)
              << "  " << (e.actor.empty() ? "-" : e.actor);
    if (!e.user.empty()) std::cout << " user=" << e.user;
    if (!e.source.empty()) std::cout << " from=" << e.source;
    if (!e.patient_id.empty()) std::cout << " patient=" << e.patient_id;
    if (!e.study_uid.empty()) std::cout << " study=" << e.study_uid;
    if (!e.series_uid.empty()) std::cout << " series=" << e.series_uid;
    if (!e.sop_uid.empty()) std::cout << " sop=" << e.sop_uid;
    if (!e.reason.empty()) std::cout << "  \"" << e.reason << '"';
    for (const auto& [k, v] : e.details) std::cout << ' ' << k << '=' << v;
    std::cout << '\n';
  }
  std::cout.flush();
  record_use(*config, key->key, "audit show", status == kExitOk ? audit::Outcome::success : audit::Outcome::failure,
             {{"records_shown", std::to_string(shown)}, {"since", options.since}});
  return status;
}

} // namespace tresor::app
