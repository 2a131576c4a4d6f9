// Free space a file system must keep: the store's reserve (store/blob_store.h)
// and the audit log's early warning (audit/audit.h) use the same figure.
#pragma once
#include <algorithm>
#include <cstdint>

namespace tresor {

// 1% of the file system's size, at least 1 MiB and at most 256 MiB.
constexpr std::uint64_t free_space_reserve(std::uint64_t total_bytes) noexcept {
  return std::clamp<std::uint64_t>(total_bytes / 100, std::uint64_t{1} << 20, std::uint64_t{256} << 20);
}

} // namespace tresor
