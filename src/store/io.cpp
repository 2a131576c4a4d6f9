#include "store/io.h"

#include <cerrno>
#include <cstring>

namespace tresor::store::detail {

Error io_error(const std::string& what, int err) {
  return make_error(err == ENOSPC || err == EDQUOT ? Errc::resource_exhausted : Errc::io_error,
                    what + ": " + std::strerror(err));
}

Status write_all(FileSystem& fsys, int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = fsys.write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(io_error("write temp blob", errno));
    if (n == 0) return std::unexpected(io_error("write temp blob", EIO));
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

} // namespace tresor::store::detail
