// Append-only JSON-lines audit log. One write(2) per event on an O_APPEND
// descriptor, so concurrent events never interleave and a crash leaves at most
// a torn last line. The free-space guard (audit.h SpaceGuard) runs under the
// same mutex, so its alert is written once.
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "audit/audit.h"
#include "core/log.h"
#include "core/space.h"

namespace tresor::audit {

const char* to_string(Type t) noexcept {
  switch (t) {
    case Type::association: return "association";
    case Type::store: return "store";
    case Type::query: return "query";
    case Type::retrieve: return "retrieve";
    case Type::move: return "move";
    case Type::commitment: return "commitment";
    case Type::quarantine: return "quarantine";
    case Type::security_alert: return "security_alert";
    case Type::admin: return "admin";
    case Type::application_activity: return "application_activity";
    case Type::audit_log_used: return "audit_log_used";
    case Type::authentication: return "authentication";
    case Type::access: return "access";
    case Type::data_export: return "data_export";
    case Type::deletion: return "deletion";
    case Type::patient_record: return "patient_record";
  }
  return "unknown";
}

const char* to_string(Outcome o) noexcept {
  switch (o) {
    case Outcome::success: return "success";
    case Outcome::failure: return "failure";
    case Outcome::denied: return "denied";
  }
  return "failure";
}

namespace {

std::optional<SpaceGuard::Space> statvfs_probe(int fd) {
  struct statvfs sv {};
  if (::fstatvfs(fd, &sv) != 0) return std::nullopt;
  const std::uint64_t unit = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
  return SpaceGuard::Space{static_cast<std::uint64_t>(sv.f_bavail) * unit, static_cast<std::uint64_t>(sv.f_blocks) * unit};
}

class JsonlLog final : public AuditSink {
public:
  JsonlLog(int fd, const Clock& clock, SpaceGuard guard) : fd_(fd), clock_(clock), guard_(std::move(guard)) {
    if (!guard_.probe) guard_.probe = statvfs_probe;
    if (!guard_.threshold) guard_.threshold = [](std::uint64_t total) { return 2 * free_space_reserve(total); };
  }
  ~JsonlLog() override { ::close(fd_); }

  void record(const Event& e) noexcept override {
    try {
      std::string line = encode(e);
      std::lock_guard lock(mutex_);
      check_space();
      write_line(line);
    } catch (const std::exception& ex) {
      log::error("audit event could not be encoded: {}", ex.what());
    }
  }

private:
  // One fstatvfs per event (about a microsecond, beside the write itself).
  void check_space() {
    auto space = guard_.probe(fd_);
    if (!space) return;
    const std::uint64_t threshold = guard_.threshold(space->total);
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
    write_line(encode(alert));
  }

  std::string encode(const Event& e) const {
    nlohmann::ordered_json j;
    j["time"] = to_rfc3339(clock_.now());
    j["type"] = to_string(e.type);
    j["outcome"] = to_string(e.outcome);
    j["actor"] = e.actor;
    auto opt = [&](const char* k, const std::string& v) {
      if (!v.empty()) j[k] = v;
    };
    opt("user", e.user);
    opt("source", e.source);
    opt("patient_id", e.patient_id);
    opt("study_uid", e.study_uid);
    opt("series_uid", e.series_uid);
    opt("sop_uid", e.sop_uid);
    opt("reason", e.reason);
    if (!e.details.empty()) {
      nlohmann::ordered_json d = nlohmann::ordered_json::object();
      for (const auto& [k, v] : e.details) d[k] = v;
      j["details"] = std::move(d);
    }
    std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    line.push_back('\n');
    return line;
  }

  void write_line(const std::string& line) {
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        log::error("audit log write failed: {}", std::strerror(errno));
        return;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  }

  int fd_;
  const Clock& clock_;
  SpaceGuard guard_;
  std::mutex mutex_;
  bool alerted_ = false;  // under mutex_
};

} // namespace

Result<std::unique_ptr<AuditSink>> open_jsonl_log(const std::filesystem::path& file, const Clock& clock,
                                                  SpaceGuard guard) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) return fail(Errc::io_error, "cannot create audit directory: " + ec.message());
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return fail(Errc::io_error, std::string("cannot open audit log: ") + std::strerror(errno));
  return std::unique_ptr<AuditSink>(new JsonlLog(fd, clock, std::move(guard)));
}

} // namespace tresor::audit
