// `tresor serve`'s ATNA exporter ([audit_export], audit/syslog_export.h):
// built from the configuration, reading the instance's own trail.
#pragma once
#include <memory>

#include "audit/syslog_export.h"
#include "config/config.h"
#include "core/error.h"
#include "crypto/keyring.h"

namespace tresor::app {

// Starts the exporter thread when [audit_export] enabled is true; nullptr
// when it is off. Fails (serve refuses to start) on unusable settings.
// `audit_key` is the trail's key (Instance::audit_key()); it must outlive
// the exporter.
Result<std::unique_ptr<audit::SyslogExporter>> start_audit_export(const config::Config& config,
                                                                 const crypto::SecretKey* audit_key);

} // namespace tresor::app
