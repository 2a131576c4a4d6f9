// The stored audit trail (var/audit/): reading it back, record by record.
// Contract (the writer, open_trail_log() in audit.h, makes it so):
//  - each record has a sequence number (1, 2, ... with no gap across rotated
//    files), its UTC time, the event, and `hash` = SHA-256 over (prev hash ||
//    the record's canonical bytes): a chain across files and rotations;
//  - records are stored encrypted under the audit purpose key
//    (crypto::Purpose::audit) when one is given, so no file under var/
//    shows patient data;
//  - periodic checkpoints signed with Ed25519 (key var/keys/audit-sign.key,
//    0600, not a TLS key) commit to (seq, hash), so truncation and rewriting
//    are both detectable by verify_trail().
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "audit/audit.h"
#include "core/error.h"
#include "crypto/keyring.h"

namespace tresor::audit {

struct Record {
  std::uint64_t seq = 0;
  std::string time;   // RFC 3339 UTC with milliseconds, e.g. 2026-12-07T21:52:19.123Z
  Event event;
  std::string hash;   // lowercase hex
};

// The record as one JSON object (no newline): seq, time, type, outcome,
// actor, user, source, patient_id, study_uid, series_uid, sop_uid, reason
// (the non-empty ones), details (an object), hash. `tresor audit show --json`.
std::string to_json_line(const Record& record);

class TrailReader {
public:
  // Every file of the trail in order (rotated ones first). `key` may be null
  // for a trail written without encryption.
  // newest_bytes > 0: only the newest files, as many as hold about that many
  // bytes (at least the current one), e.g. for "the latest events" views.
  static Result<std::unique_ptr<TrailReader>> open(const std::filesystem::path& audit_dir,
                                                   const crypto::SecretKey* key, std::uint64_t newest_bytes = 0);
  virtual ~TrailReader() = default;
  // The next record; nullopt at the end. A record that does not decrypt or
  // parse is Errc::corrupt with a message naming the file and record.
  virtual Result<std::optional<Record>> next() = 0;
  // Skips to just after the record with sequence number `seq` (0 = start).
  virtual Status seek_after(std::uint64_t seq) = 0;
};

struct VerifyReport {
  std::uint64_t records = 0;
  std::uint64_t checkpoints = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t files = 0;
  std::uint64_t last_checkpoint_seq = 0;   // records after it are chained but not yet signed (crash)
  std::string first_time, last_time;       // of the first and last records
  std::string signing_key;                 // hex Ed25519 public key the checkpoints were checked with
};
// Checks the whole trail: chain, sequence, checkpoints' signatures, and that
// the trail reaches the last checkpoint. The first problem is an error whose
// message names the file, the sequence number and what is wrong (bad hash,
// missing record, reordered record, truncated after checkpoint, bad signature).
Result<VerifyReport> verify_trail(const std::filesystem::path& audit_dir, const crypto::SecretKey* key);

} // namespace tresor::audit
