// Filesystem blob store: <root>/tmp/<random> while writing,
// <root>/<k0k1>/<key> once committed. See blob_store.h for the contract.
// The 256 shard directories are created when the store is opened, so an
// ingest never pays for a mkdir (a new inode on the hot path). Every system
// call on the store's files goes through fs_ (store/file_system.h), the seam
// the fault tests use to fail writes, fsyncs and links.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <vector>

#include "core/log.h"
#include "core/space.h"
#include "crypto/keyring.h"
#include "store/blob_store.h"
#include "store/io.h"
#include "store/sealed_file.h"

namespace tresor::store {
namespace fs = std::filesystem;

bool is_valid_key(std::string_view key) noexcept {
  if (key.size() != 64) return false;
  for (char c : key)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

namespace {

using detail::io_error;
using detail::write_all;

Status fsync_path(FileSystem& fsys, const fs::path& p, bool directory) {
  int fd = fsys.open(p.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC, 0);
  if (fd < 0) return std::unexpected(io_error("open for fsync", errno));
  int rc = fsys.fsync(fd);
  int err = errno;
  fsys.close(fd);
  if (rc != 0) return std::unexpected(io_error("fsync", err));
  return {};
}


std::string random_name() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static std::atomic<unsigned> counter{0};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%016llx-%u.part", static_cast<unsigned long long>(rng()), counter++);
  return buf;
}

// Batches smaller than this are synced object by object: one syncfs costs
// about as much as 2-3 objects' fsync pairs on this project's disk (measured
// 13-16 ms per syncfs against 7-10 ms per object and directory fsync pair,
// with other jobs writing to the same file system).
constexpr std::size_t kMinSyncfsBatch = 3;

// Free space kept in reserve (see blob_store.h): core/space.h's
// free_space_reserve() of the file system, and a few inodes.
constexpr std::uint64_t kMinFreeInodes = 64;

// File systems on which fsync() of a file that was just linked into a
// directory also makes that directory entry durable, so the store skips the
// directory's own fsync (one device flush per object fewer):
//  - ext2/3/4 (one magic, one Linux driver): link() marks the inode
//    EXT4_STATE_NEWENTRY; fsync() then writes the parent directory too
//    (ext4_sync_parent) without a journal, and with one it commits the
//    transaction that holds the link (the link dirtied the inode);
//  - XFS: fsync forces the log up to the inode's last change, which is the
//    link's own transaction (the directory update included);
//  - Btrfs: fsync logs the inode's new names (its log tree).
// Anywhere else (NFS, FUSE, ...) POSIX's rule holds: the directory is fsynced.
bool fsync_persists_new_names(long f_type) {
  constexpr long kExt4 = 0xEF53, kXfs = 0x58465342, kBtrfs = 0x9123683E;
  return f_type == kExt4 || f_type == kXfs || f_type == kBtrfs;
}

class FsBlobStore final : public BlobStore {
public:
  FsBlobStore(fs::path root, int sync_fd, FileSystem& fsys, bool sync_directories, const crypto::Keyring* ring)
      : root_(std::move(root)), tmp_(root_ / "tmp"), sync_fd_(sync_fd), fs_(fsys), sync_dirs_(sync_directories),
        ring_(ring) {}
  ~FsBlobStore() override { fs_.close(sync_fd_); }
  FsBlobStore(const FsBlobStore&) = delete;
  FsBlobStore& operator=(const FsBlobStore&) = delete;

  Result<TempBlob> create_temp() override {
    if (auto room = check_free_space(); !room) return std::unexpected(room.error());
    for (int attempt = 0; attempt < 4; ++attempt) {
      fs::path p = tmp_ / random_name();
      int fd = fs_.open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0) {
        fs_.close(fd);
        return TempBlob{p};
      }
      if (errno != EEXIST) return std::unexpected(io_error("create temp blob", errno));
    }
    return fail(Errc::internal, "could not create a unique temp blob");
  }

  // A plain read/write loop (not copy_file_range) so that every write goes
  // through the seam. close() is checked: some file systems report a
  // deferred write error there.
  Status fill_temp(const TempBlob& temp, const fs::path& source) override {
    if (temp.path.parent_path() != tmp_) return fail(Errc::internal, "temp blob outside the store");
    const int in = fs_.open(source.c_str(), O_RDONLY | O_CLOEXEC, 0);  // a symlinked file is imported, as before
    if (in < 0) return std::unexpected(io_error("open " + source.filename().string(), errno));
    const int out = fs_.open(temp.path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0);
    if (out < 0) {
      const int err = errno;
      fs_.close(in);
      return std::unexpected(io_error("open temp blob", err));
    }
    std::vector<char> buf(256 * 1024);
    Status st;
    for (;;) {
      ssize_t n = fs_.read(in, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        st = std::unexpected(io_error("read " + source.filename().string(), errno));
        break;
      }
      if (n == 0) break;
      st = write_all(fs_, out, buf.data(), static_cast<std::size_t>(n));
      if (!st) break;
    }
    fs_.close(in);
    if (fs_.close(out) != 0 && st) st = std::unexpected(io_error("close temp blob", errno));
    return st;
  }

  // Link first, then fsync the object through its final name, then (where
  // the file system needs it, see fsync_persists_new_names) its directory.
  // Syncing through the final name lets ext4 write the new directory entry
  // together with the object (ext4_sync_parent): a bare write+commit loop on
  // this project's disk ran 476-561 objects/s this way against 429-436 with
  // fsync-then-link, and 1,550-1,600 against 1,160-1,230 without the
  // directory fsync. Until the fsyncs return, the final name may
  // point at data that is not durable: nothing references it yet (the index
  // commits afterwards), a failure removes it again, and start-up recovery
  // re-checks the content hash of every unreferenced blob.
  Result<bool> commit(const TempBlob& plain, const std::string& key) override {
    if (!is_valid_key(key)) return fail(Errc::internal, "invalid blob key");
    if (plain.path.parent_path() != tmp_) return fail(Errc::internal, "temp blob outside the store");
    auto sealed = seal(plain, key);
    if (!sealed) return std::unexpected(sealed.error());
    const TempBlob& temp = *sealed;
    const fs::path dst = final_path(key);
    if (fs_.link(temp.path.c_str(), dst.c_str()) != 0) {
      const int err = errno;
      abort(temp);
      if (err != EEXIST) return std::unexpected(io_error("link blob", err));
      // Same content already stored, perhaps by a concurrent ingest that has
      // not finished its fsync: make it durable before anyone relies on it.
      if (auto s = fsync_path(fs_, dst, false); !s) return std::unexpected(s.error());
      return false;
    }
    fs_.unlink(temp.path.c_str());
    auto synced = fsync_path(fs_, dst, false);
    if (synced && sync_dirs_) synced = fsync_path(fs_, dst.parent_path(), true);
    if (!synced) {
      fs_.unlink(dst.c_str());
      return std::unexpected(synced.error());
    }
    return true;
  }

  // Link every item into place (as commit() does, without its fsyncs), then
  // one syncfs of the store's file system: it writes back and waits for all
  // dirty data and metadata of that file system (the objects, their
  // directory entries, and whatever else other writers left dirty) and
  // flushes the device cache. Until it returns, a final name may point at
  // data that is not durable: nothing references it yet (the index commits
  // afterwards), a failure removes it again, and recovery re-checks the
  // content hash of every unreferenced blob, as for commit().
  Result<std::vector<bool>> commit_batch(const std::vector<std::pair<TempBlob, std::string>>& items) override {
    auto abort_from = [&](std::size_t i) {
      for (; i < items.size(); ++i) abort(items[i].first);
    };
    for (const auto& [temp, key] : items) {
      if (!is_valid_key(key) || temp.path.parent_path() != tmp_) {
        abort_from(0);
        return fail(Errc::internal, is_valid_key(key) ? "temp blob outside the store" : "invalid blob key");
      }
    }
    if (ring_) {
      // Encrypt every item first (seal() consumes the plaintext temp), then
      // commit the encrypted temps as a plain batch.
      std::vector<std::pair<TempBlob, std::string>> sealed_items;
      sealed_items.reserve(items.size());
      for (std::size_t i = 0; i < items.size(); ++i) {
        auto sealed = seal(items[i].first, items[i].second);
        if (!sealed) {
          abort_from(i + 1);
          for (const auto& done : sealed_items) abort(done.first);
          return std::unexpected(sealed.error());
        }
        sealed_items.emplace_back(std::move(*sealed), items[i].second);
      }
      return commit_sealed_batch(sealed_items);
    }
    return commit_sealed_batch(items);
  }

  // commit_batch() of temps that are already in their final form.
  Result<std::vector<bool>> commit_sealed_batch(const std::vector<std::pair<TempBlob, std::string>>& items) {
    auto abort_from = [&](std::size_t i) {
      for (; i < items.size(); ++i) abort(items[i].first);
    };
    std::vector<bool> created(items.size(), false);
    std::vector<fs::path> made;  // final names this call created (removed again on failure)
    auto undo = [&] {
      for (const auto& p : made) fs_.unlink(p.c_str());
    };
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& [temp, key] = items[i];
      const fs::path dst = final_path(key);
      if (fs_.link(temp.path.c_str(), dst.c_str()) == 0) {
        fs_.unlink(temp.path.c_str());
        created[i] = true;
        made.push_back(dst);
        continue;
      }
      const int err = errno;
      abort(temp);
      if (err == EEXIST) continue;  // same content already stored (maybe earlier in this batch)
      abort_from(i + 1);
      undo();
      return std::unexpected(io_error("link blob", err));
    }
    if (auto s = sync_batch(items); !s) {
      undo();
      return std::unexpected(s.error());
    }
    return created;
  }

  void abort(const TempBlob& temp) noexcept override {
    if (temp.path.parent_path() == tmp_) fs_.unlink(temp.path.c_str());
  }

  Result<fs::path> path_of(const std::string& key) const override {
    if (!is_valid_key(key)) return fail(Errc::invalid_argument, "invalid blob key");
    return final_path(key);
  }

  Result<std::unique_ptr<ByteSource>> open(const std::string& key) const override {
    if (!is_valid_key(key)) return fail(Errc::invalid_argument, "invalid blob key");
    if (ring_) return detail::open_sealed(final_path(key), key, *ring_);
    return open_file_source(final_path(key));
  }

  Status remove(const std::string& key) override {
    if (!is_valid_key(key)) return fail(Errc::invalid_argument, "invalid blob key");
    if (ring_) {
      if (auto s = detail::erase_keys(fs_, final_path(key)); !s) return s;  // crypto-erase first
    }
    if (fs_.unlink(final_path(key).c_str()) != 0 && errno != ENOENT)
      return std::unexpected(io_error("remove blob", errno));
    return {};
  }

  Result<std::vector<std::string>> list_keys() const override {
    std::vector<std::string> keys;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root_, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->path() == tmp_) {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec) && is_valid_key(it->path().filename().string())) keys.push_back(it->path().filename());
    }
    if (ec) return std::unexpected(io_error("list blobs", ec.value()));
    return keys;
  }

  void clean_temp() noexcept override {
    std::error_code ec;
    for (auto& e : fs::directory_iterator(tmp_, ec)) fs_.unlink(e.path().c_str());
  }

  Result<bool> rewrap_key(const std::string& key, bool drop_others) override {
    if (!is_valid_key(key)) return fail(Errc::invalid_argument, "invalid blob key");
    if (!ring_) return false;
    return detail::rewrap(fs_, final_path(key), key, *ring_, drop_others);
  }

  Status sync() override {
    if (fs_.syncfs(sync_fd_) != 0) return std::unexpected(io_error("syncfs", errno));
    return {};
  }

  bool encrypted() const noexcept override { return ring_ != nullptr; }

private:
  // The encrypted temp of a plaintext temp (which is removed in every case),
  // or the plaintext temp itself when the store does not encrypt.
  Result<TempBlob> seal(const TempBlob& plain, const std::string& key) {
    if (!ring_) return plain;
    TempBlob out{tmp_ / (random_name() + ".enc")};
    auto st = detail::seal_into(fs_, plain.path, out.path, key, *ring_);
    abort(plain);
    if (!st) return std::unexpected(st.error());
    return out;
  }

  fs::path final_path(const std::string& key) const { return root_ / key.substr(0, 2) / key; }

  // One fstatvfs per new object (about a microsecond). If the file system
  // cannot tell, the writes will.
  Status check_free_space() {
    struct statvfs sv {};
    if (fs_.fstatvfs(sync_fd_, &sv) != 0) return {};
    const std::uint64_t unit = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
    const std::uint64_t total = static_cast<std::uint64_t>(sv.f_blocks) * unit;
    const std::uint64_t avail = static_cast<std::uint64_t>(sv.f_bavail) * unit;
    const std::uint64_t reserve = free_space_reserve(total);
    const bool inodes_short = sv.f_files > 0 && static_cast<std::uint64_t>(sv.f_favail) < kMinFreeInodes;
    if (avail >= reserve && !inodes_short) return {};
    return fail(Errc::resource_exhausted, "the store's file system is full (" + std::to_string(avail >> 20) +
                                              " MiB free, " + std::to_string(reserve >> 20) +
                                              " MiB kept in reserve" + (inodes_short ? ", no free inodes" : "") + ")");
  }

  // Error reporting: syncfs(2) reports (Linux >= 5.8) every write-back error
  // on the file system since the previous syncfs on the same open file, so
  // the store syncs through one descriptor opened with the store and
  // serializes those calls. An error may belong to any batch written before
  // it (or to another program's file): once one is reported, this batch
  // fails and every later batch syncs its objects one by one (fsync reports
  // a write-back error of that very file) until the process restarts.
  Status sync_batch(const std::vector<std::pair<TempBlob, std::string>>& items) {
    if (items.size() >= kMinSyncfsBatch) {
      std::lock_guard lock(sync_mutex_);
      if (!sync_failed_) {
        if (fs_.syncfs(sync_fd_) == 0) return {};
        const int err = errno;
        sync_failed_ = true;
        log::error("store: syncfs failed ({}); later batches are synced object by object", std::strerror(err));
        return std::unexpected(io_error("syncfs", err));
      }
    }
    // Every object (new or already there: an existing one may have been
    // linked by a concurrent ingest that has not synced it yet), then each
    // directory once where the file system needs it.
    std::set<fs::path> dirs;
    for (const auto& [temp, key] : items) {
      const fs::path dst = final_path(key);
      if (auto s = fsync_path(fs_, dst, false); !s) return s;
      if (sync_dirs_) dirs.insert(dst.parent_path());
    }
    for (const auto& d : dirs)
      if (auto s = fsync_path(fs_, d, true); !s) return s;
    return {};
  }

  fs::path root_, tmp_;
  int sync_fd_;  // the store root, opened with the store: syncfs() target
  FileSystem& fs_;
  const bool sync_dirs_;  // fsync a new object's directory too (not needed on ext4, XFS, Btrfs)
  const crypto::Keyring* ring_;  // encrypting store when set
  std::mutex sync_mutex_;
  bool sync_failed_ = false;  // guarded by sync_mutex_
};

} // namespace

Result<std::unique_ptr<BlobStore>> open_fs_store(const fs::path& root, FileSystem& fsys, const crypto::Keyring* ring) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return fail(Errc::io_error, "cannot create store directory " + root.string() + ": " + ec.message());
  ::chmod(root.c_str(), 0700);
  auto make_dir = [&](const fs::path& d) -> Status {
    if (fsys.mkdir(d.c_str(), 0700) != 0 && errno != EEXIST)
      return std::unexpected(io_error("cannot create store directory " + d.filename().string(), errno));
    return {};
  };
  if (auto s = make_dir(root / "tmp"); !s) return std::unexpected(s.error());
  static const char* hex = "0123456789abcdef";
  for (int i = 0; i < 256; ++i) {
    const char shard[3] = {hex[i >> 4], hex[i & 15], 0};
    if (auto s = make_dir(root / shard); !s) return std::unexpected(s.error());
  }
  int sync_fd = fsys.open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (sync_fd < 0) return std::unexpected(io_error("open store directory", errno));
  struct statfs sf {};
  const bool sync_dirs = fsys.fstatfs(sync_fd, &sf) != 0 || !fsync_persists_new_names(static_cast<long>(sf.f_type));
  log::debug("store: {} ({}directory fsync after each new object)", root.string(), sync_dirs ? "" : "no ");
  return std::unique_ptr<BlobStore>(new FsBlobStore(root, sync_fd, fsys, sync_dirs, ring));
}

} // namespace tresor::store
