#include "http/routes.h"

#include "http/dicomweb_common.h"
#include "http/static_files.h"

namespace tresor::http {

void add_dicomweb_routes(Router& router, const Deps& deps) {
  auto shared = std::make_shared<const Deps>(deps);
  add_qido_routes(router, shared);
  add_wado_routes(router, shared);
  add_stow_routes(router, shared);
}

void add_patient_routes(Router& router, const Deps& deps);  // api_patients.cpp
void add_deletion_routes(Router& router, const Deps& deps);  // api_deletion.cpp
void add_audit_report_routes(Router& router, const Deps& deps);  // api_audit_report.cpp

void add_all_routes(Router& router, const Deps& deps) {
  add_dicomweb_routes(router, deps);
  add_api_routes(router, deps);
  add_patient_routes(router, deps);
  add_deletion_routes(router, deps);
  add_audit_report_routes(router, deps);
  add_static_routes(router, deps.web_root);
}

} // namespace tresor::http
