// Shared helpers of the fuzz targets (header-only, fuzz builds only).
#pragma once
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace tresor::fuzz {

// A per-process scratch directory under $TMPDIR, removed at exit. libFuzzer
// runs with -fork/-jobs start several processes; each gets its own.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tresor-fuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    return std::filesystem::path(tmpl);
  }();
  static const int registered = std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  });
  (void)registered;
  return dir;
}

// System calls a signal can interrupt. libFuzzer's SIGALRM timer (-timeout)
// and its SIGUSR1/2 handlers are installed without SA_RESTART, so any
// blocking call of a harness may fail with EINTR at random; every harness
// goes through these helpers instead of calling them directly.

// write(2) of the whole buffer, retried on EINTR and short writes. False on
// any other error.
inline bool write_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// send(2) of the whole buffer (MSG_NOSIGNAL), retried like write_all.
inline bool send_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// connect(2) of a blocking socket. An interrupted connect() is not undone:
// the connection continues asynchronously (POSIX), and calling connect()
// again would answer EALREADY/EISCONN. So on EINTR wait (poll, itself
// retried on EINTR) until the socket is writable and take the outcome from
// SO_ERROR. True when connected; errno is set otherwise.
inline bool connect_retrying(int fd, const sockaddr* addr, socklen_t len) {
  if (::connect(fd, addr, len) == 0) return true;
  if (errno != EINTR) return false;
  for (;;) {
    pollfd p{fd, POLLOUT, 0};
    const int r = ::poll(&p, 1, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    break;
  }
  int err = 0;
  socklen_t err_len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) return false;
  if (err != 0) {
    errno = err;
    return false;
  }
  return true;
}

// accept4(2), retried on EINTR.
inline int accept_retrying(int listener, int flags) {
  int fd;
  do fd = ::accept4(listener, nullptr, nullptr, flags);
  while (fd < 0 && errno == EINTR);
  return fd;
}

// Crash on a violated contract (an invariant the fuzzer must not break).
#define TRESOR_FUZZ_CHECK(cond)                                                    \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "contract violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

} // namespace tresor::fuzz
