// An encrypting SQLite VFS over the default (unix) VFS: how the index is
// encrypted at rest (docs/storage-layout.md, "Index encryption").
//
// Page format. The database uses a fixed page size of kPageSize bytes of
// which the last kReserveBytes are reserved (SQLITE_FCNTL_RESERVE_BYTES, set
// before the database is created; SQLite never puts data there). Every page
// of the main database file and the page part of every WAL frame is stored as
//   AES-256-GCM(key, nonce, aad, plaintext[0 .. kPageSize - kReserveBytes))
//   || nonce (12 random bytes) || tag (16 bytes)
// with aad = file kind (1 main, 2 WAL) || the page's byte offset in its file
// (8 bytes big-endian), so a page moved to another place does not open. Page
// 1 is encrypted whole, SQLite's 100-byte header included: a copied file is
// not recognisable as SQLite. The WAL header (32 bytes) and the frame headers
// (24 bytes: page number, database size, salts, checksums) are stored as they
// are: they carry no row data. The -shm file (wal-index: frame numbers and
// hashes) is left as is. The rollback journal lives in memory only: SQLite
// needs it just to switch a new, empty database into WAL mode and for the
// VACUUM INTO of a conversion (crypt_open.cpp), where a crash loses nothing
// (an empty database; a temporary copy, switched to WAL before it is renamed
// into place). Other files (statement journals,
// temp databases) are refused: the index runs with temp_store=MEMORY, so
// SQLite keeps them in memory.
//
// Contract:
//  - reads return plaintext with the reserved bytes zero (SQLite's own
//    buffers always hold zeros there, so WAL checksums computed over what
//    SQLite wrote match what it reads back); reads and writes smaller than a
//    page (the header read, a WAL write split at a sync point) decrypt the
//    whole page, and re-encrypt it for a write;
//  - a page that does not authenticate (wrong key, flipped byte, torn or
//    foreign page) fails the read with SQLITE_IOERR_DATA (db.cpp maps it to
//    Errc::corrupt), never returns ciphertext as data. One exception: WAL
//    recovery reads whole frames (header + page) past the last commit, where
//    a torn frame is normal after a crash; there an unreadable page comes
//    back as zeros, so its checksum fails and SQLite ends the WAL there, as
//    it does for a torn plaintext frame;
//  - memory-mapped I/O is off (the io methods are version 2: no xFetch).
//
// Registration. sqlite3_vfs_register() is process-wide, so each CryptVfs
// object registers its own VFS under a unique name ("tresor-crypt-<n>",
// n from a process-wide counter) with its key in pAppData, and unregisters it
// in its destructor. No mutable global holds a key; two indexes with two
// keys in one process (tests) never see each other's key. The object must
// outlive every connection opened through name().
#pragma once
#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <string>

#include "core/error.h"
#include "crypto/keyring.h"

namespace tresor::index::sqlite {

inline constexpr int kPageSize = 4096;
inline constexpr int kNonceBytes = 12;
inline constexpr int kTagBytes = 16;
inline constexpr int kReserveBytes = kNonceBytes + kTagBytes;

class CryptVfs {
public:
  // Copies the key; registers the VFS (not as the default).
  static Result<std::unique_ptr<CryptVfs>> create(const crypto::SecretKey& key);
  ~CryptVfs();
  CryptVfs(const CryptVfs&) = delete;
  CryptVfs& operator=(const CryptVfs&) = delete;

  // The VFS name to pass to sqlite3_open_v2 (or ?vfs= in a URI).
  const std::string& name() const { return name_; }

  struct State;  // crypt_vfs.cpp

private:
  CryptVfs() = default;
  std::unique_ptr<State> state_;
  std::string name_;
};

} // namespace tresor::index::sqlite

namespace tresor::index::sqlite {

class Connection;  // db.h

// Before an encrypted open (crypt_open.cpp): if `file` is a plaintext SQLite
// database (an index from before encryption at rest), converts it in place:
// checkpoints its WAL, copies it with VACUUM INTO through `vfs` into a new
// 0600 file beside it, syncs, renames it over the old one and removes the old
// -wal/-shm. Fails (nothing changed) if another process holds the old index
// busy or its page size is not kPageSize, saying what to do. The old file's
// blocks are unlinked, not scrubbed (docs/storage-layout.md). A new, empty or
// already encrypted file is left alone.
Status encrypt_plaintext_index(const std::filesystem::path& file, const CryptVfs& vfs);

// After an encrypted open: the header holds the page format this VFS writes.
Status check_encrypted_index(Connection& c);

// An error from opening through the VFS, in words an operator can act on
// when it means the pages do not open (wrong key, or damage).
Error explain_open_error(const Error& e);

} // namespace tresor::index::sqlite
