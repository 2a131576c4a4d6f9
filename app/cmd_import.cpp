// `tresor import PATH...`: each file named, and every file under each directory
// named, through the same ingest path as C-STORE. A file that is no DICOM at
// all (dicom::looks_like_dicom: a README, a CSV) is skipped and counted apart,
// never as a failure: the exit status is 0 when every DICOM file was ingested.
//
// Resume (directories). An import that is interrupted (Ctrl-C, SIGTERM, kill -9, power
// cut) and run again skips, without reading them, the files it had already
// ingested: a journal under var/import/ records one line per file ingested
// (stored, duplicate or quarantined), written only after ingest() returned,
// i.e. after the blob was fsynced and the index committed:
//   <SHA-256 of the path relative to DIR> <size> <mtime ns> <SOP Instance UID>
// (a hash, not the path: directory names may carry patient names). With
// encryption at rest (an instance with a keyring) the hashes are keyed with
// the journal purpose key (crypto::keyed_name: a guessed path cannot be
// confirmed) and each line is sealed whole ("e <crypto::seal_record hex>"),
// so the journal shows neither paths nor UIDs to someone who copies var/. A file is
// skipped when its path, size and mtime match a line and the index still
// holds that SOP Instance UID; anything else (a changed file, a line lost
// in a crash, an index row lost by a power cut before recovery, a
// quarantined instance) is ingested again, which the ingest service answers
// as a duplicate when it is one. The journal is never fsynced: losing its
// tail only costs re-ingesting those files. It is removed once an import of
// the directory ran to the end without a failure.
//
// SIGINT and SIGTERM are blocked while importing and checked between files:
// the file being ingested is finished, the summary printed, the journal kept.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <unordered_map>

#include "commands.h"
#include "instance.h"
#include "crypto/record.h"
#include "dicom/inspect.h"
#include "security/auth_crypto.h"

namespace tresor::app {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kMaxFailureLines = 100;  // beyond this only the count grows

struct Counts {
  std::size_t imported = 0, duplicates = 0, quarantined = 0, failed = 0;
  std::size_t skipped = 0;  // already ingested by an earlier, interrupted run (journal)
  std::size_t not_dicom = 0;  // no DICOM at all (dicom::looks_like_dicom): skipped, not a failure
  std::size_t seen() const { return imported + duplicates + quarantined + failed + skipped + not_dicom; }
};

std::string summary(const Counts& c) {
  std::string s = "imported " + std::to_string(c.imported) + ", duplicates " + std::to_string(c.duplicates) +
                  ", quarantined " + std::to_string(c.quarantined) + ", failed " + std::to_string(c.failed);
  if (c.skipped > 0) s += ", skipped " + std::to_string(c.skipped) + " (already imported)";
  if (c.not_dicom > 0) s += ", skipped " + std::to_string(c.not_dicom) + " (not DICOM)";
  return s;
}

// The resume journal of one import directory (see the top of this file).
class Journal {
public:
  struct Stamp {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
  };

  // Loads var/import/<SHA-256 of DIR's canonical path>.journal (if any) and
  // opens it for appending. On any error the import runs without a journal.
  Journal(const fs::path& var_dir, const fs::path& dir, const crypto::SecretKey* key) : key_(key) {
    std::error_code ec;
    const fs::path canonical = fs::canonical(dir, ec);
    if (ec) return;
    base_ = dir;
    const fs::path journal_dir = var_dir / "import";
    fs::create_directories(journal_dir, ec);
    ::chmod(journal_dir.c_str(), 0700);
    file_ = journal_dir / ((key_ ? crypto::keyed_name(*key_, "import-dir", canonical.string())
                                 : security::detail::sha256_hex(canonical.string())) +
                           ".journal");
    load();
    fd_ = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  }
  ~Journal() {
    if (fd_ >= 0) ::close(fd_);
  }
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  std::size_t size() const { return done_.size(); }

  // The SOP Instance UID ingested from this file by an earlier run, if the
  // file has not changed since (same path, size and mtime).
  const std::string* lookup(const fs::path& file, const Stamp& stamp) const {
    if (done_.empty()) return nullptr;
    auto it = done_.find(key_of(file));
    if (it == done_.end() || it->second.stamp.size != stamp.size || it->second.stamp.mtime_ns != stamp.mtime_ns)
      return nullptr;
    return &it->second.sop_uid;
  }

  // Appends one line (a single write(2) on an O_APPEND descriptor).
  void record(const fs::path& file, const Stamp& stamp, const std::string& sop_uid) {
    if (fd_ < 0 || !dicom::is_valid_uid(sop_uid)) return;
    std::string line = key_of(file) + ' ' + std::to_string(stamp.size) + ' ' + std::to_string(stamp.mtime_ns) +
                       ' ' + sop_uid;
    line = (key_ ? "e " + crypto::seal_record(*key_, kJournalContext, line) : line) + '\n';
    if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      ::close(fd_);  // a full disk: go on without a journal (a later run re-ingests, as duplicates)
      fd_ = -1;
    }
  }

  // The import ran to the end without a failure: nothing to resume.
  void remove() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!file_.empty()) ::unlink(file_.c_str());
  }

private:
  struct Done {
    Stamp stamp;
    std::string sop_uid;
  };

  // 128 bits of the SHA-256 of the path relative to the directory.
  std::string key_of(const fs::path& file) const {
    const std::string rel = file.lexically_relative(base_).string();
    return (key_ ? crypto::keyed_name(*key_, "import-path", rel) : security::detail::sha256_hex(rel)).substr(0, 32);
  }

  // Lines that do not parse (a line torn by a crash) are ignored.
  void load() {
    std::ifstream in(file_, std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
      if (key_) {  // sealed lines only
        if (!line.starts_with("e ")) continue;
        auto opened = crypto::open_record(*key_, kJournalContext, std::string_view(line).substr(2));
        if (!opened) continue;
        line = std::move(*opened);
      }
      const auto a = line.find(' '), b = line.find(' ', a + 1), c = line.find(' ', b + 1);
      if (a != 32 || b == std::string::npos || c == std::string::npos) continue;
      Done d;
      auto r1 = std::from_chars(line.data() + a + 1, line.data() + b, d.stamp.size);
      auto r2 = std::from_chars(line.data() + b + 1, line.data() + c, d.stamp.mtime_ns);
      if (r1.ec != std::errc{} || r1.ptr != line.data() + b || r2.ec != std::errc{} || r2.ptr != line.data() + c)
        continue;
      d.sop_uid = line.substr(c + 1);
      if (!dicom::is_valid_uid(d.sop_uid)) continue;
      done_.insert_or_assign(line.substr(0, 32), std::move(d));
    }
  }

  static constexpr std::string_view kJournalContext = "tresor import journal v1";
  const crypto::SecretKey* key_;  // the journal purpose key, or null (no encryption at rest)
  fs::path base_;  // DIR as given: the walk's paths start with it
  fs::path file_;
  int fd_ = -1;
  std::unordered_map<std::string, Done> done_;
};

// SIGINT or SIGTERM arrived (they are blocked: see cmd_import).
bool stop_requested() {
  sigset_t pending;
  if (::sigpending(&pending) != 0) return false;
  return sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1;
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

int cmd_import(const Global& global, const std::vector<fs::path>& paths) {
  for (const fs::path& p : paths) {
    std::error_code ec;
    const auto st = fs::status(p, ec);
    if (ec || !(fs::is_directory(st) || fs::is_regular_file(st))) {
      print_error(p.string() + " is neither a file nor a directory");
      return kExitFailed;
    }
  }
  // Stop requests are taken between files, never in the middle of one. Blocked
  // before the instance opens: threads it starts (the audit trail's timer, the
  // access aggregator) inherit the mask, else a SIGINT would end the process there.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  bool interrupted = false;

  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  dicom::init_globals();  // before any DCMTK parsing
  services::StoreContext context{system_principal("import"), "", "", ""};

  Counts counts;
  Progress progress;
  bool walk_failed = false;
  auto record_failure = [&](const std::string& what) {
    if (++counts.failed <= kMaxFailureLines) progress.message("failed: " + what);
    else if (counts.failed == kMaxFailureLines + 1) progress.message("(further failures are counted, not shown)");
  };

  // One file; `journal` is null for a file named on the command line.
  auto import_one = [&](const fs::path& file, Journal* journal) {
    Journal::Stamp stamp;
    struct stat st {};
    const bool stamped = journal && ::stat(file.c_str(), &st) == 0;
    if (stamped) {
      stamp.size = static_cast<std::uint64_t>(st.st_size);
      stamp.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
      if (const std::string* uid = journal->lookup(file, stamp)) {
        auto known = inst.index().find_instance(*uid);
        if (known && *known) {
          ++counts.skipped;
          progress.update(counts);
          return;
        }
      }
    }
    // A README, a CSV or a JPEG next to the images is not a failure of the
    // archive: said once per file and counted apart.
    if (!dicom::looks_like_dicom(file)) {
      if (++counts.not_dicom <= kMaxFailureLines) progress.message("skipped: " + file.string() + ": not a DICOM file");
      progress.update(counts);
      return;
    }
    auto result = inst.ingest().ingest_file(context, file);
    if (!result) {
      record_failure(file.string() + ": " + result.error().message);
    } else {
      switch (result->kind) {
        case services::StoreResult::Kind::stored: ++counts.imported; break;
        case services::StoreResult::Kind::duplicate: ++counts.duplicates; break;
        case services::StoreResult::Kind::quarantined: ++counts.quarantined; break;
      }
      if (stamped) journal->record(file, stamp, result->sop_instance_uid);
    }
    progress.update(counts);
  };

  for (const fs::path& path : paths) {
    if (stop_requested()) {
      interrupted = true;
      break;
    }
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      import_one(path, nullptr);
      continue;
    }
    Journal journal(inst.config().var_dir, path,
                    inst.keyring() ? &inst.keyring()->purpose_key(crypto::Purpose::journal) : nullptr);
    if (journal.size() > 0)
      progress.message("resuming: " + std::to_string(journal.size()) + " files were imported by an earlier run");
    const std::size_t failed_before = counts.failed;
    bool this_walk_failed = false;
    fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
      progress.message("tresor: cannot read " + path.string() + ": " + ec.message());
      walk_failed = true;
      continue;
    }
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      const fs::directory_entry& entry = *it;
      std::error_code type_ec;
      if (!entry.is_regular_file(type_ec) || is_dicomdir(entry.path())) continue;
      if (stop_requested()) {
        interrupted = true;
        break;
      }
      import_one(entry.path(), &journal);
    }
    if (ec) {
      progress.message("tresor: walking " + path.string() + " stopped: " + ec.message());
      this_walk_failed = walk_failed = true;
    }
    if (interrupted) break;
    if (counts.failed == failed_before && !this_walk_failed) journal.remove();
  }
  progress.finish();
  std::cout << summary(counts) << '\n' << std::flush;
  if (interrupted) {
    print_error("import interrupted; run the same command again to resume (files already imported are skipped)");
    return kExitFailed;
  }
  return (counts.failed > 0 || walk_failed) ? kExitFailed : kExitOk;
}

} // namespace tresor::app
