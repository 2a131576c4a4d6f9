// `tresor routes [--json]`: the HTTP API route table, from the same Router the
// server uses (docs/http-api.md is generated from it; the integration tests
// walk it to check that every authenticated route refuses anonymous callers).
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "http/routes.h"
#include "instance.h"
#include "security/http_auth.h"

namespace tresor::app {

int cmd_routes(const Global& global, bool as_json) {
  auto opened = Instance::open(global.var);
  if (!opened) {
    print_error(opened.error().message);
    return kExitFailed;
  }
  Instance& inst = **opened;
  security::HttpAuthenticator auth(inst.config(), inst.accounts(), nullptr, inst.clock(), inst.audit());
  http::Router router;
  http::Deps deps{inst.config(), inst.ingest(), inst.qido(),  inst.retrieve(), inst.deletion(), inst.index(),
                  inst.accounts(), auth,        inst.audit(), inst.clock(),    inst.config().store_dir() / "tmp",
                  {},            {},            inst.config().http.web_root, nullptr};
  http::add_all_routes(router, deps);
  if (!as_json) {
    std::cout << router.markdown();
    return kExitOk;
  }
  nlohmann::json out = nlohmann::json::array();
  for (const http::Route& r : router.routes())
    out.push_back({{"method", http::to_string(r.method)},
                   {"pattern", r.pattern},
                   {"auth", http::to_string(r.auth)},
                   {"permission", r.permission ? to_string(*r.permission) : ""},
                   {"summary", r.summary}});
  std::cout << out.dump(2) << '\n';
  return kExitOk;
}

} // namespace tresor::app
