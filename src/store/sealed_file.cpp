// Encrypted objects on disk: sealing a plaintext temp, opening for reading,
// crypto-erase and key-slot rotation (sealed_file.h).
#include "store/sealed_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "crypto/sealed.h"
#include "store/io.h"

namespace tresor::store::detail {
namespace fs = std::filesystem;
namespace sealed = crypto::sealed;

namespace {

// Closes the descriptor on scope exit (through the seam).
struct Fd {
  FileSystem& fs;
  int fd;
  ~Fd() {
    if (fd >= 0) fs.close(fd);
  }
};

Result<sealed::Header> read_header(FileSystem& fsys, int fd) {
  std::array<std::byte, sealed::kHeaderBytes> buf{};
  std::size_t have = 0;
  while (have < buf.size()) {
    const ssize_t n = ::pread(fd, buf.data() + have, buf.size() - have, static_cast<off_t>(have));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(io_error("read stored object", errno));
    if (n == 0) break;
    have += static_cast<std::size_t>(n);
  }
  (void)fsys;
  return sealed::parse_header(std::span(buf.data(), have));
}

} // namespace

Status seal_into(FileSystem& fsys, const fs::path& plain, const fs::path& out, const std::string& key,
                 const crypto::Keyring& ring) {
  Fd in{fsys, fsys.open(plain.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0)};
  if (in.fd < 0) return std::unexpected(io_error("open temp blob", errno));
  struct stat st {};
  if (fsys.fstat(in.fd, &st) != 0) return std::unexpected(io_error("stat temp blob", errno));
  const crypto::SecretKey data_key = crypto::SecretKey::random();
  auto wrapped = ring.wrap(data_key, key);
  if (!wrapped) return std::unexpected(wrapped.error());
  const int ofd = fsys.open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (ofd < 0) return std::unexpected(io_error("create temp blob", errno));
  auto read = [&](std::span<std::byte> buf) -> Result<std::size_t> {
    for (;;) {
      const ssize_t n = fsys.read(in.fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return std::unexpected(io_error("read temp blob", errno));
      return static_cast<std::size_t>(n);
    }
  };
  auto write = [&](std::span<const std::byte> b) { return write_all(fsys, ofd, b.data(), b.size()); };
  Status st_seal = sealed::seal(data_key, key, static_cast<std::uint64_t>(st.st_size), *wrapped, read, write);
  if (fsys.close(ofd) != 0 && st_seal) st_seal = std::unexpected(io_error("close temp blob", errno));
  if (!st_seal) fsys.unlink(out.c_str());
  return st_seal;
}

Result<std::unique_ptr<ByteSource>> open_sealed(const fs::path& file, const std::string& key,
                                                const crypto::Keyring& ring) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return fail(Errc::not_found, "no such stored object");
    return fail(Errc::io_error, std::string("open stored object: ") + std::strerror(errno));
  }
  auto holder = std::shared_ptr<int>(new int(fd), [](int* p) {
    ::close(*p);
    delete p;
  });
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(Errc::io_error, std::string("stat stored object: ") + std::strerror(errno));
  auto header = read_header(real_file_system(), fd);
  if (!header) return fail(header.error().code, "stored object " + key + ": " + header.error().message);
  Result<crypto::SecretKey> data_key = fail(Errc::corrupt, "stored object " + key + " has no data key (erased)");
  for (const std::string& slot : header->slots) {
    if (slot.empty()) continue;
    auto k = ring.unwrap(slot, key);
    if (k) {
      data_key = std::move(k);
      break;
    }
    data_key = fail(k.error().code, "stored object " + key + ": " + k.error().message);
  }
  if (!data_key) return std::unexpected(data_key.error());
  return sealed::open_reader(*data_key, key, *header, static_cast<std::uint64_t>(st.st_size),
                             [holder](std::uint64_t off, std::span<std::byte> out) -> Result<std::size_t> {
                               std::size_t done = 0;
                               while (done < out.size()) {
                                 const ssize_t n = ::pread(*holder, out.data() + done, out.size() - done,
                                                           static_cast<off_t>(off + done));
                                 if (n < 0 && errno == EINTR) continue;
                                 if (n < 0)
                                   return fail(Errc::io_error,
                                               std::string("read stored object: ") + std::strerror(errno));
                                 if (n == 0) break;
                                 done += static_cast<std::size_t>(n);
                               }
                               return done;
                             });
}

Status erase_keys(FileSystem& fsys, const fs::path& file) {
  Fd f{fsys, fsys.open(file.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0)};
  if (f.fd < 0) {
    if (errno == ENOENT) return {};
    return std::unexpected(io_error("open stored object for erasure", errno));
  }
  const std::array<std::byte, sealed::kSlotBytes * sealed::kSlotCount> zeros{};
  if (fsys.pwrite(f.fd, zeros.data(), zeros.size(), static_cast<off_t>(sealed::slot_offset(0))) !=
      static_cast<ssize_t>(zeros.size()))
    return std::unexpected(io_error("erase data key", errno ? errno : EIO));
  if (fsys.fsync(f.fd) != 0) return std::unexpected(io_error("fsync erased data key", errno));
  return {};
}

Result<bool> rewrap(FileSystem& fsys, const fs::path& file, const std::string& key, const crypto::Keyring& ring,
                    bool drop_others) {
  Fd f{fsys, fsys.open(file.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0)};
  if (f.fd < 0) {
    if (errno == ENOENT) return false;  // removed meanwhile
    return std::unexpected(io_error("open stored object", errno));
  }
  auto header = read_header(fsys, f.fd);
  if (!header) return fail(header.error().code, "stored object " + key + ": " + header.error().message);
  const std::string target = ring.kek_id();
  int have = -1;  // slot already under the target KEK
  for (std::size_t i = 0; i < sealed::kSlotCount; ++i)
    if (!header->slots[i].empty() && crypto::wrapped_kek_id(header->slots[i]) == target && ring.unwrap(header->slots[i], key))
      have = static_cast<int>(i);
  bool changed = false;
  if (have < 0) {
    int from = -1;
    Result<crypto::SecretKey> data_key = fail(Errc::corrupt, "stored object " + key + " has no data key");
    for (std::size_t i = 0; i < sealed::kSlotCount && from < 0; ++i) {
      if (header->slots[i].empty()) continue;
      auto k = ring.unwrap(header->slots[i], key);
      if (k) {
        data_key = std::move(k);
        from = static_cast<int>(i);
      } else {
        data_key = fail(k.error().code, "stored object " + key + ": " + k.error().message);
      }
    }
    if (!data_key) return std::unexpected(data_key.error());
    auto wrapped = ring.wrap(*data_key, key);
    if (!wrapped) return std::unexpected(wrapped.error());
    have = 1 - from;  // the other slot: the one that opens stays until the new one is durable
    const auto slot = sealed::encode_slot(*wrapped);
    if (fsys.pwrite(f.fd, slot.data(), slot.size(), static_cast<off_t>(sealed::slot_offset(static_cast<std::size_t>(have)))) !=
        static_cast<ssize_t>(slot.size()))
      return std::unexpected(io_error("write data key", errno ? errno : EIO));
    changed = true;
    if (drop_others && fsys.fsync(f.fd) != 0) return std::unexpected(io_error("fsync data key", errno));
  }
  if (drop_others) {
    const std::size_t other = 1 - static_cast<std::size_t>(have);
    if (!header->slots[other].empty() || changed) {
      const auto empty = sealed::encode_slot("");
      if (fsys.pwrite(f.fd, empty.data(), empty.size(), static_cast<off_t>(sealed::slot_offset(other))) !=
          static_cast<ssize_t>(empty.size()))
        return std::unexpected(io_error("clear old data key", errno ? errno : EIO));
      changed = changed || !header->slots[other].empty();
    }
  }
  return changed;
}

} // namespace tresor::store::detail
