// `tresor delete`, `tresor hold add|remove|list`, `tresor retention run`:
// the local forms of DELETE /api/studies/{uid} (and series, instances,
// patients), POST/DELETE /api/studies/{uid}/hold. services::DeletionService
// checks, deletes and audits (actor "system" with the local OS user).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "commands.h"
#include "core/log.h"
#include "instance.h"
#include "retention_daily.h"

namespace tresor::app {
namespace {

Principal admin_principal(std::string name) {
  Principal principal = system_principal(std::move(name));
  principal.operations.insert(Operation::admin);  // whoever can open var/ administers it
  principal.source = "local";
  return principal;
}

std::string describe(const index::StudySummary& s) {
  std::string out = s.study_uid + "  patient " + s.patient_id + " (" + s.patient_name + ")  date " +
                    (s.study_date.empty() ? "-" : s.study_date) + "  " + std::to_string(s.instances) +
                    " instance(s)";
  if (s.quarantined > 0) out += " + " + std::to_string(s.quarantined) + " held in quarantine";
  out += "  " + std::to_string(s.bytes) + " bytes";
  return out;
}

} // namespace

int cmd_delete(const Global& global, const DeleteOptions& o) {
  index::DeleteTarget target;
  int given = 0;
  for (auto [uid, level] : {std::pair{&o.patient, index::DeleteLevel::patient},
                            std::pair{&o.study, index::DeleteLevel::study},
                            std::pair{&o.series, index::DeleteLevel::series},
                            std::pair{&o.instance, index::DeleteLevel::instance}}) {
    if (uid->empty()) continue;
    ++given;
    target.level = level;
    target.uid = *uid;
  }
  if (given != 1) {
    print_error("give exactly one of --patient, --study, --series, --instance");
    return kExitUsage;
  }
  if (!o.issuer.empty() && target.level != index::DeleteLevel::patient) {
    print_error("--issuer goes with --patient");
    return kExitUsage;
  }
  target.issuer = o.issuer;
  if (o.reason.empty()) {
    print_error("--reason is required (it is written to the audit trail)");
    return kExitUsage;
  }
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  const Principal principal = admin_principal("system");
  services::DeleteRequest request{target, o.reason, std::nullopt};
  if (!o.yes) {
    if (::isatty(STDIN_FILENO) == 0) {
      print_error("deletion cannot be undone: confirm on a terminal, or pass --yes");
      return kExitUsage;
    }
    auto plan = inst.deletion().preview(principal, target);
    if (!plan) {
      print_error("delete: " + plan.error().message);
      return kExitFailed;
    }
    std::cout << "This deletes, permanently:\n";
    for (const auto& s : plan->studies)
      std::cout << "  " << (s.whole_study ? "study " : "part of study ") << describe(s) << '\n';
    const auto& first = plan->studies.front();
    const bool by_id = first.patient_name.empty();
    std::cout << "Type the patient's " << (by_id ? "ID" : "name") << " to confirm: " << std::flush;
    std::string typed;
    if (!std::getline(std::cin, typed)) typed.clear();
    request.confirm_patient_name = typed;  // the service compares it with every study's patient
  }
  auto removed = inst.deletion().remove(principal, request);
  if (!removed) {
    print_error("delete: " + removed.error().message);
    return kExitFailed;
  }
  for (const auto& s : removed->studies) std::cout << "deleted " << describe(s) << '\n';
  if (removed->blobs_pending > 0) {
    print_error(std::to_string(removed->blobs_pending) +
                " stored object(s) could not be erased now; they are queued and `tresor serve` erases them at start");
    return kExitFailed;
  }
  return kExitOk;
}

int cmd_hold(const Global& global, const std::string& action, const std::string& study, const std::string& reason) {
  if (action != "list" && study.empty()) {
    print_error("--study UID is required");
    return kExitUsage;
  }
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  const Principal principal = admin_principal("system");
  if (action == "list") {
    auto held = inst.deletion().holds(principal);
    if (!held) {
      print_error("hold list: " + held.error().message);
      return kExitFailed;
    }
    for (const auto& s : *held) std::cout << describe(s) << '\n';
    return kExitOk;
  }
  auto changed = inst.deletion().set_hold(principal, study, action == "add", reason);
  if (!changed) {
    print_error("hold " + action + ": " + changed.error().message);
    return kExitFailed;
  }
  std::cout << (action == "add" ? (*changed ? "held\n" : "already held\n")
                                : (*changed ? "hold removed\n" : "was not held\n"));
  return kExitOk;
}

int cmd_retention_run(const Global& global, bool dry_run) {
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  const std::vector<services::RetentionPolicy> policies = retention_policies(inst);
  if (policies.empty()) {
    print_error("no retention policies: add some to [retention] policies in tresor.toml");
    return kExitFailed;
  }
  const Principal principal = admin_principal("retention");
  services::RetentionService retention(inst.index(), inst.deletion());
  auto items = retention.run(principal, policies, std::chrono::system_clock::now(), dry_run);
  if (!items) {
    print_error("retention: " + items.error().message);
    return kExitFailed;
  }
  int failed = 0;
  for (const auto& item : *items) {
    std::cout << (dry_run ? "would delete " : item.deleted ? "deleted " : "NOT deleted ") << "[" << item.policy
              << "] " << describe(item.study);
    if (!item.error.empty()) {
      std::cout << "  (" << item.error << ")";
      ++failed;
    }
    std::cout << '\n';
  }
  std::cout << items->size() << " stud" << (items->size() == 1 ? "y" : "ies")
            << (dry_run ? " would be deleted (dry run)\n" : " matched\n");
  return failed > 0 ? kExitFailed : kExitOk;
}

std::vector<services::RetentionPolicy> retention_policies(const Instance& instance) {
  std::vector<services::RetentionPolicy> policies;
  for (const auto& text : instance.config().retention.policies)
    if (auto rule = config::parse_retention_rule(text))  // validated at load
      policies.push_back({rule->name, rule->years, rule->modality, rule->sop_class});
  return policies;
}

DailyRetention::DailyRetention(Instance& instance) : instance_(instance), thread_([this] { loop(); }) {}

DailyRetention::~DailyRetention() { stop(); }

void DailyRetention::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DailyRetention::loop() {
  auto wait = std::chrono::minutes(10);
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, wait, [this] { return stopping_; })) return;
    }
    wait = std::chrono::hours(24);
    const Principal principal = admin_principal("retention");
    services::RetentionService retention(instance_.index(), instance_.deletion());
    auto items = retention.run(principal, retention_policies(instance_), std::chrono::system_clock::now(), false);
    if (!items) {
      log::error("daily retention run failed: {}", items.error().message);
      continue;
    }
    std::size_t deleted = 0, failed = 0;
    for (const auto& item : *items) (item.deleted ? deleted : failed) += 1;
    log::info("daily retention run: {} stud(ies) deleted, {} not deleted", deleted, failed);
  }
}

} // namespace tresor::app
