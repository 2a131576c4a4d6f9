// The key hierarchy of encryption at rest (docs/storage-layout.md).
//
//   KEK (key-encryption key, 32 bytes): never under var/. It comes from a key
//   file (created by `tresor init`, mode 0600, 64 hex digits, path in the
//   configuration) or from the stdout of an external command (`key_command`,
//   e.g. `systemd-creds decrypt ...`, a TPM or KMS client). It only wraps keys.
//     |- purpose keys (32 random bytes each, made at init, stored wrapped in
//     |  var/keys/keyring): the index database, the audit trail, the import
//     |  journal, the pseudonym HMAC root. They do not change when the KEK
//     |  rotates, so rotation rewrites only wrapped keys, never data.
//     |- one data key per stored object (random, wrapped under the KEK,
//        stored in the object's header by the store: crypto/sealed.h). Destroying
//        it is the object's crypto-erase.
//
// Contract: open() fails with a plain, operator-facing message when the key
// is missing, unreadable, has loose permissions, or is not the key the
// keyring was made with (the wrapped check value does not open). Secret bytes
// live in SecretKey (sodium_malloc'd, locked, zeroed on destruction) and are
// never logged or put in an Error message.
//
// Wrapped keys: 81 bytes, version 1 || KEK id (8 bytes) || XChaCha20-Poly1305
// nonce (24) || sealed key (32 + 16 tag), the associated data binding the KEK
// id and the caller's context (e.g. the object's blob key), so a wrapped key
// moved to another object does not open.
//
// Rotation (`tresor key rotate`, docs/storage-layout.md): begin_rotation()
// records the next KEK's source and id in the keyring file and wraps the
// purpose keys under it too; from then on every Keyring that notices the
// change (wrap() and unwrap() re-read the keyring file when its stat changed,
// so a running server follows) wraps under the next KEK and unwraps under
// both. Once every wrapped key has been re-wrapped and the new key installed,
// finish_rotation() makes the next KEK the only one. All methods are
// thread-safe.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace tresor::crypto {

inline constexpr std::size_t kKeyBytes = 32;
inline constexpr std::size_t kWrappedBytes = 81;

// 32 secret bytes in guarded memory. Move-only.
class SecretKey {
public:
  SecretKey();                       // all zero
  ~SecretKey();
  SecretKey(SecretKey&&) noexcept;
  SecretKey& operator=(SecretKey&&) noexcept;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  static SecretKey random();
  static Result<SecretKey> from_bytes(std::string_view bytes);  // exactly 32 bytes
  const unsigned char* data() const noexcept { return bytes_; }
  unsigned char* data() noexcept { return bytes_; }
  static constexpr std::size_t size() noexcept { return kKeyBytes; }
private:
  unsigned char* bytes_ = nullptr;
};

// Where the KEK comes from (config [encryption]); exactly one is set.
struct KekSource {
  std::filesystem::path key_file;  // absolute, outside var_dir
  std::string key_command;         // run with /bin/sh -c; stdout = 64 hex digits (+ optional newline)
};

// Reads the KEK from its source: the file must be a regular file, mode 0600
// or stricter (no group/other bits), holding 64 hex digits; the command must
// exit 0 and print 64 hex digits. Errors name the file or say "key_command".
Result<SecretKey> load_kek(const KekSource& source);
// 16 hex digits identifying a KEK (a keyed BLAKE2b of a constant; reveals nothing).
std::string kek_id_of(const SecretKey& kek);
// The KEK id a wrapped key was made under ("" if malformed).
std::string wrapped_kek_id(std::string_view wrapped);

enum class Purpose { index, audit, journal, pseudonym };
const char* to_string(Purpose p) noexcept;

class Keyring {
public:
  // Creates a new KEK file (0600, refuses to overwrite) with 32 random bytes.
  static Status create_key_file(const std::filesystem::path& key_file);
  // Creates var_dir/keys/keyring with fresh purpose keys wrapped under the KEK.
  // Refuses if one exists.
  static Result<std::unique_ptr<Keyring>> create(const KekSource& source, const std::filesystem::path& var_dir);
  // Loads the KEK and unwraps the purpose keys; see the contract above.
  static Result<std::unique_ptr<Keyring>> open(const KekSource& source, const std::filesystem::path& var_dir);
  // The keyring file of an instance.
  static std::filesystem::path file_of(const std::filesystem::path& var_dir);

  virtual ~Keyring() = default;
  // The identifier of the KEK wrap() uses now (the next KEK during a rotation).
  virtual std::string kek_id() const = 0;
  virtual const SecretKey& purpose_key(Purpose p) const = 0;
  // Wraps a data key under the current KEK (XChaCha20-Poly1305,
  // `context` bound as associated data, e.g. the object's blob key).
  virtual Result<std::string> wrap(const SecretKey& data_key, std::string_view context) const = 0;
  // Unwraps what wrap() made under the current KEK (or, during a rotation, the previous one).
  // A wrapped key that does not open (wrong context, tampered) is Errc::corrupt.
  virtual Result<SecretKey> unwrap(std::string_view wrapped, std::string_view context) const = 0;

  // Rotation (see above). begin_rotation is idempotent for the same next
  // KEK (a crashed rotation resumes) and refuses another while one is pending.
  virtual Status begin_rotation(const KekSource& next) = 0;
  // "" when no rotation is pending, else the next KEK's id.
  virtual std::string next_kek_id() const = 0;
  // The KEK the configuration gives (before installation of the next key,
  // the previous one; afterwards the next one).
  virtual std::string configured_kek_id() const = 0;
  // Makes the next KEK the only one: purpose keys and check value under it
  // alone. The caller has re-wrapped every data key first.
  virtual Status finish_rotation() = 0;
};

} // namespace tresor::crypto
