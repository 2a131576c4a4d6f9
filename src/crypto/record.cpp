#include "crypto/record.h"

#include <sodium.h>

#include <vector>

namespace tresor::crypto {
namespace {

std::string to_hex(const unsigned char* p, std::size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), p, n);
  out.pop_back();
  return out;
}

} // namespace

std::string seal_record(const SecretKey& key, std::string_view context, std::string_view plaintext) {
  constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  std::vector<unsigned char> out(kNonce + plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  randombytes_buf(out.data(), kNonce);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + kNonce, &len,
                                             reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                                             reinterpret_cast<const unsigned char*>(context.data()), context.size(),
                                             nullptr, out.data(), key.data());
  return to_hex(out.data(), kNonce + len);
}

Result<std::string> open_record(const SecretKey& key, std::string_view context, std::string_view sealed_hex) {
  constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  std::vector<unsigned char> bytes(sealed_hex.size() / 2);
  std::size_t n = 0;
  if (sealed_hex.size() % 2 != 0 ||
      sodium_hex2bin(bytes.data(), bytes.size(), sealed_hex.data(), sealed_hex.size(), nullptr, &n, nullptr) != 0 ||
      n != bytes.size() || n < kNonce + crypto_aead_xchacha20poly1305_ietf_ABYTES)
    return fail(Errc::corrupt, "sealed record: malformed");
  std::string plain(n - kNonce - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()), &len, nullptr,
                                                 bytes.data() + kNonce, n - kNonce,
                                                 reinterpret_cast<const unsigned char*>(context.data()),
                                                 context.size(), bytes.data(), key.data()) != 0)
    return fail(Errc::corrupt, "sealed record: does not authenticate");
  plain.resize(len);
  return plain;
}

std::string keyed_name(const SecretKey& key, std::string_view domain, std::string_view input) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, key.data(), key.size(), 32);
  const unsigned char len[1] = {static_cast<unsigned char>(domain.size())};
  crypto_generichash_update(&st, len, 1);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(domain.data()), domain.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  unsigned char out[32];
  crypto_generichash_final(&st, out, sizeof out);
  return to_hex(out, sizeof out);
}

} // namespace tresor::crypto
