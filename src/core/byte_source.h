// Random-access read-only bytes: a stored object seen through its decryption
// (store/ opens it, dicom/ and http/ read it), or a plain file.
// Contract: read_at() fills `out` from `offset` and returns how many bytes it
// read (fewer only at the end); a chunk whose authentication fails is
// Errc::corrupt and nothing of it is returned. Safe to call from one thread at
// a time per object; open one per reader.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "core/error.h"

namespace tresor {

class ByteSource {
public:
  virtual ~ByteSource() = default;
  virtual std::uint64_t size() const noexcept = 0;  // plaintext size
  virtual Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) = 0;
};

} // namespace tresor
