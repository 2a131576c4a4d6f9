// Fuzz target: multipart/related bodies (STOW-RS requests) and media types.
// Input: one byte (chunk size), "<Content-Type value>\n<body>". The Content-Type goes through
// parse_media_type; its boundary parameter (or "frontier" if there is none)
// parses the body twice: in one piece, then split into chunks of
// 1 + byte % 97 bytes. The MultipartParser contract says the
// result is the same for every split: any difference aborts.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "http/multipart.h"

namespace {

using namespace tresor;

struct Recorded {
  std::vector<http::Fields> headers;
  std::vector<std::string> bodies;
  bool open = false;
};

class RecordingSink final : public http::PartSink {
public:
  Recorded r;
  Status on_begin(const http::Fields& headers) override {
    TRESOR_FUZZ_CHECK(!r.open);
    r.open = true;
    r.headers.push_back(headers);
    r.bodies.emplace_back();
    return {};
  }
  Status on_data(std::string_view bytes) override {
    TRESOR_FUZZ_CHECK(r.open);
    r.bodies.back().append(bytes);
    return {};
  }
  Status on_end() override {
    TRESOR_FUZZ_CHECK(r.open);
    r.open = false;
    return {};
  }
};

struct Outcome {
  Status status;
  Recorded recorded;
  std::size_t parts = 0;
};

Outcome run(const std::string& boundary, std::string_view body, std::size_t chunk) {
  http::MultipartLimits limits;
  limits.max_parts = 64;
  limits.max_header_bytes = 1024;
  RecordingSink sink;
  http::MultipartParser parser(boundary, limits, sink);
  Status st;
  for (std::size_t at = 0; at < body.size() && st; at += chunk) st = parser.feed(body.substr(at, chunk));
  if (st) st = parser.finish();
  return {st, sink.r, parser.parts()};
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 97;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  std::size_t nl = in.find('\n');
  std::string_view ctype = nl == std::string_view::npos ? in : in.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);

  std::string boundary = "frontier";
  if (auto media = http::parse_media_type(ctype)) {
    // parse_media_type lower-cases the type and parameter names.
    for (char c : media->type) TRESOR_FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
    if (auto b = media->param("boundary")) boundary = std::string(*b);
  }

  Outcome whole = run(boundary, body, body.size() ? body.size() : 1);
  Outcome split = run(boundary, body, chunk);
  TRESOR_FUZZ_CHECK(whole.status.has_value() == split.status.has_value());
  if (whole.status) {
    TRESOR_FUZZ_CHECK(whole.parts == split.parts);
    TRESOR_FUZZ_CHECK(whole.recorded.headers == split.recorded.headers);
    TRESOR_FUZZ_CHECK(whole.recorded.bodies == split.recorded.bodies);
    TRESOR_FUZZ_CHECK(!whole.recorded.open);
    TRESOR_FUZZ_CHECK(whole.parts <= 64);
  } else {
    TRESOR_FUZZ_CHECK(whole.status.error().code == split.status.error().code);
  }
  return 0;
}
