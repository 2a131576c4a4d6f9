// `tresor patient update PATIENT_ID [--issuer I] [--name N] [--birth-date D] [--sex S]`:
// the local form of PUT /api/patients/{id}. services::PatientService checks
// the values and audits the change (actor "system" with the local OS user,
// old and new values in the audit trail only); nothing of the patient is printed.
#include <iostream>

#include "commands.h"
#include "instance.h"

namespace tresor::app {

int cmd_patient_update(const Global& global, const PatientUpdateOptions& o) {
  if (!o.name && !o.birth_date && !o.sex) {
    print_error("nothing to change: give --name, --birth-date or --sex");
    return kExitUsage;
  }
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  Principal principal = system_principal("system");
  principal.operations.insert(Operation::admin);  // whoever can open var/ administers it
  principal.source = "local";
  services::PatientUpdate u;
  u.patient_id = o.patient_id;
  u.issuer = o.issuer;
  u.change.name = o.name;
  u.change.birth_date = o.birth_date;
  u.change.sex = o.sex;
  services::PatientService patients(inst.index(), inst.audit());
  if (auto s = patients.update(principal, u); !s) {
    print_error("patient update: " + s.error().message);
    return kExitFailed;
  }
  std::cout << "updated\n";
  return kExitOk;
}

} // namespace tresor::app
