// Content-addressed blob storage. Contract:
//  - a blob key is the lowercase hex SHA-256 of the stored object's data set
//    (64 chars); paths are derived from the key only, never from a UID;
//  - create_temp() gives an empty file under <root>/tmp for a writer to fill;
//  - commit() moves the temp file to its final path (link, never replacing an
//    existing file) and fsyncs the file and, unless the file system makes a
//    new name durable with the file's own fsync (ext4, XFS, Btrfs: see
//    fs_store.cpp), the directory; when it returns, the blob is durable. If
//    a blob with that key exists, the temp file is removed, the existing
//    blob is fsynced, and commit() reports created=false (same content is
//    never stored twice);
//  - a crash during commit() can leave a final-path file whose content is not
//    what its key says; it is never referenced by the index, and recovery must
//    check the content of unreferenced blobs against their key;
//  - commit_batch() does what commit() does for every item (link, never
//    replacing; a key that exists, also earlier in the same batch, drops the
//    temp and reports created=false), then makes the whole batch durable at
//    once: one syncfs(2) of the store's file system instead of two fsyncs per
//    object (small batches, and every batch after the file system reported a
//    write-back error, fall back to per-object fsyncs). When it returns, every
//    item's blob and directory entry are durable. It consumes every temp in
//    every case; on any failure it removes the blobs it created and reports
//    the one error for the whole batch;
//  - create_temp() refuses (Errc::resource_exhausted) when the store's file
//    system has less free space than a reserve: 1% of its size, at least
//    1 MiB and at most 256 MiB (or fewer than 64 free inodes). A sender
//    then gets a clean "out of resources" answer before any byte is
//    written, instead of a write failing in the middle of an object, and
//    the index and the audit log (usually on the same file system) keep
//    room to work. An object larger than what is left above the reserve can
//    still meet ENOSPC while it is written;
//  - fill_temp() copies a file into a temp blob (tresor import); on failure
//    the temp is left to the caller, who aborts it;
//  - every system call on the store's files goes through the FileSystem
//    given to open_fs_store() (store/file_system.h: the fault-injection seam);
//    a failure is reported as Errc::resource_exhausted when the file system
//    is full (ENOSPC, EDQUOT) and Errc::io_error otherwise, and leaves
//    nothing of the failed call behind: no temp it consumed, no blob it
//    created;
//  - after a crash, files left in <root>/tmp are garbage (clean_temp()).
//
// Encryption at rest (a store opened with a Keyring; docs/storage-layout.md):
//  - commit()/commit_batch() encrypt the plaintext temp into a second temp
//    (crypto/sealed.h: AES-256-GCM in 64 KiB chunks under a fresh random
//    data key, wrapped under the KEK with the blob key as context, kept in
//    the object's header) and link that one; the plaintext temp is removed.
//    Everything above holds for the encrypted file. The blob key stays the
//    SHA-256 of the plaintext data set;
//  - open() returns a decrypting ByteSource; a file that is not an
//    encrypted object, or whose data key does not open, is Errc::corrupt;
//  - remove() is a crypto-erase: both key slots are overwritten and fsynced
//    before the file is unlinked;
//  - rewrap_key() re-wraps an object's data key under the keyring's current
//    KEK in place (the ciphertext is never rewritten), sync() makes those
//    rewrites durable.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include "core/byte_source.h"
#include "core/error.h"
#include "store/file_system.h"

namespace tresor::crypto {
class Keyring;
}

namespace tresor::store {

struct TempBlob {
  std::filesystem::path path;
};

class BlobStore {
public:
  virtual ~BlobStore() = default;
  virtual Result<TempBlob> create_temp() = 0;
  // Returns true if a new blob was created, false if it already existed.
  virtual Result<bool> commit(const TempBlob& temp, const std::string& key) = 0;
  // Group commit (see above): one created flag per item, in order.
  virtual Result<std::vector<bool>> commit_batch(const std::vector<std::pair<TempBlob, std::string>>& items) = 0;
  virtual Status fill_temp(const TempBlob& temp, const std::filesystem::path& source) = 0;
  virtual void abort(const TempBlob& temp) noexcept = 0;
  virtual Result<std::filesystem::path> path_of(const std::string& key) const = 0;
  // The stored object's plaintext bytes, for random-access reading (see
  // core/byte_source.h). not_found if no such blob. Every reader of stored
  // objects goes through this (path_of is for the store's own maintenance).
  virtual Result<std::unique_ptr<ByteSource>> open(const std::string& key) const = 0;
  virtual Status remove(const std::string& key) = 0;
  virtual Result<std::vector<std::string>> list_keys() const = 0;
  virtual void clean_temp() noexcept = 0;
  // Key rotation (encrypting store; a plain store returns false / does
  // nothing): writes the data key wrapped under the keyring's current KEK
  // into the object's free key slot unless one is there already; with
  // drop_others, also clears the slot under any other KEK (after making the
  // new one durable). True if the file was changed. A blob removed
  // meanwhile is false.
  virtual Result<bool> rewrap_key(const std::string& key, bool drop_others) { (void)key, (void)drop_others; return false; }
  // Makes every rewrap_key() so far durable (one syncfs of the store).
  virtual Status sync() { return {}; }
  virtual bool encrypted() const noexcept { return false; }
};

// Filesystem implementation rooted at `root` (created if missing). `fs` must
// outlive the store; so must `keyring`, which makes it an encrypting store
// (nullptr: plain objects, only for `[encryption] enabled = false`).
Result<std::unique_ptr<BlobStore>> open_fs_store(const std::filesystem::path& root,
                                                 FileSystem& fs = real_file_system(),
                                                 const crypto::Keyring* keyring = nullptr);

// Lowercase hex SHA-256 of the file's bytes from `offset` to the end.
Result<std::string> sha256_file(const std::filesystem::path& file, std::uint64_t offset);

bool is_valid_key(std::string_view key) noexcept;

// A plain file as a ByteSource (not_found if it does not exist).
Result<std::unique_ptr<ByteSource>> open_file_source(const std::filesystem::path& file);

} // namespace tresor::store
