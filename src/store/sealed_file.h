// The encrypting store's file operations (store-internal; see blob_store.h
// and crypto/sealed.h for the format). Every call on the store's files goes
// through the FileSystem seam; reads of a committed object use pread.
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "core/byte_source.h"
#include "core/error.h"
#include "crypto/keyring.h"
#include "store/file_system.h"

namespace tresor::store::detail {

// Encrypts the plaintext file `plain` into `out` (created here, 0600, must
// not exist) under a fresh data key wrapped by `ring` with the blob key as
// context. On failure `out` is removed; `plain` is left to the caller.
Status seal_into(FileSystem& fs, const std::filesystem::path& plain, const std::filesystem::path& out,
                 const std::string& key, const crypto::Keyring& ring);

// The decrypting ByteSource of a committed object (not_found if absent;
// Errc::corrupt if it is not a sealed object or its key does not open;
// permission_denied if its key is wrapped under a KEK this keyring lacks).
Result<std::unique_ptr<ByteSource>> open_sealed(const std::filesystem::path& file, const std::string& key,
                                                const crypto::Keyring& ring);

// Crypto-erase, first half: overwrites both key slots with zeros and fsyncs
// (the caller then unlinks). A missing file is fine.
Status erase_keys(FileSystem& fs, const std::filesystem::path& file);

// Rotation of one object (see BlobStore::rewrap_key).
Result<bool> rewrap(FileSystem& fs, const std::filesystem::path& file, const std::string& key,
                    const crypto::Keyring& ring, bool drop_others);

} // namespace tresor::store::detail
