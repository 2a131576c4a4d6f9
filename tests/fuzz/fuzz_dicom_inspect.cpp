// Fuzz target: received and imported objects (Part-10 files or bare data
// sets), through the same entry point as the ingest service:
// dicom::inspect_file (bounded pre-scan, then DCMTK) with tight limits.
// Objects it accepts then go through what DICOMweb does with a stored file:
// to_dicom_json (checked to be valid JSON), bulk_value, frame_info,
// read_frame (as stored and decoded to Explicit VR LE) and render (JPEG and
// PNG, scaled down): the Rows x Columns x Frames x BitsAllocated paths of
// CVE-2024-47796 / CVE-2024-52333.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dicom/inspect.h"
#include "dicom/web.h"
#include "fuzz_common.h"

namespace {

using namespace tresor;

bool write_file(const std::filesystem::path& path, const std::uint8_t* data, std::size_t size) {
  int fd;
  do fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return false;
  const bool ok = fuzz::write_all(fd, data, size);
  ::close(fd);  // never retried: on Linux the descriptor is gone even on EINTR
  return ok;
}

// The accepted object as the readers see a stored one: a ByteSource (the
// store's decrypting source in the server; the input's bytes here).
class MemorySource final : public ByteSource {
public:
  MemorySource(const std::uint8_t* data, std::size_t size) : bytes_(data, data + size) {}
  std::uint64_t size() const noexcept override { return bytes_.size(); }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    if (offset >= bytes_.size()) return std::size_t{0};
    const std::size_t n = std::min<std::size_t>(out.size(), bytes_.size() - offset);
    std::memcpy(out.data(), bytes_.data() + offset, n);
    return n;
  }
private:
  std::vector<std::uint8_t> bytes_;
};

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dicom::init_globals();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path path = fuzz::scratch_dir() / "object.dcm";
  if (!write_file(path, data, size)) std::abort();

  dicom::Limits limits;
  limits.max_object_bytes = 4u << 20;
  limits.max_sequence_depth = 16;
  auto inspected = dicom::inspect_file(path, limits);
  if (!inspected) return 0;
  TRESOR_FUZZ_CHECK(dicom::is_valid_uid(inspected->record.sop_instance_uid));
  TRESOR_FUZZ_CHECK(dicom::is_valid_uid(inspected->record.study_uid));
  TRESOR_FUZZ_CHECK(dicom::is_valid_uid(inspected->record.series_uid));

  const std::shared_ptr<ByteSource> file = std::make_shared<MemorySource>(data, size);
  dicom::JsonOptions jo;
  jo.instance_url = "https://pacs.example/dicom-web/studies/1/series/2/instances/3";
  jo.bulk_threshold = 64;
  if (auto json = dicom::to_dicom_json(file, jo)) TRESOR_FUZZ_CHECK(nlohmann::json::accept(*json));
  (void)dicom::bulk_value(file, "7fe00010");

  auto info = dicom::frame_info(file);
  if (!info || info->number_of_frames == 0) return 0;
  (void)dicom::read_frame(file, 1, "*");
  (void)dicom::read_frame(file, info->number_of_frames, "1.2.840.10008.1.2.1");
  (void)dicom::read_frame(file, info->number_of_frames + 1, "*");  // out of range: must fail cleanly

  dicom::RenderOptions ro;
  ro.max_rows = 64;
  ro.max_columns = 64;
  (void)dicom::render(file, ro);
  ro.format = dicom::ImageFormat::png;
  ro.frame = info->number_of_frames;
  ro.window_center = 40;
  ro.window_width = 400;
  (void)dicom::render(file, ro);
  return 0;
}
