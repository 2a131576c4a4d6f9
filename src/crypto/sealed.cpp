// Chunked AES-256-GCM objects (see sealed.h) through OpenSSL's EVP interface
// (AES-NI and PCLMULQDQ where the CPU has them).
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <vector>

#include "crypto/sealed.h"

namespace tresor::crypto::sealed {

namespace {

constexpr char kMagic[8] = {'T', 'R', 'S', 'R', 'E', 'N', 'C', '1'};
constexpr std::string_view kAdLabel = "tresor blob v1";

void put_le(unsigned char* p, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
std::uint64_t get_le(const unsigned char* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
void put_be64(unsigned char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * (7 - i)));
}

std::uint64_t chunk_count(std::uint64_t plaintext_size, std::uint32_t chunk_size) {
  return plaintext_size == 0 ? 1 : (plaintext_size + chunk_size - 1) / chunk_size;
}

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

// Per-object cipher state: the key schedule once, then one IV per chunk.
class ChunkCipher {
public:
  ChunkCipher(const SecretKey& key, std::string_view object_id, const std::array<unsigned char, kFixedBytes>& fixed,
              bool encrypt)
      : ctx_(EVP_CIPHER_CTX_new()), encrypt_(encrypt) {
    ad_.resize(kAdLabel.size() + object_id.size() + kFixedBytes + 9);
    std::memcpy(ad_.data(), kAdLabel.data(), kAdLabel.size());
    std::memcpy(ad_.data() + kAdLabel.size(), object_id.data(), object_id.size());
    std::memcpy(ad_.data() + kAdLabel.size() + object_id.size(), fixed.data(), kFixedBytes);
    std::memcpy(iv_, fixed.data() + 24, 4);
    ok_ = ctx_ && (encrypt ? EVP_EncryptInit_ex(ctx_.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr)
                           : EVP_DecryptInit_ex(ctx_.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr)) == 1;
  }

  // out has room for in.size(); tag is 16 bytes (written when encrypting,
  // checked when decrypting). False on failure (a bad tag).
  bool run(std::uint64_t index, bool last, const unsigned char* in, std::size_t n, unsigned char* out,
           unsigned char* tag) {
    if (!ok_) return false;
    put_be64(iv_ + 4, index);
    unsigned char* tail = ad_.data() + ad_.size() - 9;
    put_be64(tail, index);
    tail[8] = last ? 1 : 0;
    int len = 0;
    EVP_CIPHER_CTX* c = ctx_.get();
    if (encrypt_) {
      if (EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, iv_) != 1) return false;
      if (EVP_EncryptUpdate(c, nullptr, &len, ad_.data(), static_cast<int>(ad_.size())) != 1) return false;
      if (n && EVP_EncryptUpdate(c, out, &len, in, static_cast<int>(n)) != 1) return false;
      if (EVP_EncryptFinal_ex(c, out + n, &len) != 1) return false;
      return EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, kTagBytes, tag) == 1;
    }
    if (EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, iv_) != 1) return false;
    if (EVP_DecryptUpdate(c, nullptr, &len, ad_.data(), static_cast<int>(ad_.size())) != 1) return false;
    if (n && EVP_DecryptUpdate(c, out, &len, in, static_cast<int>(n)) != 1) return false;
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) != 1) return false;
    return EVP_DecryptFinal_ex(c, out + n, &len) == 1;
  }

private:
  Ctx ctx_;
  bool encrypt_;
  bool ok_ = false;
  std::vector<unsigned char> ad_;
  unsigned char iv_[12]{};
};

class SealedReader final : public ByteSource {
public:
  SealedReader(const SecretKey& key, std::string object_id, const Header& h, PreadFn pread)
      : cipher_(key, object_id, h.fixed, false), id_(std::move(object_id)), chunk_(h.chunk_size),
        size_(h.plaintext_size), chunks_(chunk_count(h.plaintext_size, h.chunk_size)), pread_(std::move(pread)),
        cipher_buf_(chunk_ + kTagBytes), plain_(chunk_) {}

  std::uint64_t size() const noexcept override { return size_; }

  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    std::size_t done = 0;
    while (done < out.size() && offset + done < size_) {
      const std::uint64_t pos = offset + done;
      const std::uint64_t index = pos / chunk_;
      if (auto s = load(index); !s) return std::unexpected(s.error());
      const std::size_t within = static_cast<std::size_t>(pos - index * chunk_);
      const std::size_t n = std::min(out.size() - done, plain_len_ - within);
      std::memcpy(out.data() + done, plain_.data() + within, n);
      done += n;
    }
    return done;
  }

private:
  Status load(std::uint64_t index) {
    if (cached_ == index) return {};
    cached_ = kNone;
    const bool last = index + 1 == chunks_;
    const std::size_t n = last ? static_cast<std::size_t>(size_ - index * chunk_) : chunk_;
    const std::uint64_t at = kHeaderBytes + index * (static_cast<std::uint64_t>(chunk_) + kTagBytes);
    std::span<std::byte> buf(reinterpret_cast<std::byte*>(cipher_buf_.data()), n + kTagBytes);
    auto got = pread_(at, buf);
    if (!got) return std::unexpected(got.error());
    if (*got != buf.size()) return fail(Errc::corrupt, "stored object " + id_ + " is truncated");
    if (!cipher_.run(index, last, cipher_buf_.data(), n, plain_.data(), cipher_buf_.data() + n)) {
      std::memset(plain_.data(), 0, n);  // never served
      return fail(Errc::corrupt, "stored object " + id_ + " failed authentication at chunk " + std::to_string(index));
    }
    plain_len_ = n;
    cached_ = index;
    return {};
  }

  static constexpr std::uint64_t kNone = ~std::uint64_t{0};
  ChunkCipher cipher_;
  std::string id_;
  std::uint32_t chunk_;
  std::uint64_t size_, chunks_;
  PreadFn pread_;
  std::vector<unsigned char> cipher_buf_, plain_;
  std::size_t plain_len_ = 0;
  std::uint64_t cached_ = kNone;
};

} // namespace

bool is_sealed(std::span<const std::byte> first_bytes) noexcept {
  return first_bytes.size() >= sizeof kMagic && std::memcmp(first_bytes.data(), kMagic, sizeof kMagic) == 0;
}

std::uint64_t sealed_size(std::uint64_t plaintext_size, std::uint32_t chunk_size) {
  return kHeaderBytes + plaintext_size + chunk_count(plaintext_size, chunk_size) * kTagBytes;
}

std::array<std::byte, kSlotBytes> encode_slot(std::string_view wrapped) {
  std::array<std::byte, kSlotBytes> out{};
  if (wrapped.size() >= kSlotBytes) return out;  // cannot happen: wrapped keys are 81 bytes
  out[0] = static_cast<std::byte>(wrapped.size());
  std::memcpy(out.data() + 1, wrapped.data(), wrapped.size());
  return out;
}

Result<Header> parse_header(std::span<const std::byte> bytes) {
  if (bytes.size() < kHeaderBytes || !is_sealed(bytes)) return fail(Errc::corrupt, "not an encrypted object");
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (get_le(p + 8, 2) != 1) return fail(Errc::corrupt, "unknown encrypted object version");
  Header h;
  h.chunk_size = static_cast<std::uint32_t>(get_le(p + 12, 4));
  h.plaintext_size = get_le(p + 16, 8);
  if (h.chunk_size < 4096 || h.chunk_size > (16u << 20)) return fail(Errc::corrupt, "bad chunk size");
  if (h.plaintext_size > (std::uint64_t{1} << 50)) return fail(Errc::corrupt, "bad object size");
  std::memcpy(h.fixed.data(), p, kFixedBytes);
  for (std::size_t i = 0; i < kSlotCount; ++i) {
    const unsigned char* s = p + slot_offset(i);
    if (s[0] != 0 && s[0] < kSlotBytes) h.slots[i].assign(reinterpret_cast<const char*>(s + 1), s[0]);
  }
  return h;
}

Status seal(const SecretKey& key, std::string_view object_id, std::uint64_t plaintext_size, std::string_view wrapped_key,
            const ReadFn& read, const WriteFn& write, std::uint32_t chunk_size) {
  std::array<unsigned char, kHeaderBytes> header{};
  std::memcpy(header.data(), kMagic, sizeof kMagic);
  put_le(header.data() + 8, 1, 2);
  put_le(header.data() + 12, chunk_size, 4);
  put_le(header.data() + 16, plaintext_size, 8);
  if (RAND_bytes(header.data() + 24, 4) != 1) return fail(Errc::internal, "no randomness");
  const auto slot = encode_slot(wrapped_key);
  std::memcpy(header.data() + slot_offset(0), slot.data(), slot.size());
  std::array<unsigned char, kFixedBytes> fixed{};
  std::memcpy(fixed.data(), header.data(), kFixedBytes);
  if (auto s = write(std::as_bytes(std::span(header))); !s) return s;

  ChunkCipher cipher(key, object_id, fixed, true);
  std::vector<unsigned char> in(chunk_size), out(chunk_size + kTagBytes);
  const std::uint64_t chunks = chunk_count(plaintext_size, chunk_size);
  for (std::uint64_t i = 0; i < chunks; ++i) {
    const bool last = i + 1 == chunks;
    const std::size_t n = last ? static_cast<std::size_t>(plaintext_size - i * chunk_size) : chunk_size;
    std::size_t have = 0;
    while (have < n) {
      auto got = read(std::span(reinterpret_cast<std::byte*>(in.data()) + have, n - have));
      if (!got) return std::unexpected(got.error());
      if (*got == 0) return fail(Errc::io_error, "the object shrank while it was encrypted");
      have += *got;
    }
    if (!cipher.run(i, last, in.data(), n, out.data(), out.data() + n)) return fail(Errc::internal, "AES-GCM failed");
    if (auto s = write(std::span(reinterpret_cast<const std::byte*>(out.data()), n + kTagBytes)); !s) return s;
  }
  std::byte extra[1];
  auto more = read(std::span(extra));
  if (!more) return std::unexpected(more.error());
  if (*more != 0) return fail(Errc::io_error, "the object grew while it was encrypted");
  std::memset(in.data(), 0, in.size());
  return {};
}

Result<std::unique_ptr<ByteSource>> open_reader(const SecretKey& key, std::string object_id, const Header& h,
                                                std::uint64_t file_size, PreadFn pread) {
  if (file_size != sealed_size(h.plaintext_size, h.chunk_size))
    return fail(Errc::corrupt, "stored object " + object_id + " is " +
                                   (file_size < sealed_size(h.plaintext_size, h.chunk_size) ? "truncated" : "extended"));
  return std::unique_ptr<ByteSource>(new SealedReader(key, std::move(object_id), h, std::move(pread)));
}

} // namespace tresor::crypto::sealed
