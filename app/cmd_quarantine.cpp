// `tresor quarantine list | release ID | drop ID`. The ingest service audits
// the instance released or dropped (with its patient); the admin event here
// records who ran the command.
#include <iostream>

#include "commands.h"
#include "instance.h"

namespace tresor::app {

int cmd_quarantine_list(const Global& global) {
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  auto entries = (*instance)->index().list_quarantine();
  if (!entries) {
    print_error(entries.error().message);
    return kExitFailed;
  }
  for (const index::QuarantineEntry& e : *entries)
    std::cout << e.id << "  " << e.received_at << "  " << e.record.sop_instance_uid << "  " << e.reason << '\n';
  return kExitOk;
}

namespace {

int act(const Global& global, std::int64_t id, bool release) {
  if (id < 1) {
    print_error("ID must be a positive quarantine id (see `tresor quarantine list`)");
    return kExitUsage;
  }
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  Principal principal = system_principal("system");
  Status s = release ? inst.ingest().release(principal, id) : inst.ingest().drop(principal, id);
  inst.record_admin(release ? "quarantine release" : "quarantine drop", std::to_string(id),
                    s ? audit::Outcome::success : audit::Outcome::failure);
  if (!s) {
    print_error((release ? "release " : "drop ") + std::to_string(id) + ": " + s.error().message);
    return kExitFailed;
  }
  std::cout << (release ? "released " : "dropped ") << id << '\n';
  return kExitOk;
}

} // namespace

int cmd_quarantine_release(const Global& global, std::int64_t id) { return act(global, id, true); }
int cmd_quarantine_drop(const Global& global, std::int64_t id) { return act(global, id, false); }

} // namespace tresor::app
