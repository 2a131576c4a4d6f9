// The encrypted object format ("sealed" objects, docs/storage-layout.md).
//
//   header (256 bytes)
//     0  magic "TRSRENC1"           8  version (u16 LE, 1), 0 (u16)
//     12 chunk size (u32 LE)        16 plaintext size (u64 LE)
//     24 nonce prefix (4 random bytes per object)          28 0 (u32)
//     32 two key slots of 112 bytes: length (1 byte, 0 = empty) || wrapped
//        data key (crypto/keyring.h). Two, so a KEK rotation can write the
//        new wrapping beside the old one and never leave the object without
//        a readable key (a slot is rewritten in place; the rest never is).
//   chunks: AES-256-GCM of each chunk_size piece of the plaintext (the last
//     one shorter; an empty object has one empty chunk), each followed by
//     its 16-byte tag.
//
// Nonce of chunk i: prefix || i (u64 BE): unique per data key (one key per
// object, a random one). Associated data of chunk i: "tresor blob v1" ||
// object id (the blob key) || the first 32 header bytes || i (u64 BE) ||
// last-chunk flag. So a chunk moved within or between objects, a dropped
// last chunk (truncation: the new last chunk has flag 0), an edited size or
// chunk size, all fail authentication. The key slots are not covered (they
// change at rotation): a wrapped key authenticates itself and its object id.
//
// Contract: seal() streams plaintext to ciphertext in constant memory; the
// reader decrypts only the chunks a read touches and returns Errc::corrupt,
// and none of the chunk's bytes, when a tag fails.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/byte_source.h"
#include "core/error.h"
#include "crypto/keyring.h"

namespace tresor::crypto::sealed {

inline constexpr std::size_t kHeaderBytes = 256;
inline constexpr std::size_t kFixedBytes = 32;
inline constexpr std::size_t kSlotBytes = 112;
inline constexpr std::size_t kSlotCount = 2;
inline constexpr std::size_t kTagBytes = 16;
inline constexpr std::uint32_t kChunkBytes = 64 * 1024;

// Offset of key slot i in the file (for rewriting it in place).
constexpr std::uint64_t slot_offset(std::size_t i) { return kFixedBytes + i * kSlotBytes; }

struct Header {
  std::uint32_t chunk_size = kChunkBytes;
  std::uint64_t plaintext_size = 0;
  std::array<std::string, kSlotCount> slots;  // wrapped keys ("" = empty slot)
  std::array<unsigned char, kFixedBytes> fixed{};
};

// Is this the start of a sealed object (the magic)?
bool is_sealed(std::span<const std::byte> first_bytes) noexcept;
// Parses the first kHeaderBytes of a file (Errc::corrupt if malformed).
Result<Header> parse_header(std::span<const std::byte> bytes);
// The bytes of a slot holding `wrapped` ("" clears it).
std::array<std::byte, kSlotBytes> encode_slot(std::string_view wrapped);
// File size of a sealed object of this plaintext size.
std::uint64_t sealed_size(std::uint64_t plaintext_size, std::uint32_t chunk_size = kChunkBytes);

// Reads into the span (fewer bytes only at the end of the input).
using ReadFn = std::function<Result<std::size_t>(std::span<std::byte>)>;
using WriteFn = std::function<Status(std::span<const std::byte>)>;

// Writes the header (slot 0 = wrapped_key) and the chunks of exactly
// plaintext_size bytes read through `read` (fewer or more is Errc::io_error:
// the input changed while it was sealed).
Status seal(const SecretKey& key, std::string_view object_id, std::uint64_t plaintext_size, std::string_view wrapped_key,
            const ReadFn& read, const WriteFn& write, std::uint32_t chunk_size = kChunkBytes);

// Reads `out.size()` bytes of the sealed file at `offset` (fewer only at its end).
using PreadFn = std::function<Result<std::size_t>(std::uint64_t offset, std::span<std::byte> out)>;

// A ByteSource over a sealed file of `file_size` bytes whose header is `h`,
// decrypting with the (unwrapped) data key. Errc::corrupt if the file's size
// does not match the header (truncated or extended).
Result<std::unique_ptr<ByteSource>> open_reader(const SecretKey& key, std::string object_id, const Header& h,
                                                std::uint64_t file_size, PreadFn pread);

} // namespace tresor::crypto::sealed
