// Internal to src/http: BodyProducers that stream stored files, so a
// response never holds more than one chunk (1 MiB) in memory.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>
#include "core/error.h"
#include "http/http.h"

namespace tresor::http::detail {

inline constexpr std::size_t kChunk = 1 << 20;

// One part of a multipart response. Either `file` is streamed, or `make`
// produces a file on demand (transcoding into a temporary file that is
// removed after it was sent), or `bytes` is sent as is.
struct PartSource {
  std::string content_type;
  std::string content_location;
  std::filesystem::path file;
  std::uint64_t size = 0;              // of `file`, when known
  std::function<Result<std::filesystem::path>()> make;  // produces a temp file (removed after sending)
  std::string bytes;
  bool use_bytes = false;
};

// multipart/related with the given boundary.
std::unique_ptr<BodyProducer> multipart_producer(std::vector<PartSource> parts, std::string boundary);
// Content-Length of multipart_producer()'s output when every part is a
// plain file or bytes (nullopt when a part is produced on demand).
std::optional<std::uint64_t> multipart_length(const std::vector<PartSource>& parts, const std::string& boundary);

// One whole file.
std::unique_ptr<BodyProducer> file_producer(std::filesystem::path file);

// Produces pieces from a generator: gen(index, out) appends piece `index`
// and returns false when there is none (a JSON array of metadata objects).
std::unique_ptr<BodyProducer> generator_producer(std::function<Result<bool>(std::size_t, std::string&)> gen);

} // namespace tresor::http::detail
