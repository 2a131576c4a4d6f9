#include "http/producers.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>

#include "http/multipart.h"

namespace tresor::http::detail {
namespace {

// Reads a file sequentially with plain read(2); owns the descriptor.
class FileReader {
public:
  FileReader() = default;
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;
  ~FileReader() { close(); }
  Status open(const std::filesystem::path& path) {
    close();
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return fail(Errc::io_error, "cannot open a stored object");
#ifdef POSIX_FADV_SEQUENTIAL
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    return {};
  }
  // Appends up to `max` bytes; returns false at end of file.
  Result<bool> read(std::string& out, std::size_t max) {
    const std::size_t old = out.size();
    ssize_t n = 0;
    // resize_and_overwrite: the new bytes are not zeroed first (a WADO-RS
    // answer would otherwise be written twice through memory).
    out.resize_and_overwrite(old + max, [&](char* p, std::size_t) {
      do {
        n = ::read(fd_, p + old, max);
      } while (n < 0 && errno == EINTR);
      return old + (n > 0 ? static_cast<std::size_t>(n) : 0);
    });
    if (n < 0) return fail(Errc::io_error, "read error on a stored object");
    return n > 0;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool is_open() const { return fd_ >= 0; }

private:
  int fd_ = -1;
};

// Reads a stored object sequentially from its ByteSource, one chunk at a time.
class SourceReader {
public:
  void open(std::unique_ptr<ByteSource> source) {
    source_ = std::move(source);
    offset_ = 0;
  }
  // Appends up to `max` bytes; returns false at the end of the object.
  Result<bool> read(std::string& out, std::size_t max) {
    const std::uint64_t left = source_->size() - offset_;
    if (left == 0) return false;
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, max));
    const std::size_t old = out.size();
    Result<std::size_t> got = 0;
    out.resize_and_overwrite(old + want, [&](char* p, std::size_t) {
      got = source_->read_at(offset_, std::span<std::byte>(reinterpret_cast<std::byte*>(p + old), want));
      return old + (got ? *got : 0);
    });
    if (!got) return std::unexpected(got.error());
    if (*got == 0) return fail(Errc::corrupt, "stored object shorter than its size");
    offset_ += *got;
    return true;
  }
  void close() { source_.reset(); }
  bool is_open() const { return source_ != nullptr; }

private:
  std::unique_ptr<ByteSource> source_;
  std::uint64_t offset_ = 0;
};

class MultipartProducer final : public BodyProducer {
public:
  MultipartProducer(std::vector<PartSource> parts, std::string boundary)
      : parts_(std::move(parts)), boundary_(std::move(boundary)) {}
  ~MultipartProducer() override { drop_temp(); }

  Result<bool> next(std::string& out) override {
    for (;;) {
      if (index_ >= parts_.size()) {
        if (closed_) return false;
        out += closing_delimiter(boundary_);
        closed_ = true;
        return false;
      }
      PartSource& part = parts_[index_];
      if (!started_) {
        out += part_header(boundary_, part.content_type, part.content_location);
        started_ = true;
        if (part.use_bytes) {
          out += part.bytes;
          out += "\r\n";
          advance();
          if (out.size() >= kChunk) return true;
          continue;
        }
        if (part.make) {
          auto made = part.make();
          if (!made) return std::unexpected(made.error());
          temp_ = *made;
          if (auto st = reader_.open(temp_); !st) return std::unexpected(st.error());
        } else {
          if (!part.open) return fail(Errc::not_found, "no such stored object");
          auto source = part.open();
          if (!source) return std::unexpected(source.error());
          // The length was announced from the index: never send another.
          if ((*source)->size() != part.size) return fail(Errc::corrupt, "stored object size changed");
          source_.open(std::move(*source));
        }
      }
      auto more = source_.is_open() ? source_.read(out, kChunk) : reader_.read(out, kChunk);
      if (!more) return std::unexpected(more.error());
      if (!*more) {
        out += "\r\n";
        reader_.close();
        source_.close();
        drop_temp();
        advance();
      }
      if (out.size() >= kChunk / 2) return true;
    }
  }

private:
  void advance() {
    ++index_;
    started_ = false;
  }
  void drop_temp() {
    if (!temp_.empty()) {
      std::error_code ec;
      std::filesystem::remove(temp_, ec);
      temp_.clear();
    }
  }
  std::vector<PartSource> parts_;
  std::string boundary_;
  std::size_t index_ = 0;
  bool started_ = false;
  bool closed_ = false;
  FileReader reader_;
  SourceReader source_;
  std::filesystem::path temp_;
};

class FileProducer final : public BodyProducer {
public:
  explicit FileProducer(std::filesystem::path file) : file_(std::move(file)) {}
  Result<bool> next(std::string& out) override {
    if (!reader_.is_open()) {
      if (done_) return false;
      if (auto st = reader_.open(file_); !st) return std::unexpected(st.error());
    }
    auto more = reader_.read(out, kChunk);
    if (!more) return std::unexpected(more.error());
    if (!*more) {
      reader_.close();
      done_ = true;
      return false;
    }
    return true;
  }

private:
  std::filesystem::path file_;
  FileReader reader_;
  bool done_ = false;
};

class SourceProducer final : public BodyProducer {
public:
  explicit SourceProducer(std::unique_ptr<ByteSource> source) { reader_.open(std::move(source)); }
  Result<bool> next(std::string& out) override {
    if (!reader_.is_open()) return false;
    auto more = reader_.read(out, kChunk);
    if (!more) return std::unexpected(more.error());
    if (!*more) {
      reader_.close();
      return false;
    }
    return true;
  }

private:
  SourceReader reader_;
};

class GeneratorProducer final : public BodyProducer {
public:
  explicit GeneratorProducer(std::function<Result<bool>(std::size_t, std::string&)> gen) : gen_(std::move(gen)) {}
  Result<bool> next(std::string& out) override {
    while (!done_ && out.size() < kChunk / 2) {
      auto more = gen_(index_++, out);
      if (!more) return std::unexpected(more.error());
      if (!*more) done_ = true;
    }
    return !done_;
  }

private:
  std::function<Result<bool>(std::size_t, std::string&)> gen_;
  std::size_t index_ = 0;
  bool done_ = false;
};

} // namespace

std::unique_ptr<BodyProducer> multipart_producer(std::vector<PartSource> parts, std::string boundary) {
  return std::make_unique<MultipartProducer>(std::move(parts), std::move(boundary));
}

std::optional<std::uint64_t> multipart_length(const std::vector<PartSource>& parts, const std::string& boundary) {
  std::uint64_t total = closing_delimiter(boundary).size();
  for (const PartSource& p : parts) {
    if (p.make) return std::nullopt;
    total += part_header(boundary, p.content_type, p.content_location).size() + 2;
    if (p.use_bytes) {
      total += p.bytes.size();
    } else {
      total += p.size;
    }
  }
  return total;
}

std::unique_ptr<BodyProducer> file_producer(std::filesystem::path file) {
  return std::make_unique<FileProducer>(std::move(file));
}

std::unique_ptr<BodyProducer> source_producer(std::unique_ptr<ByteSource> source) {
  return std::make_unique<SourceProducer>(std::move(source));
}

std::unique_ptr<BodyProducer> generator_producer(std::function<Result<bool>(std::size_t, std::string&)> gen) {
  return std::make_unique<GeneratorProducer>(std::move(gen));
}

} // namespace tresor::http::detail
