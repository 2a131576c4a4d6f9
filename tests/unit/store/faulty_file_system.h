// Test support (header only, shared by unit_store and unit_services): the
// real file system, except for the faults a test arms. A fault makes the
// chosen system call fail with the chosen errno without calling the kernel,
// as a full disk (ENOSPC), a failing device (EIO) or a full directory
// (EMLINK) would.
#pragma once
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <mutex>

#include "store/file_system.h"

namespace tresor::fault {

class FaultyFileSystem final : public store::FileSystem {
public:
  enum class Op { create, open, read, write, fsync, syncfs, link, unlink, mkdir, statvfs };

  // After `skip` more calls of `op` succeed, the next `times` calls fail
  // with `err` (times < 0: every later call).
  void fail(Op op, int err, int times = 1, int skip = 0) {
    std::lock_guard lock(mu_);
    faults_[op] = Fault{err, times, skip};
  }
  void heal() {
    std::lock_guard lock(mu_);
    faults_.clear();
  }
  // Calls of `op` so far (failed ones included).
  int calls(Op op) const {
    std::lock_guard lock(mu_);
    auto it = calls_.find(op);
    return it == calls_.end() ? 0 : it->second;
  }
  // fstatvfs reports `bytes` available on a file system of `total` bytes
  // (0 = report the real figures).
  void free_space(std::uint64_t bytes, std::uint64_t total) {
    std::lock_guard lock(mu_);
    free_bytes_ = bytes;
    total_bytes_ = total;
  }
  // fstatfs reports this file-system type (0 = the real one).
  void fs_type(long type) {
    std::lock_guard lock(mu_);
    fs_type_ = type;
  }
  int failures() const {
    std::lock_guard lock(mu_);
    return failures_;
  }

  int open(const char* path, int flags, mode_t mode) override {
    if (inject((flags & O_CREAT) ? Op::create : Op::open)) return -1;
    return real_.open(path, flags, mode);
  }
  int close(int fd) override { return real_.close(fd); }
  ssize_t read(int fd, void* buf, std::size_t count) override {
    return inject(Op::read) ? -1 : real_.read(fd, buf, count);
  }
  ssize_t write(int fd, const void* buf, std::size_t count) override {
    return inject(Op::write) ? -1 : real_.write(fd, buf, count);
  }
  int fsync(int fd) override { return inject(Op::fsync) ? -1 : real_.fsync(fd); }
  int syncfs(int fd) override { return inject(Op::syncfs) ? -1 : real_.syncfs(fd); }
  int link(const char* from, const char* to) override { return inject(Op::link) ? -1 : real_.link(from, to); }
  int unlink(const char* path) override { return inject(Op::unlink) ? -1 : real_.unlink(path); }
  int mkdir(const char* path, mode_t mode) override { return inject(Op::mkdir) ? -1 : real_.mkdir(path, mode); }
  int fstatvfs(int fd, struct statvfs* buf) override {
    if (inject(Op::statvfs)) return -1;
    if (int rc = real_.fstatvfs(fd, buf); rc != 0) return rc;
    std::lock_guard lock(mu_);
    if (total_bytes_ > 0) {
      buf->f_frsize = 4096;
      buf->f_blocks = total_bytes_ / 4096;
      buf->f_bavail = buf->f_bfree = free_bytes_ / 4096;
    }
    return 0;
  }
  int fstatfs(int fd, struct statfs* buf) override {
    if (int rc = real_.fstatfs(fd, buf); rc != 0) return rc;
    std::lock_guard lock(mu_);
    if (fs_type_ != 0) buf->f_type = fs_type_;
    return 0;
  }

private:
  struct Fault {
    int err = 0;
    int times = 0;
    int skip = 0;
  };
  // true = this call fails (errno set).
  bool inject(Op op) {
    int err = 0;
    {
      std::lock_guard lock(mu_);
      ++calls_[op];
      auto it = faults_.find(op);
      if (it == faults_.end() || it->second.times == 0) return false;
      Fault& f = it->second;
      if (f.skip > 0) {
        --f.skip;
        return false;
      }
      if (f.times > 0) --f.times;
      err = f.err;
      ++failures_;
    }
    errno = err;
    return true;
  }

  store::FileSystem& real_ = store::real_file_system();
  mutable std::mutex mu_;
  std::map<Op, Fault> faults_;
  std::map<Op, int> calls_;
  int failures_ = 0;
  std::uint64_t free_bytes_ = 0, total_bytes_ = 0;
  long fs_type_ = 0;
};

} // namespace tresor::fault
