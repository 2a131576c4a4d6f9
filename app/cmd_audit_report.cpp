// `tresor audit report --patient ID`: "who saw what" (audit/report.h), as
// text, JSON or a printable HTML page for a data-protection officer. The
// report is itself audited (Audit Log Used) by build_report().
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "audit/report.h"
#include "audit/trail.h"
#include "commands.h"
#include "instance.h"

namespace tresor::app {

int cmd_audit_report(const Global& global, const AuditReportOptions& options) {
  if (options.format != "text" && options.format != "json" && options.format != "html") {
    print_error("--format takes html, json or text");
    return kExitUsage;
  }
  if (!audit::valid_time_bound(options.since) || !audit::valid_time_bound(options.until)) {
    print_error("--since and --until take a UTC date or time: YYYY-MM-DD[Thh:mm:ss[.mmm]Z]");
    return kExitUsage;
  }
  auto opened = Instance::open(global.var);
  if (!opened) {
    print_error(opened.error().message);
    return kExitFailed;
  }
  Instance& inst = **opened;
  auto reader = audit::TrailReader::open(inst.config().audit_file().parent_path(), inst.audit_key());
  if (!reader) {
    print_error(reader.error().message);
    return kExitFailed;
  }
  const std::string who = local_user();
  auto report = audit::build_report(**reader, {options.patient_id, options.since, options.until},
                                    {"system", who, "local"}, inst.audit(), inst.clock());
  if (!report) {
    print_error(report.error().message + (report.error().code == Errc::corrupt ? " (run `tresor audit verify`)" : ""));
    return report.error().code == Errc::invalid_argument ? kExitUsage : kExitFailed;
  }
  const std::string text = options.format == "json"   ? audit::report_json(*report) + "\n"
                           : options.format == "html" ? audit::report_html(*report)
                                                      : audit::report_text(*report);
  if (options.out.empty()) {
    std::cout << text;
    std::cout.flush();
    return std::cout ? kExitOk : kExitFailed;
  }
  // The report holds patient data: written 0600, never over an existing file's mode.
  int fd = ::open(options.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    print_error(options.out.string() + ": " + std::strerror(errno));
    return kExitFailed;
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    print_error(options.out.string() + ": write failed");
    return kExitFailed;
  }
  std::cerr << report->entries.size() << " event(s) for patient " << options.patient_id << " written to "
            << options.out.string() << '\n';
  return kExitOk;
}

} // namespace tresor::app
