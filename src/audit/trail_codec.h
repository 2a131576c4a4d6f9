// The on-disk form of the audit trail (internal to tresor_audit; the format is
// described in docs/storage-layout.md "Audit trail"). Every line of a trail
// file is one JSON object:
//   {"prev_seq":N,"prev_hash":"<hex>","format":"tresor-audit-1"}   first line of every file
//   {"seq":N,"box":"<base64(nonce || XChaCha20-Poly1305(plain))>"}  a record, encrypted
//   {"seq":N,"plain":{"hash":"<hex>","rec":{...}}}                  a record, no key given
//   {"checkpoint":{"seq":N,"hash":"<hex>","time":"..."},"sig":"<base64>"}
// where plain = {"hash":"<hex>","rec":{"seq":N,"time":...,"type":...,...}},
// hash = SHA-256(previous record's hash || canonical(rec)), canonical = the
// compact JSON of rec exactly as written (parse + dump gives it back), the
// hash before seq 1 is 32 zero bytes, the AEAD's associated data is the
// 8-byte big-endian seq (a record moved to another place does not open), and
// sig = Ed25519 over "tresor-audit-checkpoint\n<seq>\n<hash>\n<time>".
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/trail.h"
#include "core/error.h"

namespace tresor::audit::codec {

using Hash = std::array<unsigned char, 32>;
inline constexpr const char* kCurrentFile = "audit.jsonl";
inline constexpr const char* kHeadFile = "trail.head";    // the latest checkpoint (truncation check)
inline constexpr const char* kLockFile = ".lock";         // flock() serializes writers of all processes
inline constexpr const char* kFormat = "tresor-audit-1";

std::string hex(const Hash& h);
std::optional<Hash> unhex(std::string_view s);
std::string base64(std::string_view bytes);
std::optional<std::string> unbase64(std::string_view text);

// Rotated file of the trail whose first record is `first_seq`.
std::string rotated_name(std::uint64_t first_seq);
// The files of the trail, oldest first (rotated ones, then audit.jsonl if present).
std::vector<std::filesystem::path> trail_files(const std::filesystem::path& audit_dir);

std::string canonical_record(std::uint64_t seq, const std::string& time, const Event& e);
Hash chain(const Hash& prev, std::string_view canonical);

// One record line (with '\n'); key null = plain.
std::string record_line(std::uint64_t seq, const std::string& canonical, const Hash& hash,
                        const crypto::SecretKey* key);
std::string head_line(std::uint64_t prev_seq, const Hash& prev_hash);

struct Checkpoint {
  std::uint64_t seq = 0;
  std::string hash;  // hex
  std::string time;
  std::string sig;   // base64
};
std::string checkpoint_message(const Checkpoint& c);
std::string checkpoint_line(const Checkpoint& c);  // with '\n'

// One parsed line.
struct Line {
  enum class Kind { head, record, checkpoint } kind = Kind::record;
  std::uint64_t seq = 0;          // record: its seq; head: prev_seq
  Hash hash{};                    // record: its hash; head: prev_hash
  std::string canonical;          // record: canonical bytes
  Record record;                  // record: decoded
  Checkpoint checkpoint;          // checkpoint
};
// Errors: Errc::corrupt with a short reason (the caller names file and line).
// A record that does not decrypt is "does not decrypt (altered, moved, or another key)".
Result<Line> parse_line(std::string_view text, const crypto::SecretKey* key);
// Only the seq of a record line (no decryption); nullopt for other lines.
std::optional<std::uint64_t> peek_seq(std::string_view text);

// The Ed25519 signing key: <var>/keys/audit-sign.key (seed, encrypted under
// the audit key when one is given; 0600) and audit-sign.pub (hex). The key
// directory is the audit directory's sibling "keys".
std::filesystem::path sign_key_file(const std::filesystem::path& audit_dir);
std::filesystem::path sign_pub_file(const std::filesystem::path& audit_dir);
struct SignKey {
  std::array<unsigned char, 64> secret{};
  std::array<unsigned char, 32> pub{};
};
Result<SignKey> load_or_create_sign_key(const std::filesystem::path& audit_dir, const crypto::SecretKey* key);
// The public key to verify with: derived from the secret key when it can be
// opened (and then checked against audit-sign.pub), else audit-sign.pub.
Result<std::array<unsigned char, 32>> load_verify_key(const std::filesystem::path& audit_dir,
                                                      const crypto::SecretKey* key);
// trail.head: the latest checkpoint, replaced atomically (0600).
Status write_head_file(const std::filesystem::path& audit_dir, const Checkpoint& c);
// nullopt: no head file; error: unreadable or malformed.
Result<std::optional<Checkpoint>> read_head_file(const std::filesystem::path& audit_dir);

std::string sign(const SignKey& k, const Checkpoint& c);  // base64 signature
bool verify_sig(const std::array<unsigned char, 32>& pub, const Checkpoint& c);

std::optional<Type> type_from_string(std::string_view s);
std::optional<Outcome> outcome_from_string(std::string_view s);

} // namespace tresor::audit::codec
