// Device cookies (see device_cookie.h for the contract).
#include "security/device_cookie.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include "security/auth_crypto.h"

namespace tresor::security {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kVersion = "v1";
constexpr std::string_view kDomain = "tresor-device-v1";
constexpr std::size_t kNonceBytes = 16;
constexpr std::size_t kNonceChars = 22;  // base64url of 16 bytes, no padding
constexpr std::size_t kMacChars = 43;    // base64url of 32 bytes, no padding
constexpr std::size_t kMaxExpiresChars = 12;

Result<std::string> read_key(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return fail(Errc::io_error, "cannot read the device-cookie key " + file.string() + ": " + std::strerror(errno));
  std::string key(DeviceCookies::kKeyBytes + 1, '\0');
  std::size_t got = 0;
  while (got < key.size()) {
    const ssize_t n = ::read(fd, key.data() + got, key.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got != DeviceCookies::kKeyBytes) {
    OPENSSL_cleanse(key.data(), key.size());
    return fail(Errc::invalid_argument, "the device-cookie key " + file.string() + " is not " +
                                            std::to_string(DeviceCookies::kKeyBytes) +
                                            " bytes; remove it to generate a new one (browsers lose their device cookies)");
  }
  key.resize(got);
  return key;
}

// Writes a new key to a temporary file (0600) and links it into place; when
// another process linked its key first, that one stays (and is read next).
Status create_key(const fs::path& file) {
  std::string key = detail::random_bytes(DeviceCookies::kKeyBytes);
  if (key.size() != DeviceCookies::kKeyBytes) return fail(Errc::internal, "random source failed");
  const fs::path temp = file.string() + ".new." + std::to_string(::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    OPENSSL_cleanse(key.data(), key.size());
    return fail(Errc::io_error, "cannot create " + temp.string() + ": " + std::strerror(errno));
  }
  std::size_t put = 0;
  bool ok = ::fchmod(fd, 0600) == 0;
  while (ok && put < key.size()) {
    const ssize_t n = ::write(fd, key.data() + put, key.size() - put);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = false;
    else put += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  OPENSSL_cleanse(key.data(), key.size());
  if (!ok) {
    ::unlink(temp.c_str());
    return fail(Errc::io_error, "cannot write " + temp.string());
  }
  const int linked = ::link(temp.c_str(), file.c_str());
  const int link_errno = errno;
  ::unlink(temp.c_str());
  if (linked != 0 && link_errno != EEXIST) {
    return fail(Errc::io_error, "cannot create " + file.string() + ": " + std::strerror(link_errno));
  }
  return {};
}

bool parse_seconds(std::string_view text, std::int64_t& out) {
  if (text.empty() || text.size() > kMaxExpiresChars) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && out > 0 && text.front() != '0';
}

} // namespace

Result<DeviceCookies> DeviceCookies::load_or_create(const fs::path& key_file) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(key_file, ec))) {
    if (auto s = create_key(key_file); !s) return std::unexpected(s.error());
  }
  auto key = read_key(key_file);
  if (!key) return std::unexpected(key.error());
  return DeviceCookies(std::move(*key));
}

DeviceCookies::DeviceCookies(std::string key) : key_(std::move(key)) {}

DeviceCookies::~DeviceCookies() { OPENSSL_cleanse(key_.data(), key_.size()); }

DeviceCookies::DeviceCookies(DeviceCookies&& other) noexcept : key_(std::move(other.key_)) {}

DeviceCookies& DeviceCookies::operator=(DeviceCookies&& other) noexcept {
  if (this != &other) {
    OPENSSL_cleanse(key_.data(), key_.size());
    key_ = std::move(other.key_);
  }
  return *this;
}

std::string DeviceCookies::mac(std::string_view account, std::string_view nonce, std::string_view expires) const {
  std::string message;
  message.reserve(kDomain.size() + account.size() + nonce.size() + expires.size() + 3);
  message.append(kDomain).push_back('\0');
  message.append(account).push_back('\0');
  message.append(nonce).push_back('\0');
  message.append(expires);
  const std::string raw = detail::hmac_sha256(key_, message);
  return raw.size() == 32 ? detail::base64url(raw) : std::string{};
}

std::string DeviceCookies::issue(std::string_view account, time_point now, std::chrono::seconds ttl) const {
  if (key_.size() != kKeyBytes) return {};
  const std::string raw = detail::random_bytes(kNonceBytes);
  if (raw.size() != kNonceBytes) return {};
  const std::string nonce = detail::base64url(raw);
  const auto expires_s = std::chrono::duration_cast<std::chrono::seconds>((now + ttl).time_since_epoch()).count();
  const std::string expires = std::to_string(expires_s);
  const std::string tag = mac(account, nonce, expires);
  if (nonce.size() != kNonceChars || tag.size() != kMacChars) return {};
  return std::string(kVersion) + "." + nonce + "." + expires + "." + tag;
}

std::optional<std::string> DeviceCookies::verify(std::string_view cookie, std::string_view account,
                                                 time_point now) const {
  if (key_.size() != kKeyBytes || cookie.empty() || cookie.size() > kMaxCookieChars) return std::nullopt;
  std::string_view parts[4];
  std::string_view rest = cookie;
  for (int i = 0; i < 3; ++i) {
    const std::size_t dot = rest.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    parts[i] = rest.substr(0, dot);
    rest.remove_prefix(dot + 1);
  }
  parts[3] = rest;
  const std::string_view version = parts[0], nonce = parts[1], expires = parts[2], tag = parts[3];
  if (version != kVersion || nonce.size() != kNonceChars || !detail::is_base64url(nonce) || tag.size() != kMacChars ||
      !detail::is_base64url(tag)) {
    return std::nullopt;
  }
  std::int64_t expires_s = 0;
  if (!parse_seconds(expires, expires_s)) return std::nullopt;
  const std::string expected = mac(account, nonce, expires);
  if (expected.empty() || !detail::constant_time_equal(expected, tag)) return std::nullopt;
  if (now >= time_point{std::chrono::seconds(expires_s)}) return std::nullopt;
  return std::string(nonce);
}

} // namespace tresor::security
