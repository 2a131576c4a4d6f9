// Reading the audit trail back (trail.h): TrailReader and verify_trail.
#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "audit/trail.h"
#include "audit/trail_codec.h"

namespace tresor::audit {
namespace fs = std::filesystem;
using codec::Hash;

namespace {

// Open descriptors of every file of the trail, taken under a shared flock so
// that a rotation in progress is never seen half done.
struct OpenFiles {
  std::vector<std::pair<fs::path, int>> files;
  ~OpenFiles() {
    for (auto& f : files) ::close(f.second);
  }
};

Status open_files(const fs::path& dir, OpenFiles& out, std::uint64_t newest_bytes = 0) {
  int lock = ::open((dir / codec::kLockFile).c_str(), O_RDONLY | O_CLOEXEC);
  if (lock >= 0)
    while (::flock(lock, LOCK_SH) != 0 && errno == EINTR) {
    }
  Status result;
  auto paths = codec::trail_files(dir);
  if (newest_bytes > 0) {
    std::uint64_t total = 0;
    std::size_t keep = 0;
    for (auto it = paths.rbegin(); it != paths.rend() && (keep == 0 || total < newest_bytes); ++it, ++keep) {
      std::error_code ec;
      total += fs::file_size(*it, ec);
    }
    paths.erase(paths.begin(), paths.end() - static_cast<std::ptrdiff_t>(keep));
  }
  for (const fs::path& p : paths) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      result = fail(Errc::io_error, "cannot open " + p.string() + ": " + std::strerror(errno));
      break;
    }
    out.files.emplace_back(p, fd);
  }
  if (lock >= 0) ::close(lock);
  return result;
}

// Line by line over one descriptor; `torn` is set when the data ends without
// a newline (a write in progress or cut short).
class LineReader {
public:
  explicit LineReader(int fd) : fd_(fd) {}
  bool next(std::string& line) {
    for (;;) {
      const std::size_t nl = buf_.find('\n', pos_);
      if (nl != std::string::npos) {
        line.assign(buf_, pos_, nl - pos_);
        pos_ = nl + 1;
        ++number_;
        return true;
      }
      buf_.erase(0, pos_);
      pos_ = 0;
      char chunk[1 << 16];
      ssize_t n;
      do n = ::read(fd_, chunk, sizeof chunk);
      while (n < 0 && errno == EINTR);
      if (n <= 0) {
        torn_ = !buf_.empty();
        return false;
      }
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  std::uint64_t number() const { return number_; }
  bool torn() const { return torn_; }
private:
  int fd_;
  std::string buf_;
  std::size_t pos_ = 0;
  std::uint64_t number_ = 0;
  bool torn_ = false;
};

class Reader final : public TrailReader {
public:
  Reader(const crypto::SecretKey* key) : key_(key) {}
  OpenFiles open_;

  Result<std::optional<Record>> next() override {
    for (;;) {
      if (index_ >= open_.files.size()) return std::optional<Record>();
      if (!lines_) lines_ = std::make_unique<LineReader>(open_.files[index_].second);
      std::string text;
      if (!lines_->next(text)) {
        lines_.reset();
        ++index_;
        continue;
      }
      auto seq = codec::peek_seq(text);
      if (!seq) continue;  // header or checkpoint
      if (*seq <= skip_to_) continue;
      auto line = codec::parse_line(text, key_);
      if (!line)
        return fail(line.error().code, open_.files[index_].first.filename().string() + ": line " +
                                           std::to_string(lines_->number()) + ", seq " + std::to_string(*seq) + ": " +
                                           line.error().message);
      return std::optional<Record>(std::move(line->record));
    }
  }

  Status seek_after(std::uint64_t seq) override {
    // Files are named by their first seq: start in the last one beginning at or before seq + 1.
    skip_to_ = seq;
    index_ = 0;
    lines_.reset();
    for (std::size_t i = 0; i < open_.files.size(); ++i) {
      ::lseek(open_.files[i].second, 0, SEEK_SET);
      const std::string name = open_.files[i].first.filename().string();
      if (name == codec::kCurrentFile) break;
      std::uint64_t first = std::strtoull(name.c_str() + 6, nullptr, 10);
      if (first <= seq + 1) index_ = i;
    }
    return {};
  }

private:
  const crypto::SecretKey* key_;
  std::size_t index_ = 0;
  std::unique_ptr<LineReader> lines_;
  std::uint64_t skip_to_ = 0;
};

std::string where(const fs::path& file, std::uint64_t line) {
  return file.filename().string() + ": line " + std::to_string(line);
}

} // namespace

std::string to_json_line(const Record& record) {
  std::string line = codec::canonical_record(record.seq, record.time, record.event);
  line.pop_back();  // the closing brace
  return line + ",\"hash\":\"" + record.hash + "\"}";
}

Result<std::unique_ptr<TrailReader>> TrailReader::open(const fs::path& audit_dir, const crypto::SecretKey* key,
                                                       std::uint64_t newest_bytes) {
  auto r = std::make_unique<Reader>(key);
  if (auto s = open_files(audit_dir, r->open_, newest_bytes); !s) return std::unexpected(s.error());
  return std::unique_ptr<TrailReader>(std::move(r));
}

Result<VerifyReport> verify_trail(const fs::path& audit_dir, const crypto::SecretKey* key) {
  VerifyReport report;
  auto head = codec::read_head_file(audit_dir);
  if (!head) return std::unexpected(head.error());
  OpenFiles files;
  if (auto s = open_files(audit_dir, files); !s) return std::unexpected(s.error());
  report.files = files.files.size();
  if (files.files.empty()) {
    if (*head)
      return fail(Errc::corrupt, "no trail file, but trail.head's signed checkpoint commits to seq " +
                                     std::to_string((*head)->seq) + ": the trail was removed");
    return report;
  }
  auto pub = codec::load_verify_key(audit_dir, key);
  if (!pub) return std::unexpected(pub.error());
  {
    std::string h(pub->size() * 2 + 1, '\0');
    sodium_bin2hex(h.data(), h.size(), pub->data(), pub->size());
    h.pop_back();
    report.signing_key = h;
  }
  if (*head && !codec::verify_sig(*pub, **head))
    return fail(Errc::corrupt, "trail.head: the checkpoint's signature does not verify (altered)");

  std::uint64_t seq = 0;
  Hash hash{};
  bool head_reached = false;
  fs::path last_file;
  for (std::size_t f = 0; f < files.files.size(); ++f) {
    const auto& [path, fd] = files.files[f];
    last_file = path;
    // The sequence numbers present in this file (to tell a reordered record from a missing one).
    std::set<std::uint64_t> present;
    {
      LineReader scan(fd);
      for (std::string text; scan.next(text);)
        if (auto s = codec::peek_seq(text)) present.insert(*s);
      ::lseek(fd, 0, SEEK_SET);
    }
    LineReader lines(fd);
    std::string text;
    if (!lines.next(text)) {
      if (path.filename() == codec::kCurrentFile && f > 0 && !lines.torn()) continue;  // rotation in progress
      return fail(Errc::corrupt, path.filename().string() + ": empty, without its header (truncated)");
    }
    auto first = codec::parse_line(text, nullptr);
    if (!first || first->kind != codec::Line::Kind::head)
      return fail(Errc::corrupt, where(path, 1) + ": not a trail file header (altered, or not a trail file)");
    if (first->seq != seq || first->hash != hash) {
      if (f == 0)
        return fail(Errc::corrupt, path.filename().string() + " starts after seq " + std::to_string(first->seq) +
                                       ": the trail's earlier files are missing");
      return fail(Errc::corrupt, path.filename().string() + " continues from seq " + std::to_string(first->seq) +
                                     " but the previous file ends at seq " + std::to_string(seq) +
                                     ": a file is missing or was replaced");
    }
    while (lines.next(text)) {
      const std::uint64_t n = lines.number();
      if (text.empty()) return fail(Errc::corrupt, where(path, n) + ": empty line (altered)");
      if (auto s = codec::peek_seq(text)) {
        const std::uint64_t expected = seq + 1;
        if (*s < expected)
          return fail(Errc::corrupt, where(path, n) + ", seq " + std::to_string(*s) + ": after seq " +
                                         std::to_string(seq) + " (reordered or duplicated record)");
        if (*s > expected) {
          if (present.contains(expected))
            return fail(Errc::corrupt, where(path, n) + ", seq " + std::to_string(*s) + ": where seq " +
                                           std::to_string(expected) + " is due (reordered records)");
          return fail(Errc::corrupt, where(path, n) + ": seq " + std::to_string(expected) +
                                         (*s - 1 > expected ? " to " + std::to_string(*s - 1) : std::string()) +
                                         " missing before seq " + std::to_string(*s) + " (deleted records)");
        }
        auto line = codec::parse_line(text, key);
        if (!line) return fail(Errc::corrupt, where(path, n) + ", seq " + std::to_string(*s) + ": " + line.error().message);
        if (codec::chain(hash, line->canonical) != line->hash)
          return fail(Errc::corrupt, where(path, n) + ", seq " + std::to_string(*s) +
                                         ": the hash does not match the record and the chain (altered record)");
        seq = *s;
        hash = line->hash;
        ++report.records;
        if (report.first_time.empty()) report.first_time = line->record.time;
        report.last_time = line->record.time;
        if (*head && (*head)->seq == seq) {
          if ((*head)->hash != codec::hex(hash))
            return fail(Errc::corrupt, where(path, n) + ", seq " + std::to_string(seq) +
                                           ": differs from what trail.head's signed checkpoint commits to (altered)");
          head_reached = true;
        }
        continue;
      }
      auto line = codec::parse_line(text, nullptr);
      if (!line) return fail(Errc::corrupt, where(path, n) + ": not a trail line (" + line.error().message + ")");
      if (line->kind == codec::Line::Kind::head)
        return fail(Errc::corrupt, where(path, n) + ": a file header in the middle of a file (altered)");
      const codec::Checkpoint& c = line->checkpoint;
      if (!codec::verify_sig(*pub, c))
        return fail(Errc::corrupt, where(path, n) + ": checkpoint at seq " + std::to_string(c.seq) +
                                       ": the signature does not verify (altered)");
      if (c.seq > seq)
        return fail(Errc::corrupt, where(path, n) + ": seq " + std::to_string(seq + 1) +
                                       (c.seq > seq + 1 ? " to " + std::to_string(c.seq) : std::string()) +
                                       " missing before the checkpoint at seq " + std::to_string(c.seq) +
                                       " (deleted records)");
      if (c.seq != seq || c.hash != codec::hex(hash))
        return fail(Errc::corrupt, where(path, n) + ": checkpoint at seq " + std::to_string(c.seq) +
                                       " does not match the chain, which is at seq " + std::to_string(seq) +
                                       " (records before it were altered, removed or moved)");
      ++report.checkpoints;
      report.last_checkpoint_seq = c.seq;
    }
    if (lines.torn())
      return fail(Errc::corrupt, path.filename().string() + ": the last line after seq " + std::to_string(seq) +
                                     " is incomplete (truncated, or a crash mid-write)");
  }
  if (*head && !head_reached)
    return fail(Errc::corrupt, last_file.filename().string() + ": truncated: the trail ends at seq " +
                                   std::to_string(seq) + " but trail.head's signed checkpoint commits to seq " +
                                   std::to_string((*head)->seq));
  if (!*head && report.checkpoints > 0)
    return fail(Errc::corrupt, "trail.head is missing although the trail has checkpoints (removed)");
  report.last_seq = seq;
  return report;
}

} // namespace tresor::audit
