// Fuzz target: the Accept header parser of the DICOMweb handlers
// (http::detail::parse_accept / accepts) and parse_media_type.
// Contract checked: no entry with q=0 survives, q is in (0,1], the list is
// sorted by q descending; "*/*" and an absent header accept everything.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "http/dicomweb_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tresor::http;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto list = detail::parse_accept(in);
  for (std::size_t i = 0; i < list.size(); ++i) {
    TRESOR_FUZZ_CHECK(list[i].q > 0.0 && list[i].q <= 1.0);
    if (i) TRESOR_FUZZ_CHECK(list[i - 1].q >= list[i].q);
  }
  for (const char* type : {"application/dicom+json", "application/dicom", "multipart/related", "image/jpeg"})
    (void)detail::accepts(list, type);
  TRESOR_FUZZ_CHECK(detail::accepts(detail::parse_accept(std::nullopt), "application/dicom+json"));
  (void)parse_media_type(in);
  return 0;
}
