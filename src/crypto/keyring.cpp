// Keyring: the KEK from its source, the purpose keys and the rotation state
// in var/keys/keyring (see keyring.h). The keyring file is text:
//   tresor-keyring 1
//   kek <id> <check>                               the KEK the keyring was made with
//   next <id> <check> file <path> | command <cmd>  only during a rotation
//   purpose <name> <wrapped>                       one per purpose and KEK
// <check> and <wrapped> are hex of wrapped keys (the check value wraps 32
// zero bytes under the context "tresor kek check"); it is replaced
// atomically (write, fsync, rename, fsync of keys/).
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "core/log.h"
#include "crypto/keyring.h"

namespace tresor::crypto {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kHeaderLine = "tresor-keyring 1";
constexpr std::string_view kCheckContext = "tresor kek check";
constexpr std::size_t kIdBytes = 8;
constexpr unsigned char kWrapVersion = 1;

std::string to_hex(std::string_view bytes) {
  std::string out(bytes.size() * 2, '\0');
  static const char* digits = "0123456789abcdef";
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = digits[static_cast<unsigned char>(bytes[i]) >> 4];
    out[2 * i + 1] = digits[static_cast<unsigned char>(bytes[i]) & 15];
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::string raw_id(const SecretKey& kek) {
  unsigned char out[crypto_generichash_BYTES_MIN];
  static constexpr std::string_view msg = "tresor kek id v1";
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), kek.data(),
                      kek.size());
  return std::string(reinterpret_cast<const char*>(out), kIdBytes);
}

std::string associated_data(std::string_view raw_kek_id, std::string_view context) {
  std::string ad = "tresor wrap v1";
  ad.push_back('\0');
  ad.append(raw_kek_id);
  ad.append(context);
  return ad;
}

std::string wrap_with(const SecretKey& kek, const SecretKey& key, std::string_view context) {
  const std::string id = raw_id(kek);
  std::string out;
  out.reserve(kWrappedBytes);
  out.push_back(static_cast<char>(kWrapVersion));
  out.append(id);
  unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  randombytes_buf(nonce, sizeof nonce);
  out.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
  const std::string ad = associated_data(id, context);
  unsigned char sealed[kKeyBytes + crypto_aead_xchacha20poly1305_ietf_ABYTES];
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, &len, key.data(), key.size(),
                                             reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
                                             nonce, kek.data());
  out.append(reinterpret_cast<const char*>(sealed), static_cast<std::size_t>(len));
  return out;
}

Result<SecretKey> unwrap_with(const SecretKey& kek, std::string_view wrapped, std::string_view context) {
  if (wrapped.size() != kWrappedBytes || static_cast<unsigned char>(wrapped[0]) != kWrapVersion)
    return fail(Errc::corrupt, "malformed wrapped key");
  const std::string_view id = wrapped.substr(1, kIdBytes);
  const auto* nonce = reinterpret_cast<const unsigned char*>(wrapped.data() + 1 + kIdBytes);
  const std::string_view sealed = wrapped.substr(1 + kIdBytes + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  const std::string ad = associated_data(id, context);
  SecretKey key;
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(key.data(), &len, nullptr,
                                                 reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size(),
                                                 reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nonce,
                                                 kek.data()) != 0 ||
      len != kKeyBytes)
    return fail(Errc::corrupt, "a wrapped key does not open (tampered, or bound to another object)");
  return key;
}

Result<SecretKey> parse_kek_text(std::string_view text, const std::string& where) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  if (text.size() != 2 * kKeyBytes) return fail(Errc::invalid_argument, where + " does not hold a key (64 hex digits)");
  auto bytes = from_hex(text);
  if (!bytes) return fail(Errc::invalid_argument, where + " does not hold a key (64 hex digits)");
  auto key = SecretKey::from_bytes(*bytes);
  sodium_memzero(bytes->data(), bytes->size());
  return key;
}

Result<SecretKey> read_key_file(const fs::path& file) {
  const std::string where = "key file " + file.string();
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return fail(errno == ENOENT ? Errc::not_found : Errc::permission_denied,
                where + (errno == ENOENT ? " is missing" : std::string(" cannot be read: ") + std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(Errc::invalid_argument, where + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return fail(Errc::permission_denied, where + " is accessible to other users (mode " + mode + "): chmod 600 it");
  }
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) return fail(Errc::io_error, where + " cannot be read: " + std::strerror(errno));
  auto key = parse_kek_text(std::string_view(buf, static_cast<std::size_t>(n)), where);
  sodium_memzero(buf, sizeof buf);
  return key;
}

Result<SecretKey> run_key_command(const std::string& command) {
  FILE* p = ::popen(command.c_str(), "re");
  if (!p) return fail(Errc::io_error, std::string("key_command cannot be started: ") + std::strerror(errno));
  char buf[256];
  std::size_t n = std::fread(buf, 1, sizeof buf, p);
  char drain[256];
  while (std::fread(drain, 1, sizeof drain, p) > 0) n = sizeof buf + 1;  // too long: refuse below
  const int status = ::pclose(p);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    sodium_memzero(buf, sizeof buf);
    return fail(Errc::unavailable, "key_command failed (exit status " +
                                       std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
  }
  auto key = parse_kek_text(std::string_view(buf, std::min(n, sizeof buf)), "the output of key_command");
  sodium_memzero(buf, sizeof buf);
  return key;
}

std::string describe(const KekSource& s) {
  return s.key_command.empty() ? "key file " + s.key_file.string() : "key_command";
}

Status write_file_atomically(const fs::path& file, const std::string& content) {
  const fs::path tmp = file.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fail(Errc::io_error, "cannot write " + tmp.string() + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail(Errc::io_error, "cannot write " + tmp.string() + ": " + std::strerror(e));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return fail(Errc::io_error, "cannot write " + tmp.string() + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return fail(Errc::io_error, "cannot replace " + file.string() + ": " + std::strerror(e));
  }
  const int dfd = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

// The parsed keyring file.
struct State {
  std::string kek_id, kek_check;  // hex id, raw wrapped check
  std::string next_id, next_check;
  KekSource next_source;
  std::vector<std::pair<std::string, std::string>> purposes;  // (name, raw wrapped)
};

Result<State> parse_state(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return fail(Errc::not_found, "no keyring at " + file.string() + " (was this instance made by `tresor init`?)");
  std::string line;
  State s;
  if (!std::getline(in, line) || line != kHeaderLine) return fail(Errc::corrupt, file.string() + " is not a keyring");
  auto bad = [&] { return fail(Errc::corrupt, file.string() + " is damaged"); };
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string tag, a, b;
    ls >> tag >> a >> b;
    auto braw = from_hex(b);
    if (tag.empty()) continue;
    if (!braw) return bad();
    if (tag == "kek") {
      s.kek_id = a;
      s.kek_check = *braw;
    } else if (tag == "next") {
      s.next_id = a;
      s.next_check = *braw;
      std::string kind;
      ls >> kind;
      std::string rest;
      std::getline(ls >> std::ws, rest);
      if (kind == "file") s.next_source.key_file = rest;
      else if (kind == "command") s.next_source.key_command = rest;
      else return bad();
    } else if (tag == "purpose") {
      s.purposes.emplace_back(a, *braw);
    } else {
      return bad();
    }
  }
  if (s.kek_id.empty()) return bad();
  return s;
}

std::string render(const State& s) {
  std::string out(kHeaderLine);
  out += "\nkek " + s.kek_id + " " + to_hex(s.kek_check) + "\n";
  if (!s.next_id.empty()) {
    out += "next " + s.next_id + " " + to_hex(s.next_check) +
           (s.next_source.key_command.empty() ? " file " + s.next_source.key_file.string()
                                              : " command " + s.next_source.key_command) +
           "\n";
  }
  for (const auto& [name, w] : s.purposes) out += "purpose " + name + " " + to_hex(w) + "\n";
  return out;
}

constexpr Purpose kPurposes[] = {Purpose::index, Purpose::audit, Purpose::journal, Purpose::pseudonym};

struct Stamp {
  ino_t ino = 0;
  timespec mtime{};
  off_t size = 0;
  bool operator==(const Stamp& o) const {
    return ino == o.ino && mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec && size == o.size;
  }
};

Stamp stamp_of(const fs::path& f) {
  struct stat st {};
  if (::stat(f.c_str(), &st) != 0) return {};
  return Stamp{st.st_ino, st.st_mtim, st.st_size};
}

class FileKeyring final : public Keyring {
public:
  FileKeyring(KekSource source, fs::path file) : source_(std::move(source)), file_(std::move(file)) {}

  // Loads the configured KEK, the file's state and the purpose keys.
  Status load() {
    auto kek = load_kek(source_);
    if (!kek) return std::unexpected(kek.error());
    const std::string id = kek_id_of(*kek);
    const Stamp stamp = stamp_of(file_);
    auto state = parse_state(file_);
    if (!state) return std::unexpected(state.error());
    const std::string& check = id == state->kek_id ? state->kek_check
                               : id == state->next_id ? state->next_check
                                                      : std::string();
    if (check.empty() || !unwrap_with(*kek, check, kCheckContext))
      return fail(Errc::permission_denied, describe(source_) + " does not hold this instance's key (the keyring " +
                                               file_.string() + " was made with key " + state->kek_id + ")");
    configured_id_ = id;
    keks_.emplace(id, std::move(*kek));
    if (auto s = apply(*state, stamp); !s) return s;
    for (Purpose p : kPurposes) {
      bool found = false;
      for (const auto& [name, w] : state->purposes) {
        if (name != to_string(p)) continue;
        auto it = keks_.find(wrapped_kek_id(w));
        if (it == keks_.end()) continue;
        auto k = unwrap_with(it->second, w, std::string("tresor purpose ") + name);
        if (!k) return fail(Errc::corrupt, file_.string() + " is damaged (purpose key " + name + ")");
        purpose_[static_cast<std::size_t>(p)] = std::move(*k);
        found = true;
        break;
      }
      if (!found) return fail(Errc::corrupt, file_.string() + " lacks the purpose key " + to_string(p));
    }
    return {};
  }

  std::string kek_id() const override {
    std::lock_guard lock(mu_);
    (void)refresh_locked();
    return wrap_id_;
  }
  const SecretKey& purpose_key(Purpose p) const override { return purpose_[static_cast<std::size_t>(p)]; }

  Result<std::string> wrap(const SecretKey& data_key, std::string_view context) const override {
    std::lock_guard lock(mu_);
    // A keyring that changed and cannot be followed wraps nothing: a key
    // wrapped under a KEK that a rotation is retiring would be lost with it.
    if (auto s = refresh_locked(); !s) return std::unexpected(s.error());
    return wrap_with(keks_.at(wrap_id_), data_key, context);
  }

  Result<SecretKey> unwrap(std::string_view wrapped, std::string_view context) const override {
    std::lock_guard lock(mu_);
    const std::string id = wrapped_kek_id(wrapped);
    auto it = keks_.find(id);
    if (it == keks_.end()) {
      (void)refresh_locked();
      it = keks_.find(id);
    }
    if (it == keks_.end()) return fail(Errc::permission_denied, "a data key is wrapped under another key (" + id + ")");
    return unwrap_with(it->second, wrapped, context);
  }

  Status begin_rotation(const KekSource& next) override {
    auto kek = load_kek(next);
    if (!kek) return std::unexpected(kek.error());
    const std::string id = kek_id_of(*kek);
    std::lock_guard lock(mu_);
    auto state = parse_state(file_);
    if (!state) return std::unexpected(state.error());
    if (id == state->kek_id) return fail(Errc::invalid_argument, "the new key is the current key");
    if (!state->next_id.empty() && state->next_id != id)
      return fail(Errc::conflict, "a rotation to key " + state->next_id +
                                      " is in progress: finish it first (`tresor key rotate` with that key)");
    if (state->next_id.empty()) {
      state->next_id = id;
      state->next_check = wrap_with(*kek, SecretKey(), kCheckContext);
      state->next_source = next;
      for (Purpose p : kPurposes) {
        const std::string name = to_string(p);
        state->purposes.emplace_back(name, wrap_with(*kek, purpose_[static_cast<std::size_t>(p)], "tresor purpose " + name));
      }
      if (auto s = write_file_atomically(file_, render(*state)); !s) return s;
    }
    keks_.insert_or_assign(id, std::move(*kek));
    return apply(*state, stamp_of(file_));
  }

  std::string next_kek_id() const override {
    std::lock_guard lock(mu_);
    (void)refresh_locked();
    return next_id_;
  }
  std::string configured_kek_id() const override { return configured_id_; }

  Status finish_rotation() override {
    std::lock_guard lock(mu_);
    auto state = parse_state(file_);
    if (!state) return std::unexpected(state.error());
    if (state->next_id.empty()) return {};
    State done;
    done.kek_id = state->next_id;
    done.kek_check = state->next_check;
    for (auto& pw : state->purposes)
      if (wrapped_kek_id(pw.second) == done.kek_id) done.purposes.push_back(pw);
    if (auto s = write_file_atomically(file_, render(done)); !s) return s;
    return apply(done, stamp_of(file_));
  }

private:
  // Adopts a parsed state: the KEK wrap() uses, loading the next KEK from
  // its source when it is not known yet. Called with mu_ held (or before
  // the keyring is shared).
  Status apply(const State& s, const Stamp& stamp) const {
    if (!s.next_id.empty() && !keks_.contains(s.next_id)) {
      auto kek = load_kek(s.next_source);
      if (!kek || kek_id_of(*kek) != s.next_id) {
        // Installed already (the next key file renamed over the configured one)?
        auto installed = load_kek(source_);
        if (installed && kek_id_of(*installed) == s.next_id) kek = std::move(installed);
      }
      if (!kek)
        return fail(kek.error().code, "a key rotation is in progress and its new key cannot be read: " +
                                          kek.error().message);
      if (kek_id_of(*kek) != s.next_id)
        return fail(Errc::permission_denied, "a key rotation is in progress and " + describe(s.next_source) +
                                                 " no longer holds its new key " + s.next_id);
      keks_.emplace(s.next_id, std::move(*kek));
    }
    next_id_ = s.next_id;
    wrap_id_ = !s.next_id.empty() ? s.next_id : s.kek_id;
    if (!keks_.contains(wrap_id_)) {
      // The keyring moved on to a KEK this process has not seen (a rotation
      // finished elsewhere): the configured source may hold it by now.
      auto kek = load_kek(source_);
      if (!kek || kek_id_of(*kek) != wrap_id_)
        return fail(Errc::permission_denied, "the keyring's key " + wrap_id_ + " is not available");
      keks_.emplace(wrap_id_, std::move(*kek));
    }
    stamp_ = stamp;
    return {};
  }

  // Re-reads the keyring file if it changed (one stat). A failure keeps the
  // state in force and is logged: a running server must not stop serving.
  Status refresh_locked() const {
    const Stamp now = stamp_of(file_);
    if (now == stamp_) return {};
    auto state = parse_state(file_);
    Status s = state ? apply(*state, now) : Status(std::unexpected(state.error()));
    if (!s) log::warn("keyring: cannot follow a change of {}: {}", file_.string(), s.error().message);
    return s;
  }

  KekSource source_;
  fs::path file_;
  std::string configured_id_;
  std::array<SecretKey, 4> purpose_;
  mutable std::mutex mu_;
  mutable std::map<std::string, SecretKey> keks_;  // by hex id
  mutable std::string wrap_id_, next_id_;
  mutable Stamp stamp_;
};

} // namespace

Result<SecretKey> load_kek(const KekSource& source) {
  if (sodium_init() < 0) return fail(Errc::internal, "libsodium failed to initialize");
  if (!source.key_command.empty()) return run_key_command(source.key_command);
  if (source.key_file.empty()) return fail(Errc::invalid_argument, "no key_file or key_command configured");
  return read_key_file(source.key_file);
}

std::string kek_id_of(const SecretKey& kek) { return to_hex(raw_id(kek)); }

std::string wrapped_kek_id(std::string_view wrapped) {
  if (wrapped.size() != kWrappedBytes) return {};
  return to_hex(wrapped.substr(1, kIdBytes));
}

fs::path Keyring::file_of(const fs::path& var_dir) { return var_dir / "keys" / "keyring"; }

Status Keyring::create_key_file(const fs::path& key_file) {
  if (sodium_init() < 0) return fail(Errc::internal, "libsodium failed to initialize");
  std::error_code ec;
  if (key_file.has_parent_path()) fs::create_directories(key_file.parent_path(), ec);
  const int fd = ::open(key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return fail(errno == EEXIST ? Errc::conflict : Errc::io_error,
                "cannot create key file " + key_file.string() + ": " + std::strerror(errno));
  SecretKey k = SecretKey::random();
  std::string text = to_hex(std::string_view(reinterpret_cast<const char*>(k.data()), k.size())) + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  sodium_memzero(text.data(), text.size());
  ::close(fd);
  if (!ok) {
    ::unlink(key_file.c_str());
    return fail(Errc::io_error, "cannot write key file " + key_file.string());
  }
  const int dfd = ::open(key_file.has_parent_path() ? key_file.parent_path().c_str() : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

Result<std::unique_ptr<Keyring>> Keyring::create(const KekSource& source, const fs::path& var_dir) {
  const fs::path file = file_of(var_dir);
  std::error_code ec;
  if (fs::exists(file, ec)) return fail(Errc::conflict, "a keyring exists already at " + file.string());
  fs::create_directories(file.parent_path(), ec);
  if (ec) return fail(Errc::io_error, "cannot create " + file.parent_path().string() + ": " + ec.message());
  ::chmod(file.parent_path().c_str(), 0700);
  auto kek = load_kek(source);
  if (!kek) return std::unexpected(kek.error());
  State s;
  s.kek_id = kek_id_of(*kek);
  s.kek_check = wrap_with(*kek, SecretKey(), kCheckContext);
  for (Purpose p : kPurposes) {
    const std::string name = to_string(p);
    s.purposes.emplace_back(name, wrap_with(*kek, SecretKey::random(), "tresor purpose " + name));
  }
  if (auto st = write_file_atomically(file, render(s)); !st) return std::unexpected(st.error());
  return open(source, var_dir);
}

Result<std::unique_ptr<Keyring>> Keyring::open(const KekSource& source, const fs::path& var_dir) {
  auto ring = std::make_unique<FileKeyring>(source, file_of(var_dir));
  if (auto s = ring->load(); !s) return std::unexpected(s.error());
  return std::unique_ptr<Keyring>(std::move(ring));
}

} // namespace tresor::crypto
