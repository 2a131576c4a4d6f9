// `tresor export --deidentify ...` and `tresor export reidentify ...`:
// PS3.15 Annex E de-identified export to a research project
// (services::ExportService; docs/cli.md, docs/conformance.md). The summary
// names objects by their position and SOP class, never by an identifier of
// the original.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>

#include "commands.h"
#include "instance.h"
#include "services/export.h"

namespace tresor::app {
namespace {

namespace fs = std::filesystem;

// The pseudonym root key (32 bytes): the keyring's Purpose::pseudonym key;
// with encryption at rest switched off (no keyring) a random key in
// <var>/keys/pseudonym-root.key (0600, created on first use).
Result<std::string> pseudonym_root(Instance& inst) {
  if (const crypto::Keyring* ring = inst.keyring()) {
    const crypto::SecretKey& k = ring->purpose_key(crypto::Purpose::pseudonym);
    return std::string(reinterpret_cast<const char*>(k.data()), k.size());
  }
  const fs::path var_dir = inst.config().var_dir;
  const fs::path dir = var_dir / "keys";
  const fs::path file = dir / "pseudonym-root.key";
  std::error_code ec;
  fs::create_directories(dir, ec);
  ::chmod(dir.c_str(), 0700);
  if (!fs::exists(file, ec)) {
    const crypto::SecretKey fresh = crypto::SecretKey::random();
    const std::string key(reinterpret_cast<const char*>(fresh.data()), fresh.size());
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return fail(Errc::io_error, "cannot create " + file.string());
    const bool ok = ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return fail(Errc::io_error, "cannot write " + file.string());
  }
  std::ifstream in(file, std::ios::binary);
  std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (key.size() != 32) return fail(Errc::corrupt, file.string() + " is not a 32-byte key");
  return key;
}

Principal local_admin() {
  Principal principal = system_principal("system");
  principal.operations.insert(Operation::admin);  // whoever can open var/ administers it
  principal.source = "local";
  principal.user = local_user();
  return principal;
}

void draw_progress(std::size_t done, std::size_t total) {
  constexpr int kWidth = 30;
  const int filled = total ? static_cast<int>(done * kWidth / total) : kWidth;
  std::fprintf(stderr, "\r[%.*s%*s] %zu/%zu", filled, "##############################", kWidth - filled, "", done,
               total);
  if (done == total) std::fputc('\n', stderr);
  std::fflush(stderr);
}

} // namespace

int cmd_export(const Global& global, const ExportOptions& o) {
  if (!o.deidentify) {
    print_error("only de-identified export exists: add --deidentify");
    return kExitUsage;
  }
  if (o.project.empty()) {
    print_error("--project is required");
    return kExitUsage;
  }
  if (o.patient.empty() == o.studies.empty()) {
    print_error("name either --patient ID or --study UID (repeatable)");
    return kExitUsage;
  }
  if (int(!o.to.empty()) + int(!o.zip.empty()) + int(!o.peer.empty()) != 1) {
    print_error("name exactly one target: --to DIR, --zip FILE or --peer AE");
    return kExitUsage;
  }
  if (!o.peer.empty()) {
    print_error("--peer: export to a DICOM peer is not available yet; use --to or --zip");
    return kExitUsage;
  }
  auto profile = dicom::parse_profile(o.profile);
  if (!profile) {
    print_error("--profile: " + profile.error().message);
    return kExitUsage;
  }
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  auto root = pseudonym_root(inst);
  if (!root) {
    print_error(root.error().message);
    return kExitFailed;
  }
  auto sink = !o.to.empty() ? services::open_directory_sink(o.to) : services::open_zip_sink(o.zip);
  if (!sink) {
    print_error(sink.error().message);
    return kExitFailed;
  }
  services::ExportService exporter(inst.index(), inst.store(), inst.audit(), inst.ingest(), *root,
                                   inst.config().store_dir() / "tmp");
  services::ExportRequest req;
  req.project = o.project;
  req.profile = *profile;
  req.allow_burned_in = o.allow_burned_in;
  req.patient_id = o.patient;
  req.study_uids = o.studies;
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  auto report = exporter.run(local_admin(), req, **sink, tty ? services::ExportService::Progress(draw_progress)
                                                            : services::ExportService::Progress{});
  if (!report) {
    print_error("export: " + report.error().message);
    return kExitFailed;
  }
  std::cout << "exported " << report->exported << " of " << report->selected << " objects ("
            << report->deid_study_uids.size() << " studies, " << report->pseudonyms.size()
            << " patients) to project " << o.project << "\n";
  std::cout << "pseudonyms:";
  for (const auto& p : report->pseudonyms) std::cout << ' ' << p;
  std::cout << "\n";
  std::cout << "archived for the researcher view: " << report->archived << " (label "
            << services::research_label(o.project) << ")\n";
  std::map<std::string, std::size_t> reasons;
  for (const auto& l : report->left_out) ++reasons[l.reason];
  std::cout << "left out: " << report->left_out.size() << "\n";
  for (const auto& [reason, count] : reasons) std::cout << "  " << count << " x " << reason << "\n";
  for (const auto& l : report->left_out)
    std::cout << "  object " << l.number << " (" << (l.sop_class_uid.empty() ? "?" : l.sop_class_uid)
              << "): " << l.reason << "\n";
  return kExitOk;
}

int cmd_export_reidentify(const Global& global, const std::string& project, const std::string& pseudonym) {
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  services::ExportService exporter(inst.index(), inst.store(), inst.audit(), inst.ingest(), std::string(),
                                   inst.config().store_dir() / "tmp");
  auto id = exporter.reidentify(local_admin(), project, pseudonym);
  if (!id) {
    print_error("reidentify: " + id.error().message);
    return kExitFailed;
  }
  std::cout << *id << "\n";
  return kExitOk;
}

} // namespace tresor::app
