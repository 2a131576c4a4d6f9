// File-system seam of the blob store. Every system call the store makes on
// its files (create, write, fsync, syncfs, link, unlink, mkdir, fstatvfs, fstatfs)
// goes through one FileSystem, so a test can make any of them fail the way a
// real disk does (ENOSPC, EIO, EMLINK, a nearly full file system) without a
// real full or failing disk.
// Contract:
//  - each method has the semantics of the POSIX call of the same name: it
//    returns what that call returns and, on failure, sets errno;
//  - real_file_system() calls the kernel; it is stateless, thread-safe and
//    lives for the whole process. It is the default of open_fs_store().
//  - an implementation used by a store must outlive the store and be safe to
//    call from several threads (ingest runs on many).
#pragma once
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <cstddef>

namespace tresor::store {

class FileSystem {
public:
  virtual ~FileSystem() = default;
  virtual int open(const char* path, int flags, mode_t mode) = 0;
  virtual int close(int fd) = 0;
  virtual ssize_t read(int fd, void* buf, std::size_t count) = 0;
  virtual ssize_t write(int fd, const void* buf, std::size_t count) = 0;
  virtual int fsync(int fd) = 0;
  virtual int syncfs(int fd) = 0;
  virtual int link(const char* from, const char* to) = 0;
  virtual int unlink(const char* path) = 0;
  virtual int mkdir(const char* path, mode_t mode) = 0;
  virtual int fstatvfs(int fd, struct statvfs* buf) = 0;
  virtual int fstatfs(int fd, struct statfs* buf) = 0;  // f_type: which file system holds the store
  // Used by the encrypting store (the plaintext's size; a key slot rewritten
  // in place). Not pure: a test file system that does not override them
  // calls the kernel.
  virtual int fstat(int fd, struct stat* buf);
  virtual ssize_t pwrite(int fd, const void* buf, std::size_t count, off_t offset);
};

// The kernel's file system (plain system calls).
FileSystem& real_file_system() noexcept;

} // namespace tresor::store
