// multipart/related (RFC 2387 / RFC 2046) for STOW-RS requests and WADO-RS
// responses. Pure code, no I/O: fuzzed by tests/fuzz/fuzz_multipart.
//
// Contract for MultipartParser:
//  - push parser: feed() any split of the body, then finish(); the result is
//    the same for every split (the delimiter may straddle two chunks);
//  - parts are reported in order: on_begin(headers), on_data(chunk)*,
//    on_end(); the preamble and epilogue are ignored;
//  - bounded: at most `max_parts` parts, at most `max_header_bytes` of
//    headers per part, at most 64 header lines; memory use is O(boundary +
//    header limit + chunk), never O(part size);
//  - malformed input (no opening delimiter, a header line without ':',
//    missing close delimiter at finish(), a limit exceeded) -> invalid_argument
//    or too_large with a reason; after an error every call returns it again;
//  - a sink error stops parsing and is returned as is.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include "core/error.h"
#include "http/http.h"

namespace tresor::http {

// Content-Type "multipart/related; type=...; boundary=..." split up.
struct MediaType {
  std::string type;      // lower-cased "type/subtype"
  Fields params;         // names lower-cased, values unquoted
  std::optional<std::string_view> param(std::string_view name) const;
};
// Parses a media type with parameters (RFC 9110 8.3.1); nullopt if malformed.
std::optional<MediaType> parse_media_type(std::string_view text);

class PartSink {
public:
  virtual ~PartSink() = default;
  virtual Status on_begin(const Fields& headers) = 0;
  virtual Status on_data(std::string_view bytes) = 0;
  virtual Status on_end() = 0;
};

struct MultipartLimits {
  std::size_t max_parts = 10000;
  std::size_t max_header_bytes = 16384;
};

class MultipartParser {
public:
  // boundary: 1..70 chars (RFC 2046); invalid -> the first feed() fails.
  MultipartParser(std::string boundary, MultipartLimits limits, PartSink& sink);
  Status feed(std::string_view chunk);
  Status finish();
  std::size_t parts() const { return parts_; }

private:
  enum class State { preamble, after_delimiter, headers, body, epilogue, failed };
  Status process(bool final);
  Status fail_with(Error error);
  Status parse_headers(std::string_view block);

  std::string delimiter_;   // "\r\n--" + boundary
  MultipartLimits limits_;
  PartSink& sink_;
  State state_ = State::preamble;
  std::string buf_;         // unprocessed input
  std::size_t parts_ = 0;
  Error error_;
};

// Writer side: the bytes that precede a part and the closing delimiter.
std::string part_header(std::string_view boundary, std::string_view content_type,
                        std::string_view content_location = {});
std::string closing_delimiter(std::string_view boundary);
// A random boundary (32 hex chars) that cannot occur in our own headers.
std::string make_boundary();

} // namespace tresor::http
