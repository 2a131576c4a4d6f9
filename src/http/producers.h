// Internal to src/http: BodyProducers that stream stored objects (through
// their ByteSource: the plaintext of a possibly encrypted blob) and
// temporary files, so a response never holds more than one chunk (1 MiB) in
// memory and reads (decrypts) each stored byte once, as it is sent.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>
#include "core/byte_source.h"
#include "core/error.h"
#include "http/http.h"

namespace tresor::http::detail {

inline constexpr std::size_t kChunk = 1 << 20;

// Opens a stored object's plaintext (services::RetrieveService::open).
using SourceOpener = std::function<Result<std::unique_ptr<ByteSource>>()>;

// One part of a multipart response. Either the stored object `open` gives is
// streamed (opened when its turn comes, so a study's answer holds one open
// object at a time; its size must be `size`, else the answer is cut off with
// an error rather than sent with a wrong length), or `make` produces a file
// on demand (transcoding into a temporary file that is removed after it was
// sent), or `bytes` is sent as is.
struct PartSource {
  std::string content_type;
  std::string content_location;
  SourceOpener open;
  std::uint64_t size = 0;              // of the object `open` gives
  std::function<Result<std::filesystem::path>()> make;  // produces a temp file (removed after sending)
  std::string bytes;
  bool use_bytes = false;
};

// multipart/related with the given boundary.
std::unique_ptr<BodyProducer> multipart_producer(std::vector<PartSource> parts, std::string boundary);
// Content-Length of multipart_producer()'s output when every part is a
// stored object or bytes (nullopt when a part is produced on demand).
std::optional<std::uint64_t> multipart_length(const std::vector<PartSource>& parts, const std::string& boundary);

// One whole file (a temporary conversion output, not a stored object).
std::unique_ptr<BodyProducer> file_producer(std::filesystem::path file);

// One whole stored object, read chunk by chunk (kChunk) from its source.
std::unique_ptr<BodyProducer> source_producer(std::unique_ptr<ByteSource> source);

// Produces pieces from a generator: gen(index, out) appends piece `index`
// and returns false when there is none (a JSON array of metadata objects).
std::unique_ptr<BodyProducer> generator_producer(std::function<Result<bool>(std::size_t, std::string&)> gen);

} // namespace tresor::http::detail
