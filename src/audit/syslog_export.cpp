#include "audit/syslog_export.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "audit/tls_stream.h"
#include "core/log.h"

namespace tresor::audit {
namespace fs = std::filesystem;

namespace {

// RFC 5424 PARAM-VALUE: '"', '\' and ']' are escaped with a backslash.
std::string sd_escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '"' || c == '\\' || c == ']') out += '\\';
    out += c;
  }
  return out;
}

// RFC 5424 HOSTNAME / APP-NAME: PRINTUSASCII (33..126), bounded; "-" if empty.
std::string header_field(std::string_view v, std::size_t max) {
  std::string out;
  for (char c : v)
    if (static_cast<unsigned char>(c) >= 33 && static_cast<unsigned char>(c) <= 126 && out.size() < max) out += c;
  return out.empty() ? "-" : out;
}

} // namespace

std::string syslog_message(const Record& record, std::string_view xml, const SyslogHeader& header) {
  // Facility 10 (security/authorization, authpriv) x 8 + severity: notice (5)
  // for a success, warning (4) for a failure or a denial.
  const int pri = 10 * 8 + (record.event.outcome == Outcome::success ? 5 : 4);
  std::string out = "<" + std::to_string(pri) + ">1 ";
  out += record.time.empty() ? "-" : header_field(record.time, 64);
  out += ' ';
  out += header_field(header.hostname, 255);
  out += ' ';
  out += header_field(header.app_name, 48);
  out += " ";
  out += std::to_string(::getpid());
  // IHE ITI-20: MSGID "IHE+RFC-3881"; the trail's sequence number travels in
  // structured data so that a collector can drop the copy of a re-sent record.
  out += " IHE+RFC-3881 [tresor@32473 seq=\"" + std::to_string(record.seq) + "\" hash=\"" +
         sd_escape(header_field(record.hash, 128)) + "\"] ";
  out += "\xEF\xBB\xBF";  // BOM: MSG is UTF-8 (RFC 5424 6.4)
  out += xml;
  return out;
}

std::string octet_frame(std::string_view message) {
  std::string out = std::to_string(message.size());
  out += ' ';
  out += message;
  return out;
}

Result<std::vector<std::string>> parse_frames(std::string& buffer, std::size_t max_len) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (;;) {
    std::size_t sp = buffer.find(' ', pos);
    if (sp == std::string::npos) {
      if (buffer.size() - pos > 10) return fail(Errc::invalid_argument, "frame length too long");
      break;
    }
    std::size_t len = 0;
    auto [p, ec] = std::from_chars(buffer.data() + pos, buffer.data() + sp, len);
    if (ec != std::errc{} || p != buffer.data() + sp || sp == pos || buffer[pos] == '0' || len > max_len)
      return fail(Errc::invalid_argument, "bad octet-counting frame length");
    if (buffer.size() < sp + 1 + len) break;
    out.emplace_back(buffer.substr(sp + 1, len));
    pos = sp + 1 + len;
  }
  buffer.erase(0, pos);
  return out;
}

Result<std::uint64_t> read_cursor(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::uint64_t{0};
    return fail(Errc::io_error, file.string() + ": " + std::strerror(errno));
  }
  char buf[64];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n <= 0) return fail(Errc::corrupt, file.string() + ": empty or unreadable export cursor");
  std::string_view text(buf, static_cast<std::size_t>(n));
  if (text.back() == '\n') text.remove_suffix(1);
  std::uint64_t seq = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (ec != std::errc{} || p != text.data() + text.size() || text.empty())
    return fail(Errc::corrupt, file.string() + ": the export cursor is not a sequence number");
  return seq;
}

Status write_cursor(const fs::path& file, std::uint64_t seq) {
  const fs::path tmp = file.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail(Errc::io_error, tmp.string() + ": " + std::strerror(errno));
  const std::string text = std::to_string(seq) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return fail(Errc::io_error, file.string() + ": cannot write the export cursor: " + why);
  }
  int dir = ::open(file.parent_path().empty() ? "." : file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

namespace {

using SteadyClock = std::chrono::steady_clock;

// A cheap fingerprint of the trail directory (names, sizes, times of its
// files except the cursor): a change means records may have been appended.
std::string trail_fingerprint(const fs::path& dir, const fs::path& cursor) {
  std::string out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.filename().string().starts_with(cursor.filename().string())) continue;
    struct stat st{};
    if (::stat(p.c_str(), &st) != 0) continue;
    out += p.filename().string() + ':' + std::to_string(st.st_size) + ':' + std::to_string(st.st_mtim.tv_sec) + '.' +
           std::to_string(st.st_mtim.tv_nsec) + ';';
  }
  return out;
}

class Exporter final : public SyslogExporter {
public:
  Exporter(ExportSettings s, ReaderFactory open_reader, XmlRenderer render, std::uint64_t cursor)
      : s_(std::move(s)), open_reader_(std::move(open_reader)), render_(std::move(render)) {
    state_.cursor = cursor;
  }
  ~Exporter() override { stop(); }

  void begin() { thread_ = std::thread([this] { run(); }); }

  void stop() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  State state() const override {
    std::lock_guard lock(mutex_);
    return state_;
  }

private:
  // Sleeps up to `d`; false when stopping.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, d, [this] { return stopping_; });
    return !stopping_;
  }
  bool stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  void run() {
    // A write to a closed socket raises SIGPIPE in the writing thread: keep
    // it blocked here (EPIPE is handled) and discard it when pending.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);

    std::chrono::milliseconds backoff = s_.backoff_min;
    while (!stopping()) {
      std::string why;
      session(why);
      {
        std::lock_guard lock(mutex_);
        if (state_.connected) ++state_.reconnects;
        state_.connected = false;
      }
      timespec zero{0, 0};
      while (sigtimedwait(&pipe, nullptr, &zero) > 0) {
      }
      if (stopping()) break;
      if (connected_once_) backoff = s_.backoff_min;  // the last attempt got through: start over
      connected_once_ = false;
      log::warn("audit export: collector {}:{} unavailable ({}); retrying in {} ms, {} record(s) waiting in the trail "
                "after seq {}", s_.host, s_.port, why, backoff.count(), lag(), cursor());
      if (!pause(backoff)) break;
      backoff = std::min(backoff * 2, s_.backoff_max);
    }
  }

  std::uint64_t cursor() const {
    std::lock_guard lock(mutex_);
    return state_.cursor;
  }
  std::uint64_t lag() const { return last_seen_ > cursor() ? last_seen_ - cursor() : 0; }

  Status persist(std::uint64_t seq) {
    if (auto st = write_cursor(s_.cursor_file, seq); !st) return st;
    std::lock_guard lock(mutex_);
    state_.cursor = seq;
    return {};
  }

  // One connection: send everything after the cursor, then follow the
  // trail. Returns when the connection fails or on stop (reason in `why`).
  void session(std::string& why) {
    detail::TlsClientConfig tls{s_.host, s_.port, s_.server_name, s_.ca_file, s_.cert_file, s_.key_file};
    auto stream = detail::TlsStream::connect(tls, s_.io_timeout);
    if (!stream) {
      why = stream.error().message;
      return;
    }
    const std::uint64_t start = cursor();
    auto reader = reopen(start, why);
    if (!reader) return;
    {
      std::lock_guard lock(mutex_);
      state_.connected = true;
      state_.sent = start;
    }
    connected_once_ = true;
    log::info("audit export: connected to {}:{}, sending the trail after seq {}", s_.host, s_.port, start);

    std::deque<std::pair<std::uint64_t, SteadyClock::time_point>> unsettled;  // acked, waiting to settle
    std::uint64_t sent = start;
    std::string fingerprint = trail_fingerprint(s_.cursor_file.parent_path(), s_.cursor_file);
    auto last_status = SteadyClock::now();
    bool at_end = false;
    bool stale = false;  // the trail changed after `reader` reached its end
    while (!stopping()) {
      // Settle: the connection stayed up `settle` after the collector acked.
      const auto now = SteadyClock::now();
      if (!(*stream)->alive()) {
        why = "the collector closed the connection";
        return;
      }
      std::uint64_t settled = 0;
      while (!unsettled.empty() && now - unsettled.front().second >= s_.settle) {
        settled = unsettled.front().first;
        unsettled.pop_front();
      }
      if (settled > 0) {
        if (auto st = persist(settled); !st) log::error("audit export: {}", st.error().message);
      }
      if (now - last_status >= s_.status_every && (lag() > 0 || !unsettled.empty())) {
        log::info("audit export: connected to {}:{}, exported through seq {}, {} record(s) behind", s_.host, s_.port,
                  cursor(), lag());
        last_status = now;
      }

      // Read a batch.
      std::string batch;
      std::uint64_t batch_last = 0;
      std::size_t count = 0;
      if (at_end) {
        std::string now_fp = trail_fingerprint(s_.cursor_file.parent_path(), s_.cursor_file);
        if (now_fp != fingerprint) {
          fingerprint = std::move(now_fp);
          at_end = false;
          stale = true;  // a reader that does not follow appends is reopened at its end
        }
      }
      while (!at_end && count < s_.batch) {
        auto rec = reader->next();
        if (!rec) {
          // A record that does not read: the exporter cannot skip it silently.
          why = "cannot read the audit trail: " + rec.error().message;
          log::error("audit export: {}", why);
          reader.reset();
          pause(s_.backoff_max);
          return;
        }
        if (!*rec) {
          at_end = true;
          if (stale) {
            reader = reopen(std::max(sent, batch_last), why);
            if (!reader) return;
            stale = false;
            at_end = false;
            continue;
          }
          break;
        }
        const Record& r = **rec;
        if (r.seq <= std::max(sent, batch_last)) continue;  // already sent on this connection, or in this batch
        if (r.seq > last_seen_.load()) last_seen_ = r.seq;
        batch += octet_frame(syslog_message(r, render_(r), s_.header));
        batch_last = r.seq;
        ++count;
      }
      if (count == 0) {
        if (!pause(s_.poll)) break;
        continue;
      }
      if (auto st = (*stream)->write_all(batch, s_.io_timeout); !st) {
        why = st.error().message;
        return;
      }
      if (auto st = (*stream)->drain(s_.io_timeout); !st) {
        why = st.error().message;
        return;
      }
      sent = batch_last;
      {
        std::lock_guard lock(mutex_);
        state_.sent = sent;
      }
      unsettled.emplace_back(sent, SteadyClock::now());
    }
    // Stopping: what the collector acknowledged on a connection still up is
    // exported (the settle time guards against a collector going away, not
    // against our own shutdown).
    if ((*stream)->alive() && !unsettled.empty()) {
      if (auto st = persist(unsettled.back().first); !st) log::error("audit export: {}", st.error().message);
    }
    why = "stopping";
  }

  std::unique_ptr<TrailReader> reopen(std::uint64_t after, std::string& why) {
    auto reader = open_reader_();
    if (!reader) {
      why = "cannot open the audit trail: " + reader.error().message;
      return nullptr;
    }
    if (auto st = (*reader)->seek_after(after); !st) {
      why = "cannot find seq " + std::to_string(after) + " in the audit trail: " + st.error().message;
      return nullptr;
    }
    return std::move(*reader);
  }

  ExportSettings s_;
  ReaderFactory open_reader_;
  XmlRenderer render_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  State state_;
  std::thread thread_;
  // Exporter thread only:
  std::atomic<std::uint64_t> last_seen_{0};
  bool connected_once_ = false;
};

bool readable(const fs::path& p) { return !p.empty() && ::access(p.c_str(), R_OK) == 0; }

} // namespace

Result<std::unique_ptr<SyslogExporter>> SyslogExporter::start(ExportSettings settings, ReaderFactory open_reader,
                                                               XmlRenderer render) {
  if (settings.host.empty() || settings.port == 0)
    return fail(Errc::invalid_argument, "audit export: host and port are required");
  for (auto [what, path] : {std::pair{"ca_file", &settings.ca_file}, std::pair{"cert_file", &settings.cert_file},
                            std::pair{"key_file", &settings.key_file}})
    if (!readable(*path))
      return fail(Errc::invalid_argument, std::string("audit export: ") + what + " (" + path->string() +
                                              ") is not a readable file");
  if (settings.batch == 0) settings.batch = 1;
  auto cursor = read_cursor(settings.cursor_file);
  if (!cursor) return std::unexpected(cursor.error());
  auto exporter = std::make_unique<Exporter>(std::move(settings), std::move(open_reader), std::move(render), *cursor);
  exporter->begin();
  return std::unique_ptr<SyslogExporter>(std::move(exporter));
}

} // namespace tresor::audit
