// The audit trail writer (audit.h open_trail_log; format in trail_codec.h).
// Every append runs under the in-process mutex and an flock() on
// audit_dir/.lock shared with other processes; before writing, the writer
// catches up with whatever other processes appended (or rotated), so the
// sequence and the chain stay one line however many processes write.
#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "audit/audit.h"
#include "audit/trail_codec.h"
#include "core/log.h"
#include "core/space.h"

namespace tresor::audit {
namespace fs = std::filesystem;
using codec::Hash;

namespace {

std::optional<SpaceGuard::Space> statvfs_probe(int fd) {
  struct statvfs sv {};
  if (::fstatvfs(fd, &sv) != 0) return std::nullopt;
  const std::uint64_t unit = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
  return SpaceGuard::Space{static_cast<std::uint64_t>(sv.f_bavail) * unit, static_cast<std::uint64_t>(sv.f_blocks) * unit};
}

Status write_all(int fd, std::string_view data) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::io_error, std::string("audit trail write failed: ") + std::strerror(errno));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return {};
}

struct FileLock {
  explicit FileLock(int fd) : fd_(fd) {
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~FileLock() { ::flock(fd_, LOCK_UN); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  int fd_;
};

class TrailLog final : public AuditSink {
public:
  TrailLog(fs::path dir, const Clock& clock, const crypto::SecretKey* key, TrailOptions options, codec::SignKey sign)
      : dir_(std::move(dir)), clock_(clock), key_(key), options_(std::move(options)), sign_(sign) {
    if (!options_.guard.probe) options_.guard.probe = statvfs_probe;
    if (!options_.guard.threshold)
      options_.guard.threshold = [](std::uint64_t total) { return 2 * free_space_reserve(total); };
    options_.checkpoint_records = std::max<std::uint64_t>(options_.checkpoint_records, 1);
    options_.checkpoint_interval = std::max(options_.checkpoint_interval, std::chrono::seconds(1));
  }

  ~TrailLog() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (timer_.joinable()) timer_.join();
    {
      std::lock_guard lock(mutex_);
      FileLock flock(lock_fd_);
      catch_up();
      if (last_seq_ > checkpointed_seq_) checkpoint();  // clean stop: the tail is signed
    }
    sodium_memzero(sign_.secret.data(), sign_.secret.size());
    if (fd_ >= 0) ::close(fd_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  // Opens the lock and the current file and loads the state; under the flock.
  Status start() {
    lock_fd_ = ::open((dir_ / codec::kLockFile).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) return fail(Errc::io_error, std::string("cannot open the audit lock: ") + std::strerror(errno));
    {
      FileLock flock(lock_fd_);
      if (auto s = open_current(); !s) return s;
    }
    {
      std::lock_guard lock(mutex_);
      FileLock flock(lock_fd_);
      report_torn();
    }
    timer_ = std::thread([this] { run_timer(); });
    return {};
  }

  void record(const Event& e) noexcept override {
    try {
      std::lock_guard lock(mutex_);
      FileLock flock(lock_fd_);
      catch_up();
      report_torn();
      check_space();
      append(e);
    } catch (const std::exception& ex) {
      log::error("audit event could not be written: {}", ex.what());
    }
  }

private:
  // (Re)opens audit.jsonl, creating it (with its header) when missing; a file
  // in the pre-trail format is moved aside to audit-legacy-<time>.jsonl.
  Status open_current() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    offset_ = 0;
    const fs::path current = dir_ / codec::kCurrentFile;
    struct stat st {};
    if (::stat(current.c_str(), &st) == 0 && st.st_size > 0) {
      std::string first(std::min<off_t>(st.st_size, 4096), '\0');
      int probe = ::open(current.c_str(), O_RDONLY | O_CLOEXEC);
      ssize_t n = probe >= 0 ? ::pread(probe, first.data(), first.size(), 0) : -1;
      if (probe >= 0) ::close(probe);
      first.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
      auto line = codec::parse_line(first.substr(0, first.find('\n')), nullptr);
      if (!line || line->kind != codec::Line::Kind::head) {
        const fs::path aside = dir_ / ("audit-legacy-" + std::to_string(::time(nullptr)) + ".jsonl");
        if (::rename(current.c_str(), aside.c_str()) != 0)
          return fail(Errc::io_error, "cannot move the old audit log aside: " + std::string(std::strerror(errno)));
        log::warn("the audit log in the old format was moved to {} (not part of the signed trail)", aside.string());
      }
    }
    fd_ = ::open(current.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd_ < 0) return fail(Errc::io_error, std::string("cannot open the audit trail: ") + std::strerror(errno));
    if (::fstat(fd_, &st) != 0) return fail(Errc::io_error, "cannot stat the audit trail");
    ino_ = st.st_ino;
    if (st.st_size == 0) {
      // A new file continues the chain of the last rotated one.
      last_seq_ = 0;
      last_hash_ = Hash{};
      auto files = codec::trail_files(dir_);
      std::erase(files, current);
      if (!files.empty()) {
        if (auto s = load(files.back(), 0, true); !s) return s;
      }
      const std::string head = codec::head_line(last_seq_, last_hash_);
      if (auto s = write_all(fd_, head); !s) return s;
      offset_ = head.size();
      checkpointed_seq_ = std::max(checkpointed_seq_, last_seq_);
      return {};
    }
    return load(current, 0, false);
  }

  // Reads `file` from `from` to its end, keeping the last seq/hash and the
  // last checkpoint. A torn last line (crash mid-write) of the current file
  // is cut off. `other`: a rotated file (its fd is not ours).
  Status load(const fs::path& file, std::uint64_t from, bool other) {
    int fd = other ? ::open(file.c_str(), O_RDONLY | O_CLOEXEC) : fd_;
    if (fd < 0) return fail(Errc::io_error, "cannot open " + file.string());
    struct stat st {};
    ::fstat(fd, &st);
    const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
    std::string data(size > from ? size - from : 0, '\0');
    std::size_t got = 0;
    while (got < data.size()) {
      ssize_t n = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(from + got));
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (other) ::close(fd);
    data.resize(got);
    std::size_t complete = data.rfind('\n');
    complete = complete == std::string::npos ? 0 : complete + 1;
    if (complete < data.size() && !other) {
      if (::ftruncate(fd_, static_cast<off_t>(from + complete)) != 0)
        return fail(Errc::io_error, "cannot cut the torn last line of the audit trail");
      torn_ = "a torn last line of the audit trail (" + std::to_string(data.size() - complete) +
              " bytes, a write cut short by a crash) was removed after seq ";
    }
    std::string_view last_record;
    for (std::size_t pos = 0; pos < complete;) {
      const std::size_t nl = data.find('\n', pos);
      std::string_view text(data.data() + pos, nl - pos);
      pos = nl + 1;
      if (text.empty()) continue;
      if (codec::peek_seq(text)) {
        last_record = text;
        continue;
      }
      auto line = codec::parse_line(text, nullptr);
      if (!line) continue;
      if (line->kind == codec::Line::Kind::head && last_record.empty()) {
        last_seq_ = line->seq;
        last_hash_ = line->hash;
        checkpointed_seq_ = std::max(checkpointed_seq_, line->seq);
      } else if (line->kind == codec::Line::Kind::checkpoint) {
        checkpointed_seq_ = std::max(checkpointed_seq_, line->checkpoint.seq);
      }
    }
    if (!last_record.empty()) {
      auto line = codec::parse_line(last_record, key_);
      if (!line)
        return fail(Errc::corrupt, "the last record of " + file.string() + " does not open (" + line.error().message +
                                       "): wrong audit key, or the trail was altered; run `tresor audit verify`");
      last_seq_ = line->seq;
      last_hash_ = line->hash;
    }
    if (!other) offset_ = from + complete;
    if (torn_.ends_with("after seq ")) {
      torn_ += std::to_string(last_seq_);
      log::error("{}", torn_);
    }
    return {};
  }

  // Under the flock: follows another process's appends and rotations.
  void catch_up() {
    struct stat st {};
    const fs::path current = dir_ / codec::kCurrentFile;
    Status s;
    if (::stat(current.c_str(), &st) != 0 || st.st_ino != ino_) {
      s = open_current();
    } else if (static_cast<std::uint64_t>(st.st_size) != offset_) {
      s = load(current, std::min<std::uint64_t>(offset_, static_cast<std::uint64_t>(st.st_size)), false);
    }
    if (!s) log::error("audit trail: {} (records go on from seq {})", s.error().message, last_seq_ + 1);
    if (pending_since_ == std::chrono::steady_clock::time_point{} && last_seq_ > checkpointed_seq_)
      pending_since_ = std::chrono::steady_clock::now();
  }

  // A torn line cut off by open_current()/load() becomes a security_alert record.
  void report_torn() {
    if (torn_.empty()) return;
    Event alert;
    alert.type = Type::security_alert;
    alert.outcome = Outcome::failure;
    alert.actor = "system";
    alert.reason = std::move(torn_);
    torn_.clear();
    append(alert);
  }

  void append(const Event& e) {
    const std::uint64_t seq = last_seq_ + 1;
    const std::string canonical = codec::canonical_record(seq, to_rfc3339(clock_.now()), e);
    const Hash hash = codec::chain(last_hash_, canonical);
    const std::string line = codec::record_line(seq, canonical, hash, key_);
    if (auto s = write_all(fd_, line); !s) {
      log::error("{} (seq {} not written)", s.error().message, seq);
      return;
    }
    last_seq_ = seq;
    last_hash_ = hash;
    offset_ += line.size();
    if (pending_since_ == std::chrono::steady_clock::time_point{}) pending_since_ = std::chrono::steady_clock::now();
    if (last_seq_ - checkpointed_seq_ >= options_.checkpoint_records) checkpoint();
    if (offset_ >= options_.rotate_bytes) rotate();
  }

  void checkpoint() {
    codec::Checkpoint c;
    c.seq = last_seq_;
    c.hash = codec::hex(last_hash_);
    c.time = to_rfc3339(clock_.now());
    c.sig = codec::sign(sign_, c);
    const std::string line = codec::checkpoint_line(c);
    if (auto s = write_all(fd_, line); !s) {
      log::error("audit checkpoint: {}", s.error().message);
      return;
    }
    offset_ += line.size();
    ::fdatasync(fd_);  // the head never commits to records that a crash could lose
    if (auto s = codec::write_head_file(dir_, c); !s) log::error("audit checkpoint: {}", s.error().message);
    checkpointed_seq_ = last_seq_;
    pending_since_ = {};
  }

  void rotate() {
    if (last_seq_ > checkpointed_seq_) checkpoint();
    std::uint64_t first = 0;
    {
      char buf[512];
      ssize_t n = ::pread(fd_, buf, sizeof buf, 0);
      std::string_view head(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
      auto line = codec::parse_line(head.substr(0, head.find('\n')), nullptr);
      first = line && line->kind == codec::Line::Kind::head ? line->seq + 1 : 0;
    }
    const fs::path target = dir_ / codec::rotated_name(first);
    if (::rename((dir_ / codec::kCurrentFile).c_str(), target.c_str()) != 0) {
      log::error("audit trail rotation failed: {}", std::strerror(errno));
      return;
    }
    if (auto s = open_current(); !s) log::error("audit trail rotation: {}", s.error().message);
  }

  void check_space() {
    auto space = options_.guard.probe(fd_);
    if (!space) return;
    const std::uint64_t threshold = options_.guard.threshold(space->total);
    if (alerted_) {
      if (space->available >= threshold + threshold / 4) alerted_ = false;
      return;
    }
    if (space->available >= threshold) return;
    alerted_ = true;
    const std::string what = "audit file system nearly full: " + std::to_string(space->available >> 20) +
                             " MiB free, alert threshold " + std::to_string(threshold >> 20) +
                             " MiB (twice the store's reserve); free space or move the archive to a larger disk";
    log::error("{}", what);
    Event alert;
    alert.type = Type::security_alert;
    alert.outcome = Outcome::failure;
    alert.actor = "system";
    alert.reason = what;
    alert.details = {{"available_bytes", std::to_string(space->available)},
                     {"threshold_bytes", std::to_string(threshold)}};
    append(alert);
  }

  // Writes a checkpoint once checkpoint_interval has passed since the first
  // record it would cover.
  void run_timer() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(500));
      if (stopping_) break;
      if (pending_since_ == std::chrono::steady_clock::time_point{} ||
          std::chrono::steady_clock::now() - pending_since_ < options_.checkpoint_interval)
        continue;
      try {
        FileLock flock(lock_fd_);
        catch_up();
        if (last_seq_ > checkpointed_seq_) checkpoint();
        else pending_since_ = {};
      } catch (const std::exception& ex) {
        log::error("audit checkpoint: {}", ex.what());
      }
    }
  }

  const fs::path dir_;
  const Clock& clock_;
  const crypto::SecretKey* key_;
  TrailOptions options_;
  codec::SignKey sign_;
  std::mutex mutex_;  // guards everything below
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread timer_;
  int lock_fd_ = -1;
  int fd_ = -1;
  ino_t ino_ = 0;
  std::uint64_t offset_ = 0;           // bytes of the current file we have seen
  std::uint64_t last_seq_ = 0;
  Hash last_hash_{};
  std::uint64_t checkpointed_seq_ = 0; // the newest checkpoint's seq
  std::chrono::steady_clock::time_point pending_since_{};  // first record not checkpointed ({} = none)
  bool alerted_ = false;
  std::string torn_;
};

} // namespace

Result<std::unique_ptr<AuditSink>> open_trail_log(const fs::path& audit_dir, const Clock& clock,
                                                  const crypto::SecretKey* key, TrailOptions options) {
  std::error_code ec;
  fs::create_directories(audit_dir, ec);
  if (ec) return fail(Errc::io_error, "cannot create audit directory: " + ec.message());
  ::chmod(audit_dir.c_str(), 0700);
  auto sign = codec::load_or_create_sign_key(audit_dir, key);
  if (!sign) return std::unexpected(sign.error());
  auto log = std::make_unique<TrailLog>(audit_dir, clock, key, std::move(options), *sign);
  sodium_memzero(sign->secret.data(), sign->secret.size());
  if (auto s = log->start(); !s) return std::unexpected(s.error());
  return std::unique_ptr<AuditSink>(std::move(log));
}

} // namespace tresor::audit
