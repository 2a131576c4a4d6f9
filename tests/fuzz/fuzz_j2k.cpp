// Fuzz target: the JPEG 2000 frame decoder (dicom/j2k_decode.h, OpenJPEG),
// which decodes the encapsulated frames of stored objects for the re-send
// comparison (compare.h) and for WADO-RS frames / retrieval converted to
// Explicit VR Little Endian. The input is one frame: a J2K codestream or a
// JP2 file. It is decoded with the geometry its own header declares (so
// that decoding goes deep), then with a geometry that disagrees, which must
// be refused.
#include <cstdint>
#include <string_view>

#include "dicom/j2k_decode.h"
#include "fuzz_common.h"

namespace {

using namespace tresor;
using dicom::detail::J2kGeometry;

constexpr std::uint64_t kMaxOutput = 16u << 20;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto header = dicom::detail::j2k_header(in);
  if (!header) {
    // Nothing readable: decoding with some geometry must fail too.
    TRESOR_FUZZ_CHECK(!dicom::detail::decode_j2k_frame(in, J2kGeometry{64, 64, 1, 16, 16, true}, kMaxOutput));
    return 0;
  }
  J2kGeometry g = *header;
  if (g.bits_allocated == 0) return 0;  // precision above 16: refused before decoding
  auto out = dicom::detail::decode_j2k_frame(in, g, kMaxOutput);
  if (out) {
    const std::uint64_t expected = std::uint64_t(g.rows) * g.columns * g.samples_per_pixel * (g.bits_allocated / 8);
    TRESOR_FUZZ_CHECK(out->size() == expected);
  }
  J2kGeometry other = g;
  other.rows = g.rows + 1;
  TRESOR_FUZZ_CHECK(!dicom::detail::decode_j2k_frame(in, other, kMaxOutput));
  other = g;
  other.is_signed = !g.is_signed;
  TRESOR_FUZZ_CHECK(!dicom::detail::decode_j2k_frame(in, other, kMaxOutput));
  return 0;
}
