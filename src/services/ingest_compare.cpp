// IngestService::same_as_archived: the re-send of an archived instance in
// another transfer syntax is a duplicate, not a conflict.
// Only reached when the index refused an object as a conflict (same SOP
// Instance UID, another blob key): both objects are decoded and compared by
// dicom::same_dataset (contract in dicom/compare.h: group 0002, padding and
// encoding ignored, pixels bit for bit, so a lossy re-send of a lossless
// original stays a conflict; JPEG 2000 decoded with OpenJPEG). Anything that
// cannot be compared (JPEG 2000 Part 2, video, a damaged codestream, objects
// above dicom::kDefaultMaxCompareBytes of pixels, a stored blob that went
// missing) keeps the refusal: an archive must never
// acknowledge as stored what it cannot prove it holds.
#include "core/log.h"
#include "dicom/compare.h"
#include "services/services.h"

namespace tresor::services {

bool IngestService::same_as_archived(const Prepared& p) {
  auto archived = index_.find_instance(p.record.sop_instance_uid);
  if (!archived || !*archived || (*archived)->blob_key == p.key) return false;
  auto archived_object = store_.open((*archived)->blob_key);
  auto new_object = store_.open(p.key);
  if (!archived_object || !new_object) return false;
  auto same = dicom::same_dataset(std::shared_ptr<ByteSource>(std::move(*archived_object)),
                                  std::shared_ptr<ByteSource>(std::move(*new_object)));
  if (!same) {
    log::info("re-sent instance not compared with the archived one: {}", same.error().message);
    return false;
  }
  return *same;
}

} // namespace tresor::services
