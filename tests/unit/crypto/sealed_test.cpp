// The chunked AES-256-GCM object format (crypto/sealed.h).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "crypto/sealed.h"

namespace tresor::crypto::sealed {
namespace {

const std::string kId(64, 'a');
constexpr std::uint32_t kChunk = 4096;  // small chunks: many boundaries in a small object

std::string random_bytes(std::size_t n, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string seal_string(const SecretKey& key, const std::string& plain, std::string_view id = kId,
                        std::string_view wrapped = "wrapped-key") {
  std::size_t pos = 0;
  std::string out;
  auto st = seal(
      key, id, plain.size(), wrapped,
      [&](std::span<std::byte> buf) -> Result<std::size_t> {
        const std::size_t n = std::min(buf.size(), plain.size() - pos);
        std::memcpy(buf.data(), plain.data() + pos, n);
        pos += n;
        return n;
      },
      [&](std::span<const std::byte> b) -> Status {
        out.append(reinterpret_cast<const char*>(b.data()), b.size());
        return {};
      },
      kChunk);
  EXPECT_TRUE(st) << (st ? "" : st.error().message);
  return out;
}

Result<std::unique_ptr<ByteSource>> reader(const SecretKey& key, const std::string& file, std::string id = kId) {
  auto h = parse_header(std::as_bytes(std::span(file.data(), std::min(file.size(), kHeaderBytes))));
  if (!h) return std::unexpected(h.error());
  auto data = std::make_shared<std::string>(file);
  return open_reader(key, std::move(id), *h, file.size(),
                     [data](std::uint64_t off, std::span<std::byte> out) -> Result<std::size_t> {
                       if (off >= data->size()) return std::size_t{0};
                       const std::size_t n = std::min<std::size_t>(out.size(), data->size() - off);
                       std::memcpy(out.data(), data->data() + off, n);
                       return n;
                     });
}

Result<std::string> read_all(ByteSource& src, std::uint64_t off, std::size_t n) {
  std::string out(n, '\0');
  auto got = src.read_at(off, std::as_writable_bytes(std::span(out.data(), out.size())));
  if (!got) return std::unexpected(got.error());
  out.resize(*got);
  return out;
}

TEST(Sealed, RoundTripsObjectsOfEverySizeAroundChunkBoundaries) {
  const SecretKey key = SecretKey::random();
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{kChunk - 1}, std::size_t{kChunk},
                        std::size_t{kChunk + 1}, std::size_t{3 * kChunk}, std::size_t{5 * kChunk + 17}}) {
    const std::string plain = random_bytes(n, static_cast<unsigned>(n));
    const std::string file = seal_string(key, plain);
    EXPECT_EQ(file.size(), sealed_size(n, kChunk));
    if (n >= 16) {
      EXPECT_EQ(file.find(plain.substr(0, 16)), std::string::npos);  // no plaintext in the file
    }
    auto src = reader(key, file);
    ASSERT_TRUE(src) << src.error().message;
    EXPECT_EQ((*src)->size(), n);
    auto all = read_all(**src, 0, n + 10);
    ASSERT_TRUE(all) << all.error().message;
    EXPECT_EQ(*all, plain) << "size " << n;
  }
}

TEST(Sealed, ReadsAnyRangeAcrossChunkBoundaries) {
  const SecretKey key = SecretKey::random();
  const std::string plain = random_bytes(7 * kChunk + 123);
  const std::string file = seal_string(key, plain);
  auto src = reader(key, file);
  ASSERT_TRUE(src);
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    const std::uint64_t off = rng() % plain.size();
    const std::size_t n = rng() % (3 * kChunk);
    auto got = read_all(**src, off, n);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, plain.substr(off, n));
  }
  auto past = read_all(**src, plain.size() + 5, 10);
  ASSERT_TRUE(past);
  EXPECT_TRUE(past->empty());
}

TEST(Sealed, ATamperedChunkIsCorruptAndNoneOfItIsServedWhileOtherChunksStillRead) {
  const SecretKey key = SecretKey::random();
  const std::string plain = random_bytes(4 * kChunk);
  std::string file = seal_string(key, plain);
  file[kHeaderBytes + 2 * (kChunk + kTagBytes) + 100] ^= 1;  // chunk 2
  auto src = reader(key, file);
  ASSERT_TRUE(src);
  auto bad = read_all(**src, 2 * kChunk, 10);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::corrupt);
  auto spanning = read_all(**src, kChunk, 2 * kChunk);
  ASSERT_FALSE(spanning);
  auto good = read_all(**src, 0, kChunk);
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, plain.substr(0, kChunk));
  auto after = read_all(**src, 3 * kChunk, kChunk);
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, plain.substr(3 * kChunk));
}

TEST(Sealed, AnEditedHeaderFieldFailsEveryChunk) {
  const SecretKey key = SecretKey::random();
  const std::string plain = random_bytes(2 * kChunk + 10);
  for (std::size_t at : {std::size_t{24}, std::size_t{28}}) {  // nonce prefix, reserved
    std::string file = seal_string(key, plain);
    file[at] ^= 1;
    auto src = reader(key, file);
    ASSERT_TRUE(src);
    auto r = read_all(**src, 0, 10);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::corrupt);
  }
  // A smaller declared size no longer matches the file (and its chunks' data).
  std::string file = seal_string(key, plain);
  file[16] = static_cast<char>(file[16] - 1);
  EXPECT_FALSE(reader(key, file));
}

TEST(Sealed, TruncationToAWholeNumberOfChunksIsDetected) {
  const SecretKey key = SecretKey::random();
  const std::string plain = random_bytes(3 * kChunk);
  std::string file = seal_string(key, plain);
  // Drop the last chunk and fix up the declared size: chunk 1 is now "last"
  // but was sealed with the flag 0, so it fails.
  std::string cut = file.substr(0, kHeaderBytes + 2 * (kChunk + kTagBytes));
  const std::uint64_t two = 2 * kChunk;
  for (int i = 0; i < 8; ++i) cut[16 + i] = static_cast<char>(two >> (8 * i));
  auto src = reader(key, cut);
  ASSERT_TRUE(src);
  EXPECT_FALSE(read_all(**src, 0, 2 * kChunk));
  // Plain truncation: the size no longer matches.
  EXPECT_FALSE(reader(key, file.substr(0, file.size() - 1)));
}

TEST(Sealed, ReorderedChunksAndChunksFromAnotherObjectAreDetected) {
  const SecretKey key = SecretKey::random();
  const std::string plain = random_bytes(3 * kChunk);
  std::string file = seal_string(key, plain);
  const std::size_t c = kChunk + kTagBytes;
  std::string swapped = file;
  swapped.replace(kHeaderBytes, c, file.substr(kHeaderBytes + c, c));
  swapped.replace(kHeaderBytes + c, c, file.substr(kHeaderBytes, c));
  auto src = reader(key, swapped);
  ASSERT_TRUE(src);
  EXPECT_FALSE(read_all(**src, 0, 10));
  EXPECT_FALSE(read_all(**src, kChunk, 10));
  // The same bytes read as another object id do not open either.
  auto other = reader(key, file, std::string(64, 'b'));
  ASSERT_TRUE(other);
  EXPECT_FALSE(read_all(**other, 0, 10));
}

TEST(Sealed, AnotherKeyReadsNothing) {
  const std::string file = seal_string(SecretKey::random(), random_bytes(kChunk));
  auto src = reader(SecretKey::random(), file);
  ASSERT_TRUE(src);
  EXPECT_FALSE(read_all(**src, 0, 1));
}

TEST(Sealed, KeySlotsRoundTripAndAreOutsideTheAuthenticatedBytes) {
  const SecretKey key = SecretKey::random();
  const std::string plain = random_bytes(kChunk + 1);
  std::string file = seal_string(key, plain, kId, "first");
  auto h = parse_header(std::as_bytes(std::span(file.data(), kHeaderBytes)));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->slots[0], "first");
  EXPECT_EQ(h->slots[1], "");
  const auto slot = encode_slot("second");
  std::memcpy(file.data() + slot_offset(1), slot.data(), slot.size());
  const auto cleared = encode_slot("");
  std::memcpy(file.data() + slot_offset(0), cleared.data(), cleared.size());
  h = parse_header(std::as_bytes(std::span(file.data(), kHeaderBytes)));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->slots[0], "");
  EXPECT_EQ(h->slots[1], "second");
  auto src = reader(key, file);
  ASSERT_TRUE(src);
  auto all = read_all(**src, 0, plain.size());
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, plain);
}

TEST(Sealed, AFileThatIsNotSealedIsRefused) {
  const std::string plain(300, 'x');
  EXPECT_FALSE(parse_header(std::as_bytes(std::span(plain.data(), plain.size()))));
  EXPECT_FALSE(is_sealed(std::as_bytes(std::span(plain.data(), plain.size()))));
}

} // namespace
} // namespace tresor::crypto::sealed
