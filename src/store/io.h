// Store-internal I/O helpers shared by the plain and the encrypting paths.
#pragma once
#include <cstddef>
#include <string>

#include "core/error.h"
#include "store/file_system.h"

namespace tresor::store::detail {

// A full file system (or quota) is "out of resources" (C-STORE 0xA700, HTTP
// 503: the sender may retry later); anything else is an I/O error.
Error io_error(const std::string& what, int err);

// Writes all of [data, data + size) to fd through the seam (short writes and
// EINTR retried; a zero-byte write is EIO).
Status write_all(FileSystem& fsys, int fd, const void* data, std::size_t size);

} // namespace tresor::store::detail
