#include "audit_export.h"

#include <unistd.h>

#include "audit/dicom_xml.h"
#include "audit/trail.h"
#include "core/log.h"

namespace tresor::app {
namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "-";
  return buf;
}

} // namespace

Result<std::unique_ptr<audit::SyslogExporter>> start_audit_export(const config::Config& config,
                                                                 const crypto::SecretKey* audit_key) {
  const config::AuditExport& ax = config.audit_export;
  if (!ax.enabled) return std::unique_ptr<audit::SyslogExporter>();
  audit::ExportSettings s;
  s.host = ax.host;
  s.port = ax.port;
  s.server_name = ax.server_name;
  s.ca_file = ax.ca_file;
  s.cert_file = ax.cert_file;
  s.key_file = ax.key_file;
  s.cursor_file = config.audit_export_cursor_file();
  s.header.hostname = ax.hostname.empty() ? host_name() : ax.hostname;
  s.header.app_name = "tresor";
  audit::XmlSource source;
  source.audit_source_id = config.dimse.ae_title;
  source.archive_ae = config.dimse.ae_title;
  source.archive_host = s.header.hostname;
  const std::filesystem::path dir = config.audit_file().parent_path();
  auto open_reader = [dir, audit_key]() { return audit::TrailReader::open(dir, audit_key); };
  auto render = [source](const audit::Record& r) { return audit::to_dicom_xml(r, source); };
  auto exporter = audit::SyslogExporter::start(std::move(s), std::move(open_reader), std::move(render));
  if (!exporter) return std::unexpected(exporter.error());
  log::info("audit export: on, to {}:{} (cursor {})", ax.host, ax.port, config.audit_export_cursor_file().string());
  return exporter;
}

} // namespace tresor::app
