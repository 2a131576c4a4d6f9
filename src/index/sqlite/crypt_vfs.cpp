#include "index/sqlite/crypt_vfs.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <string_view>
#include <vector>

namespace tresor::index::sqlite {

struct CryptVfs::State {
  sqlite3_vfs vfs{};          // registered; pAppData = this
  sqlite3_vfs* root = nullptr;  // the default VFS we delegate to
  crypto::SecretKey key;
  std::string name;
};

namespace {

constexpr int kWalHeaderBytes = 32;
constexpr int kFrameHeaderBytes = 24;
constexpr int kFrameBytes = kFrameHeaderBytes + kPageSize;
constexpr int kSealedBytes = kPageSize - kReserveBytes;  // the part of a page that is data

enum class Kind : unsigned char { main = 1, wal = 2 };

// One open file: our header followed in memory by the root VFS's file.
struct CryptFile {
  sqlite3_file base;  // first: SQLite sees a CryptFile* as an sqlite3_file*
  Kind kind;
  EVP_CIPHER_CTX* enc;
  EVP_CIPHER_CTX* dec;
  unsigned char plain[kPageSize];
  unsigned char sealed[kPageSize];
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(this) + real_offset()); }
  static constexpr std::size_t real_offset() { return (sizeof(CryptFile) + 15) & ~std::size_t{15}; }
};

CryptFile* as_crypt(sqlite3_file* f) { return reinterpret_cast<CryptFile*>(f); }
CryptVfs::State* state_of(sqlite3_vfs* v) { return static_cast<CryptVfs::State*>(v->pAppData); }

// Where a byte offset falls: inside a page (sealed) or a plain region (WAL
// header, frame header) that is stored as is.
struct Region {
  sqlite3_int64 start;
  int length;
  bool page;
};

Region region_at(Kind kind, sqlite3_int64 offset) {
  if (kind == Kind::main) return {offset / kPageSize * kPageSize, kPageSize, true};
  if (offset < kWalHeaderBytes) return {0, kWalHeaderBytes, false};
  const sqlite3_int64 rel = offset - kWalHeaderBytes;
  const sqlite3_int64 frame_start = kWalHeaderBytes + rel / kFrameBytes * kFrameBytes;
  if (rel % kFrameBytes < kFrameHeaderBytes) return {frame_start, kFrameHeaderBytes, false};
  return {frame_start + kFrameHeaderBytes, kPageSize, true};
}

void make_aad(Kind kind, sqlite3_int64 offset, unsigned char aad[9]) {
  aad[0] = static_cast<unsigned char>(kind);
  auto u = static_cast<std::uint64_t>(offset);
  for (int i = 8; i >= 1; --i, u >>= 8) aad[i] = static_cast<unsigned char>(u & 0xff);
}

bool all_zero(const unsigned char* p, std::size_t n) {
  return std::all_of(p, p + n, [](unsigned char c) { return c == 0; });
}

// plain (kPageSize, reserve bytes ignored) -> sealed (kPageSize).
bool seal(CryptFile* f, sqlite3_int64 offset, const unsigned char* plain, unsigned char* sealed) {
  unsigned char* nonce = sealed + kSealedBytes;
  unsigned char* tag = nonce + kNonceBytes;
  if (RAND_bytes(nonce, kNonceBytes) != 1) return false;
  unsigned char aad[9];
  make_aad(f->kind, offset, aad);
  int len = 0;
  if (EVP_EncryptInit_ex(f->enc, nullptr, nullptr, nullptr, nonce) != 1) return false;
  if (EVP_EncryptUpdate(f->enc, nullptr, &len, aad, sizeof aad) != 1) return false;
  if (EVP_EncryptUpdate(f->enc, sealed, &len, plain, kSealedBytes) != 1 || len != kSealedBytes) return false;
  if (EVP_EncryptFinal_ex(f->enc, sealed + len, &len) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(f->enc, EVP_CTRL_GCM_GET_TAG, kTagBytes, tag) == 1;
}

// sealed -> plain with zero reserve bytes; false if it does not authenticate.
bool open_page(CryptFile* f, sqlite3_int64 offset, const unsigned char* sealed, unsigned char* plain) {
  const unsigned char* nonce = sealed + kSealedBytes;
  unsigned char tag[kTagBytes];
  std::memcpy(tag, nonce + kNonceBytes, kTagBytes);
  unsigned char aad[9];
  make_aad(f->kind, offset, aad);
  int len = 0;
  bool ok = EVP_DecryptInit_ex(f->dec, nullptr, nullptr, nullptr, nonce) == 1 &&
            EVP_DecryptUpdate(f->dec, nullptr, &len, aad, sizeof aad) == 1 &&
            EVP_DecryptUpdate(f->dec, plain, &len, sealed, kSealedBytes) == 1 && len == kSealedBytes &&
            EVP_CIPHER_CTX_ctrl(f->dec, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) == 1 &&
            EVP_DecryptFinal_ex(f->dec, plain + len, &len) == 1;
  std::memset(plain + kSealedBytes, 0, kReserveBytes);
  if (!ok) std::memset(plain, 0, kPageSize);
  return ok;
}

// Reads and opens the page at `start` into f->plain. `absent` = wholly past
// the end of the file (plain is zeros, the caller reports a short read).
// `lenient` (WAL recovery): a page that does not open reads as zeros.
int read_page(CryptFile* f, sqlite3_int64 start, bool lenient, bool* absent) {
  *absent = false;
  sqlite3_file* real = f->real();
  int rc = real->pMethods->xRead(real, f->sealed, kPageSize, start);
  if (rc == SQLITE_IOERR_SHORT_READ && all_zero(f->sealed, kPageSize)) {
    *absent = true;
    std::memset(f->plain, 0, kPageSize);
    return SQLITE_OK;
  }
  if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return rc;
  if (rc == SQLITE_OK && open_page(f, start, f->sealed, f->plain)) return SQLITE_OK;
  // A torn (short) page, or one that does not authenticate.
  std::memset(f->plain, 0, kPageSize);
  return lenient ? SQLITE_OK : SQLITE_IOERR_DATA;
}

// ---- io methods ----

int x_close(sqlite3_file* file) {
  CryptFile* f = as_crypt(file);
  sqlite3_file* real = f->real();
  int rc = real->pMethods ? real->pMethods->xClose(real) : SQLITE_OK;
  EVP_CIPHER_CTX_free(f->enc);
  EVP_CIPHER_CTX_free(f->dec);
  OPENSSL_cleanse(f->plain, sizeof f->plain);
  f->~CryptFile();
  return rc;
}

int x_read(sqlite3_file* file, void* buf, int amount, sqlite3_int64 offset) {
  CryptFile* f = as_crypt(file);
  sqlite3_file* real = f->real();
  auto* out = static_cast<unsigned char*>(buf);
  const sqlite3_int64 end = offset + amount;
  // A read that includes a frame header is WAL recovery (or a checksum
  // rewrite) walking whole frames: see the contract on torn frames.
  bool lenient = false;
  if (f->kind == Kind::wal)
    for (sqlite3_int64 pos = offset; pos < end && !lenient;) {
      Region r = region_at(f->kind, pos);
      lenient = !r.page && r.start >= kWalHeaderBytes;
      pos = r.start + r.length;
    }
  bool short_read = false;
  for (sqlite3_int64 pos = offset; pos < end;) {
    Region r = region_at(f->kind, pos);
    const sqlite3_int64 stop = std::min(end, r.start + r.length);
    const int n = static_cast<int>(stop - pos);
    unsigned char* dst = out + (pos - offset);
    if (!r.page) {
      int rc = real->pMethods->xRead(real, dst, n, pos);
      if (rc == SQLITE_IOERR_SHORT_READ) short_read = true;
      else if (rc != SQLITE_OK) return rc;
    } else {
      bool absent = false;
      int rc = read_page(f, r.start, lenient, &absent);
      if (rc != SQLITE_OK) return rc;
      if (absent) short_read = true;
      std::memcpy(dst, f->plain + (pos - r.start), static_cast<std::size_t>(n));
    }
    pos = stop;
  }
  return short_read ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

int x_write(sqlite3_file* file, const void* buf, int amount, sqlite3_int64 offset) {
  CryptFile* f = as_crypt(file);
  sqlite3_file* real = f->real();
  const auto* in = static_cast<const unsigned char*>(buf);
  const sqlite3_int64 end = offset + amount;
  for (sqlite3_int64 pos = offset; pos < end;) {
    Region r = region_at(f->kind, pos);
    const sqlite3_int64 stop = std::min(end, r.start + r.length);
    const int n = static_cast<int>(stop - pos);
    const unsigned char* src = in + (pos - offset);
    int rc = SQLITE_OK;
    if (!r.page) {
      rc = real->pMethods->xWrite(real, src, n, pos);
    } else {
      const unsigned char* plain = src;
      if (n != kPageSize) {
        // Part of a page: merge into the current page (zeros if new; in the
        // WAL also if it does not open: a frame being rewritten).
        bool absent = false;
        rc = read_page(f, r.start, f->kind == Kind::wal, &absent);
        if (rc != SQLITE_OK) return rc == SQLITE_IOERR_DATA ? SQLITE_IOERR_WRITE : rc;
        std::memcpy(f->plain + (pos - r.start), src, static_cast<std::size_t>(n));
        plain = f->plain;
      }
      // SQLite never writes into the reserved bytes; if it did, the WAL
      // checksums over them would not survive the round trip.
      if (!all_zero(plain + kSealedBytes, kReserveBytes)) return SQLITE_IOERR_WRITE;
      if (!seal(f, r.start, plain, f->sealed)) return SQLITE_IOERR_WRITE;
      rc = real->pMethods->xWrite(real, f->sealed, kPageSize, r.start);
    }
    if (rc != SQLITE_OK) return rc;
    pos = stop;
  }
  return SQLITE_OK;
}

#define TRESOR_REAL(f) as_crypt(f)->real()
int x_truncate(sqlite3_file* f, sqlite3_int64 size) { return TRESOR_REAL(f)->pMethods->xTruncate(TRESOR_REAL(f), size); }
int x_sync(sqlite3_file* f, int flags) { return TRESOR_REAL(f)->pMethods->xSync(TRESOR_REAL(f), flags); }
int x_file_size(sqlite3_file* f, sqlite3_int64* size) { return TRESOR_REAL(f)->pMethods->xFileSize(TRESOR_REAL(f), size); }
int x_lock(sqlite3_file* f, int level) { return TRESOR_REAL(f)->pMethods->xLock(TRESOR_REAL(f), level); }
int x_unlock(sqlite3_file* f, int level) { return TRESOR_REAL(f)->pMethods->xUnlock(TRESOR_REAL(f), level); }
int x_check_reserved(sqlite3_file* f, int* out) {
  return TRESOR_REAL(f)->pMethods->xCheckReservedLock(TRESOR_REAL(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return TRESOR_REAL(f)->pMethods->xFileControl(TRESOR_REAL(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return TRESOR_REAL(f)->pMethods->xSectorSize(TRESOR_REAL(f)); }
int x_device(sqlite3_file* f) { return TRESOR_REAL(f)->pMethods->xDeviceCharacteristics(TRESOR_REAL(f)); }
int x_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return TRESOR_REAL(f)->pMethods->xShmMap(TRESOR_REAL(f), region, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return TRESOR_REAL(f)->pMethods->xShmLock(TRESOR_REAL(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { TRESOR_REAL(f)->pMethods->xShmBarrier(TRESOR_REAL(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return TRESOR_REAL(f)->pMethods->xShmUnmap(TRESOR_REAL(f), del); }
#undef TRESOR_REAL

// Version 2: shared memory (WAL) but no xFetch, so no memory-mapped reads
// that would bypass decryption.
const sqlite3_io_methods kIoMethods = {
    2,           x_close,       x_read,       x_write,      x_truncate, x_sync,        x_file_size,
    x_lock,      x_unlock,      x_check_reserved, x_file_control, x_sector_size, x_device,
    x_shm_map,   x_shm_lock,    x_shm_barrier, x_shm_unmap, nullptr,    nullptr};

// ---- the rollback journal: in memory only (see the header) ----

struct MemoryJournal {
  sqlite3_file base;
  std::vector<unsigned char> bytes;
};
MemoryJournal* as_journal(sqlite3_file* f) { return reinterpret_cast<MemoryJournal*>(f); }

int j_close(sqlite3_file* f) {
  auto* j = as_journal(f);
  OPENSSL_cleanse(j->bytes.data(), j->bytes.size());
  j->~MemoryJournal();
  return SQLITE_OK;
}
int j_read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  auto& b = as_journal(f)->bytes;
  auto* out = static_cast<unsigned char*>(buf);
  const auto size = static_cast<sqlite3_int64>(b.size());
  const sqlite3_int64 have = offset >= size ? 0 : std::min<sqlite3_int64>(amount, size - offset);
  if (have > 0) std::memcpy(out, b.data() + offset, static_cast<std::size_t>(have));
  if (have == amount) return SQLITE_OK;
  std::memset(out + have, 0, static_cast<std::size_t>(amount - have));
  return SQLITE_IOERR_SHORT_READ;
}
int j_write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  auto& b = as_journal(f)->bytes;
  try {
    if (static_cast<std::size_t>(offset + amount) > b.size()) b.resize(static_cast<std::size_t>(offset + amount));
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;
  }
  std::memcpy(b.data() + offset, buf, static_cast<std::size_t>(amount));
  return SQLITE_OK;
}
int j_truncate(sqlite3_file* f, sqlite3_int64 size) {
  auto& b = as_journal(f)->bytes;
  if (static_cast<std::size_t>(size) < b.size()) b.resize(static_cast<std::size_t>(size));
  return SQLITE_OK;
}
int j_sync(sqlite3_file*, int) { return SQLITE_OK; }
int j_file_size(sqlite3_file* f, sqlite3_int64* size) {
  *size = static_cast<sqlite3_int64>(as_journal(f)->bytes.size());
  return SQLITE_OK;
}
int j_lock(sqlite3_file*, int) { return SQLITE_OK; }
int j_check_reserved(sqlite3_file*, int* out) {
  *out = 0;
  return SQLITE_OK;
}
int j_file_control(sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; }
int j_sector_size(sqlite3_file*) { return kPageSize; }
int j_device(sqlite3_file*) { return 0; }

const sqlite3_io_methods kJournalMethods = {1,       j_close,         j_read,        j_write,   j_truncate,
                                            j_sync,  j_file_size,     j_lock,        j_lock,    j_check_reserved,
                                            j_file_control, j_sector_size, j_device, nullptr, nullptr,
                                            nullptr, nullptr,         nullptr,       nullptr};

int open_memory_journal(sqlite3_file* file, int* out_flags) {
  new (file) MemoryJournal{};
  file->pMethods = &kJournalMethods;
  if (out_flags) *out_flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_MAIN_JOURNAL;
  return SQLITE_OK;
}

// ---- vfs methods ----

int x_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  file->pMethods = nullptr;
  Kind kind;
  if (flags & SQLITE_OPEN_MAIN_DB) kind = Kind::main;
  else if (flags & SQLITE_OPEN_WAL) kind = Kind::wal;
  else if (flags & SQLITE_OPEN_MAIN_JOURNAL) return open_memory_journal(file, out_flags);
  else return SQLITE_CANTOPEN;  // temp files, statement and super journals: see the header
  CryptVfs::State* st = state_of(vfs);
  auto* f = new (file) CryptFile{};
  f->kind = kind;
  f->enc = EVP_CIPHER_CTX_new();
  f->dec = EVP_CIPHER_CTX_new();
  sqlite3_file* real = f->real();
  real->pMethods = nullptr;
  int rc = SQLITE_CANTOPEN;
  if (f->enc && f->dec && EVP_EncryptInit_ex(f->enc, EVP_aes_256_gcm(), nullptr, st->key.data(), nullptr) == 1 &&
      EVP_DecryptInit_ex(f->dec, EVP_aes_256_gcm(), nullptr, st->key.data(), nullptr) == 1)
    rc = st->root->xOpen(st->root, name, real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (real->pMethods) real->pMethods->xClose(real);
    EVP_CIPHER_CTX_free(f->enc);
    EVP_CIPHER_CTX_free(f->dec);
    f->~CryptFile();
    file->pMethods = nullptr;
    return rc;
  }
  file->pMethods = &kIoMethods;
  return SQLITE_OK;
}

#define TRESOR_ROOT(v) state_of(v)->root
int x_delete(sqlite3_vfs* v, const char* name, int sync) {
  // The rollback journal never reaches the disk, so deleting it finds nothing.
  const int rc = TRESOR_ROOT(v)->xDelete(TRESOR_ROOT(v), name, sync);
  return rc == SQLITE_IOERR_DELETE_NOENT ? SQLITE_OK : rc;
}
int x_access(sqlite3_vfs* v, const char* name, int flags, int* out) {
  return TRESOR_ROOT(v)->xAccess(TRESOR_ROOT(v), name, flags, out);
}
int x_full_pathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  return TRESOR_ROOT(v)->xFullPathname(TRESOR_ROOT(v), name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char*) { return nullptr; }  // no extensions through this VFS
void x_dl_error(sqlite3_vfs*, int n, char* out) {
  if (n > 0) std::snprintf(out, static_cast<std::size_t>(n), "extensions are not loaded");
}
void (*x_dl_sym(sqlite3_vfs*, void*, const char*))(void) { return nullptr; }
void x_dl_close(sqlite3_vfs*, void*) {}
int x_randomness(sqlite3_vfs* v, int n, char* out) { return TRESOR_ROOT(v)->xRandomness(TRESOR_ROOT(v), n, out); }
int x_sleep(sqlite3_vfs* v, int us) { return TRESOR_ROOT(v)->xSleep(TRESOR_ROOT(v), us); }
int x_current_time(sqlite3_vfs* v, double* out) { return TRESOR_ROOT(v)->xCurrentTime(TRESOR_ROOT(v), out); }
int x_last_error(sqlite3_vfs* v, int n, char* out) { return TRESOR_ROOT(v)->xGetLastError(TRESOR_ROOT(v), n, out); }
int x_current_time64(sqlite3_vfs* v, sqlite3_int64* out) {
  return TRESOR_ROOT(v)->xCurrentTimeInt64(TRESOR_ROOT(v), out);
}
#undef TRESOR_ROOT

} // namespace

Result<std::unique_ptr<CryptVfs>> CryptVfs::create(const crypto::SecretKey& key) {
  sqlite3_vfs* root = sqlite3_vfs_find(nullptr);
  if (!root || root->iVersion < 2)
    return fail(Errc::internal, "index: the default SQLite VFS is missing or too old");
  auto key_copy = crypto::SecretKey::from_bytes(
      std::string_view(reinterpret_cast<const char*>(key.data()), crypto::SecretKey::size()));
  if (!key_copy) return std::unexpected(key_copy.error());
  std::unique_ptr<CryptVfs> self(new CryptVfs());
  self->state_ = std::make_unique<State>();
  State& st = *self->state_;
  st.root = root;
  st.key = std::move(*key_copy);
  char name[48];
  std::snprintf(name, sizeof name, "tresor-crypt-%p", static_cast<void*>(&st));
  st.name = name;
  self->name_ = st.name;
  sqlite3_vfs& v = st.vfs;
  v.iVersion = 2;
  static_assert(sizeof(MemoryJournal) <= sizeof(CryptFile));
  v.szOsFile = static_cast<int>(CryptFile::real_offset()) + root->szOsFile;
  v.mxPathname = root->mxPathname;
  v.zName = st.name.c_str();
  v.pAppData = &st;
  v.xOpen = x_open;
  v.xDelete = x_delete;
  v.xAccess = x_access;
  v.xFullPathname = x_full_pathname;
  v.xDlOpen = x_dl_open;
  v.xDlError = x_dl_error;
  v.xDlSym = x_dl_sym;
  v.xDlClose = x_dl_close;
  v.xRandomness = x_randomness;
  v.xSleep = x_sleep;
  v.xCurrentTime = x_current_time;
  v.xGetLastError = x_last_error;
  v.xCurrentTimeInt64 = x_current_time64;
  if (int rc = sqlite3_vfs_register(&v, 0); rc != SQLITE_OK)
    return fail(Errc::internal, std::string("index: cannot register the encrypting VFS: ") + sqlite3_errstr(rc));
  return self;
}

CryptVfs::~CryptVfs() {
  if (state_) sqlite3_vfs_unregister(&state_->vfs);
}

} // namespace tresor::index::sqlite
