// `tresor import DIR`: every file under DIR through the same ingest path as C-STORE.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <iostream>

#include "commands.h"
#include "instance.h"
#include "dicom/inspect.h"

namespace tresor::app {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kMaxFailureLines = 100;  // beyond this only the count grows

struct Counts {
  std::size_t imported = 0, duplicates = 0, quarantined = 0, failed = 0;
  std::size_t seen() const { return imported + duplicates + quarantined + failed; }
};

std::string summary(const Counts& c) {
  return "imported " + std::to_string(c.imported) + ", duplicates " + std::to_string(c.duplicates) +
         ", quarantined " + std::to_string(c.quarantined) + ", failed " + std::to_string(c.failed);
}

bool is_dicomdir(const fs::path& p) {
  std::string name = p.filename().string();
  std::ranges::transform(name, name.begin(), [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  return name == "DICOMDIR";
}

// Progress on stderr: on a terminal a self-overwriting line about once a
// second, otherwise one line per 1000 files.
class Progress {
public:
  Progress() : tty_(::isatty(STDERR_FILENO) == 1), last_(std::chrono::steady_clock::now()) {}

  void update(const Counts& c) {
    if (tty_) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_ < std::chrono::seconds(1)) return;
      last_ = now;
      std::cerr << "\r\x1b[K" << c.seen() << " files: " << summary(c) << std::flush;
      shown_ = true;
    } else if (c.seen() % 1000 == 0) {
      std::cerr << c.seen() << " files: " << summary(c) << '\n' << std::flush;
    }
  }
  // A message on its own line, not mixed into the progress line.
  void message(const std::string& text) {
    if (tty_ && shown_) std::cerr << "\r\x1b[K";
    std::cerr << text << '\n' << std::flush;
  }
  void finish() {
    if (tty_ && shown_) std::cerr << "\r\x1b[K" << std::flush;
  }

private:
  bool tty_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_;
};

} // namespace

int cmd_import(const Global& global, const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    print_error(dir.string() + " is not a directory");
    return kExitFailed;
  }
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  dicom::init_globals();  // before any DCMTK parsing; this command is single-threaded
  services::StoreContext context{system_principal("import"), "", "", ""};

  Counts counts;
  Progress progress;
  bool walk_failed = false;
  auto record_failure = [&](const std::string& what) {
    if (++counts.failed <= kMaxFailureLines) progress.message("failed: " + what);
    else if (counts.failed == kMaxFailureLines + 1) progress.message("(further failures are counted, not shown)");
  };

  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    print_error("cannot read " + dir.string() + ": " + ec.message());
    return kExitFailed;
  }
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const fs::directory_entry& entry = *it;
    std::error_code type_ec;
    if (!entry.is_regular_file(type_ec) || is_dicomdir(entry.path())) continue;

    auto result = inst.ingest().ingest_file(context, entry.path());
    if (!result) {
      record_failure(entry.path().string() + ": " + result.error().message);
    } else {
      switch (result->kind) {
        case services::StoreResult::Kind::stored: ++counts.imported; break;
        case services::StoreResult::Kind::duplicate: ++counts.duplicates; break;
        case services::StoreResult::Kind::quarantined: ++counts.quarantined; break;
      }
    }
    progress.update(counts);
  }
  if (ec) {
    progress.message("tresor: walking " + dir.string() + " stopped: " + ec.message());
    walk_failed = true;
  }
  progress.finish();
  std::cout << summary(counts) << '\n' << std::flush;
  return (counts.failed > 0 || walk_failed) ? kExitFailed : kExitOk;
}

} // namespace tresor::app
