// The directory and zip targets of ExportService (export.h).
#include <zip.h>

#include <system_error>

#include "services/export.h"

namespace tresor::services {

namespace fs = std::filesystem;

namespace {

// Relative names come from new UIDs and pseudonyms only; refuse anything else.
bool safe_name(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.find("..") != std::string::npos) return false;
  for (char c : name)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' || c == '/')) return false;
  return true;
}

class DirectorySink final : public ExportSink {
public:
  explicit DirectorySink(fs::path dir) : dir_(std::move(dir)) {}
  const char* kind() const noexcept override { return "dir"; }
  Status put(const fs::path& file, const std::string& name) override {
    if (!safe_name(name)) return fail(Errc::internal, "unsafe export file name");
    const fs::path dst = dir_ / name;
    std::error_code ec;
    fs::create_directories(dst.parent_path(), ec);
    if (ec) return fail(Errc::io_error, "cannot create a directory under the export target: " + ec.message());
    fs::copy_file(file, dst, fs::copy_options::overwrite_existing, ec);
    if (ec) return fail(Errc::io_error, "cannot write to the export target: " + ec.message());
    return {};
  }
  Status finish() override { return {}; }

private:
  fs::path dir_;
};

// libzip reads each added file when the archive is closed: the files wait in
// a staging directory next to the archive until finish().
class ZipSink final : public ExportSink {
public:
  ZipSink(fs::path file, zip_t* zip, fs::path staging)
      : file_(std::move(file)), zip_(zip), staging_(std::move(staging)) {}
  ~ZipSink() override {
    if (zip_) zip_discard(zip_);
    std::error_code ec;
    fs::remove_all(staging_, ec);
    if (!finished_) fs::remove(part(), ec);
  }
  ZipSink(const ZipSink&) = delete;
  ZipSink& operator=(const ZipSink&) = delete;
  const char* kind() const noexcept override { return "zip"; }
  Status put(const fs::path& file, const std::string& name) override {
    if (!safe_name(name)) return fail(Errc::internal, "unsafe export file name");
    const fs::path staged = staging_ / std::to_string(count_++);
    std::error_code ec;
    fs::copy_file(file, staged, ec);
    if (ec) return fail(Errc::io_error, "cannot stage a file for the zip: " + ec.message());
    zip_source_t* src = zip_source_file(zip_, staged.c_str(), 0, -1);
    if (!src) return fail(Errc::io_error, std::string("zip: ") + zip_strerror(zip_));
    if (zip_file_add(zip_, name.c_str(), src, ZIP_FL_ENC_UTF_8) < 0) {
      zip_source_free(src);
      return fail(Errc::io_error, std::string("zip: ") + zip_strerror(zip_));
    }
    return {};
  }
  Status finish() override {
    if (zip_close(zip_) != 0) return fail(Errc::io_error, std::string("zip: ") + zip_strerror(zip_));
    zip_ = nullptr;
    std::error_code ec;
    fs::rename(part(), file_, ec);
    if (ec) return fail(Errc::io_error, "cannot rename the zip into place: " + ec.message());
    finished_ = true;
    return {};
  }

private:
  fs::path part() const { return fs::path(file_.string() + ".part"); }
  fs::path file_;
  zip_t* zip_;
  fs::path staging_;
  std::size_t count_ = 0;
  bool finished_ = false;
};

} // namespace

Result<std::unique_ptr<ExportSink>> open_directory_sink(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) return fail(Errc::invalid_argument, "the export target is not a directory");
    if (!fs::is_empty(dir, ec)) return fail(Errc::invalid_argument, "the export directory is not empty");
  }
  fs::create_directories(dir, ec);
  if (ec) return fail(Errc::io_error, "cannot create the export directory: " + ec.message());
  return std::unique_ptr<ExportSink>(new DirectorySink(dir));
}

Result<std::unique_ptr<ExportSink>> open_zip_sink(const fs::path& file) {
  std::error_code ec;
  if (fs::exists(file, ec)) return fail(Errc::invalid_argument, "the zip file exists already");
  const fs::path part = file.string() + ".part";
  const fs::path staging = file.string() + ".staging";
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) return fail(Errc::io_error, "cannot create the zip staging directory: " + ec.message());
  int err = 0;
  zip_t* z = zip_open(part.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!z) {
    fs::remove_all(staging, ec);
    return fail(Errc::io_error, "cannot create the zip file");
  }
  return std::unique_ptr<ExportSink>(new ZipSink(file, z, staging));
}

} // namespace tresor::services
