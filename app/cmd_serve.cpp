// `tresor serve`: exposure check, crash recovery, then DIMSE until SIGINT/SIGTERM.
#include <algorithm>
#include <pthread.h>
#include <signal.h>

#include <cstring>
#include <iostream>

#include "commands.h"
#include "audit_export.h"
#include "instance.h"
#include "retention_daily.h"
#include "core/log.h"
#include "dicom/inspect.h"
#include "http/fetch.h"
#include "http/routes.h"
#include "http/server.h"
#include "net/dimse_server.h"
#include "security/http_auth.h"
#include "security/jwks_refresh.h"
#include "security/jwt.h"
#include "security/login_throttle.h"
#include "security/policy.h"
#include "security/rate_limit.h"

namespace tresor::app {

int cmd_serve(const Global& global) {
  // Block the stop signals before any thread exists: every thread inherits
  // the mask, so only the sigwait() below ever sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (int rc = pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); rc != 0) {
    print_error(std::string("cannot block signals: ") + std::strerror(rc));
    return kExitFailed;
  }

  auto opened = Instance::open(global.var);
  if (!opened) {
    print_error(opened.error().message);
    return kExitFailed;
  }
  Instance& inst = **opened;
  const config::Config& config = inst.config();

  // Process-wide library state, once, while this is the only thread.
  dicom::init_globals();
  net::init_network_globals(config);

  if (auto findings = all_findings(inst); !findings.empty()) {
    print_findings(std::cerr, findings);
    // Warnings are risks an administrator enabled on purpose: reported, not fatal.
    const auto errors = std::ranges::count_if(findings, [](const config::Finding& f) { return !f.warning; });
    if (errors > 0) {
      print_error("refusing to start: " + std::to_string(errors) + " finding(s); fix them and run again");
      return kExitFailed;
    }
  }

  // Interrupted deletions first: the ingest recovery must find their blobs
  // gone (it would otherwise re-index an unreferenced blob).
  if (auto finished = inst.deletion().recover(); !finished) {
    print_error("crash recovery (deletions) failed: " + finished.error().message);
    return kExitFailed;
  }
  if (auto recovered = inst.ingest().recover(); !recovered) {
    print_error("crash recovery failed: " + recovered.error().message);
    return kExitFailed;
  }

  // OIDC keys: a JWKS file loaded once, or a JWKS URL fetched now (no keys, no
  // start) and refreshed in the background until shutdown.
  std::unique_ptr<security::JwtVerifier> jwt;
  security::RefreshingJwtVerifier* jwks_refresher = nullptr;
  if (!config.oidc.issuer.empty() && !config.oidc.jwks_url.empty()) {
    security::RefreshingJwtVerifier::Options options;
    options.refresh_interval = std::chrono::seconds(config.oidc.jwks_refresh_s);
    options.source = "JWKS URL (oidc.jwks_url)";
    auto fetch = [url = config.oidc.jwks_url, ca = config.oidc.jwks_ca_file] {
      return http::https_get(url, ca, std::chrono::seconds(10), std::size_t{1} << 20);
    };
    auto verifier = security::RefreshingJwtVerifier::start(std::move(fetch), config.oidc.issuer, config.oidc.audience,
                                                           config.oidc.algorithms, std::move(options));
    if (!verifier) {
      print_error("cannot load the OIDC keys: " + verifier.error().message);
      return kExitFailed;
    }
    jwks_refresher = verifier->get();
    jwt = std::move(*verifier);
  } else if (!config.oidc.issuer.empty()) {
    auto verifier = security::JwtVerifier::from_jwks_file(config.oidc.jwks_file, config.oidc.issuer,
                                                          config.oidc.audience, config.oidc.algorithms);
    if (!verifier) {
      print_error("cannot load the OIDC keys: " + verifier.error().message);
      return kExitFailed;
    }
    jwt = std::move(*verifier);
  }
  security::FailureTracker failures(config.brute_force.max_failures,
                                    std::chrono::seconds(config.brute_force.window_s),
                                    std::chrono::seconds(config.brute_force.block_s));
  // One password-guessing throttle for HTTP logins and DIMSE user identity:
  // an account throttled on one protocol is throttled on both.
  security::LoginThrottle login_throttle(config.login);
  security::AssociationPolicy policy(config, inst.accounts(), jwt.get(), failures, inst.clock(), &login_throttle);
  net::DimseDeps deps{inst.ingest(),     inst.query(), inst.retrieve(), inst.commitment(),
                      policy,            inst.accounts(), inst.audit()};
  std::unique_ptr<net::DimseServer> server = net::make_dimse_server(config, deps);

  if (config.dimse.plaintext_enabled)
    log::warn("the plaintext DIMSE listener is enabled on {}:{}: traffic there is not encrypted; only peers "
              "registered with --plaintext, from their pinned hosts, are served",
              config.dimse.plaintext_bind, config.dimse.plaintext_port);
  if (auto started = server->start(); !started) {
    print_error("cannot start the DIMSE server: " + started.error().message);
    return kExitFailed;
  }

  // HTTPS: DICOMweb, REST API. The same services, the same audit.
  // Device cookies (login_throttle.h): the key is created at init, or here
  // for an instance that predates them.
  auto devices = security::DeviceCookies::load_or_create(config.device_key_file());
  if (!devices) {
    server->stop();
    print_error("device-cookie key: " + devices.error().message);
    return kExitFailed;
  }
  security::HttpAuthenticator http_auth(config, inst.accounts(), jwt.get(), inst.clock(), inst.audit(), login_throttle,
                                        &*devices);
  http::Router router;
  http::Deps http_deps{config,         inst.ingest(),   inst.qido(),     inst.wado(),     inst.deletion(), inst.index(),
                       inst.accounts(), http_auth,      inst.audit(),    inst.clock(),    config.store_dir() / "tmp",
                       [&inst] { return all_findings(inst); },
                       [&failures, &inst] { return failures.blocked(inst.clock().now()); },
                       config.http.web_root,
                       inst.audit_key()};
  http::add_all_routes(router, http_deps);
  std::unique_ptr<http::Server> https;
  if (config.http.port != 0) {
    auto started_http = http::Server::start(config, router, http_auth, config.store_dir() / "tmp");
    if (!started_http) {
      server->stop();
      print_error("cannot start the HTTPS server: " + started_http.error().message);
      return kExitFailed;
    }
    https = std::move(*started_http);
  }

  inst.record_application_activity("Application Start");
  // ATNA export ([audit_export]): a background thread following the trail.
  auto exporter = start_audit_export(config, inst.audit_key());
  if (!exporter) {
    if (https) https->stop();
    server->stop();
    print_error("cannot start the audit export: " + exporter.error().message);
    return kExitFailed;
  }
  if (config.dimse.tls_port != 0)
    std::cout << "listening dimse-tls " << config.dimse.tls_bind << ':' << config.dimse.tls_port << '\n';
  if (config.dimse.plaintext_enabled)
    std::cout << "listening dimse-plaintext " << config.dimse.plaintext_bind << ':' << config.dimse.plaintext_port
              << '\n';
  if (https) std::cout << "listening https " << config.http.bind << ':' << https->port() << '\n';
  std::cout.flush();
  log::info("serving as AE title {}", config.dimse.ae_title);
  // [retention] daily (off by default): the policies once a day, as `tresor retention run`.
  std::unique_ptr<DailyRetention> daily_retention;
  if (config.retention.daily) daily_retention = std::make_unique<DailyRetention>(inst);

  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  log::info("received {}, stopping", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  if (daily_retention) daily_retention->stop();
  if (https) https->stop();
  server->stop();
  if (jwks_refresher) jwks_refresher->stop();
  inst.record_application_activity("Application Stop");
  if (*exporter) (*exporter)->stop();  // Application Stop goes out at the next start
  log::info("stopped");
  return kExitOk;
}

} // namespace tresor::app
