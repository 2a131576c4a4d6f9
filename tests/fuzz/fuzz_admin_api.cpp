// Fuzz target: the admin REST API's JSON request bodies and path parameters,
// through the real route table (http::add_api_routes) on a real SQLite index,
// as an authenticated admin: users (roles, enabled, scope), peers (AE title,
// hosts, port, operations, certificate pin, flags, scope), API tokens (name,
// days), study labels, and the DELETE/GET forms with fuzzed path segments.
// Input: byte 0 picks the route, then the path parameter up to the first
// '\n', then the body. Routes that hash a password with Argon2id (log-in,
// user creation, password change) are left out: one verification costs
// ~0.2 s; their JSON readers (read_roles, read_scope) are shared with the
// routes fuzzed here.
// Contract checked: a handler never throws, answers a status in 200..599,
// and a JSON answer parses.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "audit/audit.h"
#include "config/config.h"
#include "core/clock.h"
#include "fuzz_common.h"
#include "http/routes.h"
#include "index/index.h"
#include "security/http_auth.h"
#include "services/services.h"
#include "store/blob_store.h"

namespace {

using namespace tresor;

class NullSink final : public audit::AuditSink {
public:
  void record(const audit::Event&) noexcept override {}
};

struct World {
  config::Config config;
  std::unique_ptr<index::SqliteIndex> index;
  std::unique_ptr<store::BlobStore> store;
  NullSink audit;
  SystemClock clock;
  std::unique_ptr<services::IngestService> ingest;
  std::unique_ptr<services::QueryService> query;
  std::unique_ptr<services::RetrieveService> retrieve;
  std::unique_ptr<services::DeletionService> deletion;
  std::unique_ptr<security::HttpAuthenticator> auth;
  std::unique_ptr<http::Deps> deps;
  http::Router router;

  World() {
    const auto dir = fuzz::scratch_dir();
    config.var_dir = dir;
    auto idx = index::open_sqlite(dir / "index.db");
    auto st = store::open_fs_store(dir / "store");
    if (!idx || !st) {
      std::fprintf(stderr, "cannot open the index or the store\n");
      std::abort();
    }
    index = std::move(*idx);
    store = std::move(*st);
    ingest = std::make_unique<services::IngestService>(*store, *index, audit, dicom::Limits{});
    query = std::make_unique<services::QueryService>(*index, audit, 100);
    retrieve = std::make_unique<services::RetrieveService>(*index, *store, audit);
    deletion = std::make_unique<services::DeletionService>(*store, *index, audit, ingest->key_locks());
    auth = std::make_unique<security::HttpAuthenticator>(config, *index, nullptr, clock, audit);
    deps = std::make_unique<http::Deps>(http::Deps{config, *ingest, *query, *retrieve, *deletion, *index, *index, *auth, audit,
                                                   clock, dir / "tmp", {}, {}, {}, nullptr});
    http::add_api_routes(router, *deps);
    // A user for the per-user routes (no password: it is never logged in).
    User alice;
    alice.username = "alice";
    alice.roles = {Role::clinician};
    alice.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";
    (void)index->put_user(alice);
  }
};

World& world() {
  static World w;
  return w;
}

struct Target {
  http::Method method;
  const char* prefix;  // the path up to the fuzzed segment
  const char* suffix;  // after it
};

constexpr Target kTargets[] = {
    {http::Method::put, "/api/users/", ""},                // roles, enabled, scope
    {http::Method::post, "/api/peers", ""},               // the whole peer object
    {http::Method::del, "/api/peers/", ""},
    {http::Method::post, "/api/tokens", ""},              // name, days
    {http::Method::del, "/api/tokens/", ""},
    {http::Method::put, "/api/studies/", "/labels"},       // labels
    {http::Method::get, "/api/studies/", "/labels"},
    {http::Method::del, "/api/users/", ""},
    {http::Method::post, "/api/quarantine/", "/release"},
    {http::Method::del, "/api/quarantine/", ""},
    {http::Method::get, "/api/audit", ""},
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  World& w = world();
  const Target& t = kTargets[data[0] % (sizeof kTargets / sizeof kTargets[0])];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto nl = rest.find('\n');
  std::string segment(rest.substr(0, nl == std::string_view::npos ? 0 : nl));
  std::string body(nl == std::string_view::npos ? rest : rest.substr(nl + 1));
  // Keep the seeded user: the DELETE form targets a copy of the name.
  if (t.method == http::Method::del && segment == "alice") segment = "alice2";

  std::string path = std::string(t.prefix) + segment + t.suffix;
  auto match = w.router.match(t.method, path);
  if (!match.route) return 0;  // e.g. an empty segment: the server answers 404/405 before any handler

  http::Request req;
  req.method = t.method;
  req.path = path;
  req.params = match.params;
  req.source_ip = "127.0.0.1";
  req.origin = "https://127.0.0.1:8443";
  req.body = std::move(body);
  req.body_size = req.body.size();
  req.headers.emplace_back("Content-Type", "application/json");
  if (t.method == http::Method::get && std::string_view(t.prefix) == "/api/audit") {
    // The body bytes become the query parameters (name=value&...).
    req.query = http::parse_query(req.body).value_or(http::Fields{});
    req.body.clear();
  }
  Principal admin;
  admin.kind = Principal::Kind::user;
  admin.name = "fuzzadmin";
  admin.source = req.source_ip;
  admin.operations = operations_for({Role::admin, Role::auditor});
  req.auth = security::Authenticated{admin, security::AuthMethod::basic, {}, {}, std::nullopt};

  http::Response res;
  try {
    res = match.route->handler(req);
  } catch (...) {
    TRESOR_FUZZ_CHECK(!"a handler threw");
  }
  TRESOR_FUZZ_CHECK(res.status >= 200 && res.status <= 599);
  bool is_json = false;
  for (const auto& [k, v] : res.headers)
    if (k == "Content-Type" && v.find("json") != std::string::npos) is_json = true;
  if (is_json && !res.body.empty()) TRESOR_FUZZ_CHECK(!nlohmann::json::parse(res.body, nullptr, false).is_discarded());
  return 0;
}
