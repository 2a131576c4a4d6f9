// The kernel's file system behind the store's seam (store/file_system.h).
#include "store/file_system.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace tresor::store {
namespace {

class RealFileSystem final : public FileSystem {
public:
  int open(const char* path, int flags, mode_t mode) override { return ::open(path, flags, mode); }
  int close(int fd) override { return ::close(fd); }
  ssize_t read(int fd, void* buf, std::size_t count) override { return ::read(fd, buf, count); }
  ssize_t write(int fd, const void* buf, std::size_t count) override { return ::write(fd, buf, count); }
  int fsync(int fd) override { return ::fsync(fd); }
  int syncfs(int fd) override { return ::syncfs(fd); }
  int link(const char* from, const char* to) override { return ::link(from, to); }
  int unlink(const char* path) override { return ::unlink(path); }
  int mkdir(const char* path, mode_t mode) override { return ::mkdir(path, mode); }
  int fstatvfs(int fd, struct statvfs* buf) override { return ::fstatvfs(fd, buf); }
  int fstatfs(int fd, struct statfs* buf) override { return ::fstatfs(fd, buf); }
};

} // namespace

int FileSystem::fstat(int fd, struct stat* buf) { return ::fstat(fd, buf); }
ssize_t FileSystem::pwrite(int fd, const void* buf, std::size_t count, off_t offset) {
  return ::pwrite(fd, buf, count, offset);
}

FileSystem& real_file_system() noexcept {
  static RealFileSystem real;  // stateless
  return real;
}

} // namespace tresor::store
