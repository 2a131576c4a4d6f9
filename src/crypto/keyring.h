// The key hierarchy of encryption at rest (docs/storage-layout.md).
//
//   KEK (key-encryption key, 32 bytes): never under var/. It comes from a key
//   file (created by `tresor init`, mode 0600, path in the configuration) or
//   from the stdout of an external command (`key_command`, e.g.
//   `systemd-creds decrypt ...`, a TPM or KMS client). It only wraps keys.
//     |- purpose keys (32 random bytes each, made at init, stored wrapped in
//     |  var/keys/keyring): the index database, the audit trail, the import
//     |  journal, the pseudonym HMAC root. They do not change when the KEK
//     |  rotates, so rotation rewrites only wrapped keys, never data.
//     |- one data key per stored object (random, wrapped under the KEK,
//        stored beside the object by the store). Destroying it is the
//        object's crypto-erase.
//
// Contract: open() fails with a plain, operator-facing message when the key
// is missing, unreadable, has loose permissions, or is not the key the
// keyring was made with (the wrapped check value does not open). Secret bytes
// live in SecretKey (sodium_malloc'd, locked, zeroed on destruction) and are
// never logged or put in an Error message.
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

  virtual ~Keyring() = default;
  // A stable identifier of the current KEK (16 hex digits of a keyed hash; reveals nothing).
  virtual std::string kek_id() const = 0;
  virtual const SecretKey& purpose_key(Purpose p) const = 0;
  // Wraps a data key under the current KEK (XChaCha20-Poly1305 or AES-GCM,
  // `context` bound as associated data, e.g. the object's blob key).
  virtual Result<std::string> wrap(const SecretKey& data_key, std::string_view context) const = 0;
  // Unwraps what wrap() made under the current KEK (or, during a rotation, the previous one).
  virtual Result<SecretKey> unwrap(std::string_view wrapped, std::string_view context) const = 0;
};

} // namespace tresor::crypto
