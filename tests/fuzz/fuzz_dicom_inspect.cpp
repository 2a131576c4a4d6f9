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

#include <cstdint>
#include <string>

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

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dicom::init_globals();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path file = fuzz::scratch_dir() / "object.dcm";
  if (!write_file(file, data, size)) std::abort();

  dicom::Limits limits;
  limits.max_object_bytes = 4u << 20;
  limits.max_sequence_depth = 16;
  auto inspected = dicom::inspect_file(file, limits);
  if (!inspected) return 0;
  TRESOR_FUZZ_CHECK(dicom::is_valid_uid(inspected->record.sop_instance_uid));
  TRESOR_FUZZ_CHECK(dicom::is_valid_uid(inspected->record.study_uid));
  TRESOR_FUZZ_CHECK(dicom::is_valid_uid(inspected->record.series_uid));

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
