// ByteSources for the dicom/ unit tests: a plain file read with pread, a
// counter of the bytes read through a source, and path overloads of the
// dicom/ functions that read stored objects (they take a ByteSource: the
// store may keep objects encrypted), so tests can name sample files.
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "core/byte_source.h"
#include "dicom/compare.h"
#include "dicom/web.h"

namespace tresor::dicom::test {

class PreadSource final : public ByteSource {
public:
  explicit PreadSource(const std::filesystem::path& file) : fd_(::open(file.c_str(), O_RDONLY | O_CLOEXEC)) {
    struct stat st {};
    if (fd_ >= 0 && ::fstat(fd_, &st) == 0) size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~PreadSource() override {
    if (fd_ >= 0) ::close(fd_);
  }
  PreadSource(const PreadSource&) = delete;
  PreadSource& operator=(const PreadSource&) = delete;
  bool ok() const { return fd_ >= 0; }
  std::uint64_t size() const noexcept override { return size_; }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    std::size_t done = 0;
    while (done < out.size() && offset + done < size_) {
      const ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) return fail(Errc::io_error, "pread failed");
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

private:
  int fd_;
  std::uint64_t size_ = 0;
};

// Counts the bytes read (and the calls) through another source.
class CountingSource final : public ByteSource {
public:
  explicit CountingSource(std::shared_ptr<ByteSource> inner) : inner_(std::move(inner)) {}
  std::uint64_t size() const noexcept override { return inner_->size(); }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    ++calls;
    auto r = inner_->read_at(offset, out);
    if (r) bytes += *r;
    return r;
  }
  std::uint64_t bytes = 0;
  std::uint64_t calls = 0;

private:
  std::shared_ptr<ByteSource> inner_;
};

// A source whose reads fail from `bad_from` on (an authentication failure
// of a chunk of an encrypted object).
class FailingSource final : public ByteSource {
public:
  FailingSource(std::shared_ptr<ByteSource> inner, std::uint64_t bad_from)
      : inner_(std::move(inner)), bad_from_(bad_from) {}
  std::uint64_t size() const noexcept override { return inner_->size(); }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    if (offset + out.size() > bad_from_ && offset < inner_->size())
      return fail(Errc::corrupt, "chunk authentication failed");
    return inner_->read_at(offset, out);
  }

private:
  std::shared_ptr<ByteSource> inner_;
  std::uint64_t bad_from_;
};

// nullptr when the file cannot be opened (the functions answer not_found).
inline std::shared_ptr<ByteSource> source_of(const std::filesystem::path& file) {
  auto s = std::make_shared<PreadSource>(file);
  if (!s->ok()) return nullptr;
  return s;
}

} // namespace tresor::dicom::test

namespace tresor::dicom {

inline Result<std::string> to_dicom_json(const std::filesystem::path& file, const JsonOptions& options) {
  return to_dicom_json(test::source_of(file), options);
}
inline Result<std::string> bulk_value(const std::filesystem::path& file, std::string_view path) {
  return bulk_value(test::source_of(file), path);
}
inline Result<FrameInfo> frame_info(const std::filesystem::path& file) { return frame_info(test::source_of(file)); }
inline Result<Frame> read_frame(const std::filesystem::path& file, std::uint32_t number, std::string_view ts) {
  return read_frame(test::source_of(file), number, ts);
}
inline Result<std::string> render(const std::filesystem::path& file, const RenderOptions& options) {
  return render(test::source_of(file), options);
}
inline Status transcode(const std::filesystem::path& in, const std::filesystem::path& out, std::string_view ts) {
  return transcode(test::source_of(in), out, ts);
}
inline Result<bool> same_dataset(const std::filesystem::path& a, const std::filesystem::path& b,
                                 std::uint64_t max_decoded_bytes = kDefaultMaxCompareBytes) {
  return same_dataset(test::source_of(a), test::source_of(b), max_decoded_bytes);
}

} // namespace tresor::dicom
