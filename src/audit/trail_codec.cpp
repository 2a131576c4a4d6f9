// The on-disk form of the audit trail (see trail_codec.h).
#include "audit/trail_codec.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "crypto/keyring.h"

namespace tresor::audit {

const char* to_string(Type t) noexcept {
  switch (t) {
    case Type::association: return "association";
    case Type::store: return "store";
    case Type::query: return "query";
    case Type::retrieve: return "retrieve";
    case Type::move: return "move";
    case Type::commitment: return "commitment";
    case Type::quarantine: return "quarantine";
    case Type::security_alert: return "security_alert";
    case Type::admin: return "admin";
    case Type::application_activity: return "application_activity";
    case Type::audit_log_used: return "audit_log_used";
    case Type::authentication: return "authentication";
    case Type::access: return "access";
    case Type::data_export: return "data_export";
    case Type::deletion: return "deletion";
    case Type::patient_record: return "patient_record";
  }
  return "unknown";
}

const char* to_string(Outcome o) noexcept {
  switch (o) {
    case Outcome::success: return "success";
    case Outcome::failure: return "failure";
    case Outcome::denied: return "denied";
  }
  return "failure";
}

namespace codec {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {
const int sodium_ready = sodium_init();  // idempotent; < 0 only when no entropy source
constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;

std::array<unsigned char, 8> seq_ad(std::uint64_t seq) {
  std::array<unsigned char, 8> ad{};
  for (int i = 7; i >= 0; --i, seq >>= 8) ad[static_cast<std::size_t>(i)] = static_cast<unsigned char>(seq & 0xff);
  return ad;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Status write_file_0600(const fs::path& p, std::string_view bytes) {
  const fs::path tmp = p.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail(Errc::io_error, "cannot create " + tmp.string() + ": " + std::strerror(errno));
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), p.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return fail(Errc::io_error, "cannot write " + p.string());
  }
  return {};
}

std::optional<std::string> read_small(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (s.size() > 4096) return std::nullopt;
  return s;
}

constexpr std::string_view kSignAd = "tresor audit-sign.key";
} // namespace

std::string hex(const Hash& h) {
  std::string out(h.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), h.data(), h.size());
  out.pop_back();
  return out;
}

std::optional<Hash> unhex(std::string_view s) {
  Hash h{};
  std::size_t len = 0;
  if (s.size() != 64 || sodium_hex2bin(h.data(), h.size(), s.data(), s.size(), nullptr, &len, nullptr) != 0 ||
      len != h.size())
    return std::nullopt;
  return h;
}

std::string base64(std::string_view bytes) {
  const int v = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), v), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), v);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<std::string> unbase64(std::string_view text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  std::size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(), nullptr,
                        &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0)
    return std::nullopt;
  out.resize(len);
  return out;
}

std::string rotated_name(std::uint64_t first_seq) {
  std::string n = std::to_string(first_seq);
  return "audit." + std::string(n.size() < 12 ? 12 - n.size() : 0, '0') + n + ".jsonl";
}

std::vector<fs::path> trail_files(const fs::path& audit_dir) {
  std::vector<std::pair<std::uint64_t, fs::path>> rotated;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(audit_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= 12 || !name.starts_with("audit.") || !name.ends_with(".jsonl")) continue;
    std::string_view digits(name.data() + 6, name.size() - 12);
    std::uint64_t n = 0;
    auto [p, err] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (err != std::errc{} || p != digits.data() + digits.size()) continue;
    rotated.emplace_back(n, entry.path());
  }
  std::ranges::sort(rotated);
  std::vector<fs::path> out;
  for (auto& r : rotated) out.push_back(std::move(r.second));
  if (fs::exists(audit_dir / kCurrentFile, ec)) out.push_back(audit_dir / kCurrentFile);
  return out;
}

std::string canonical_record(std::uint64_t seq, const std::string& time, const Event& e) {
  json j;
  j["seq"] = seq;
  j["time"] = time;
  j["type"] = to_string(e.type);
  j["outcome"] = to_string(e.outcome);
  j["actor"] = e.actor;
  auto opt = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  opt("user", e.user);
  opt("source", e.source);
  opt("patient_id", e.patient_id);
  opt("study_uid", e.study_uid);
  opt("series_uid", e.series_uid);
  opt("sop_uid", e.sop_uid);
  opt("reason", e.reason);
  if (!e.details.empty()) {
    json d = json::object();
    for (const auto& [k, v] : e.details) d[k] = v;
    j["details"] = std::move(d);
  }
  // Round trip once so that the bytes hashed are exactly what a reader re-dumps
  // (invalid UTF-8 was replaced by U+FFFD on the first dump).
  return dump(json::parse(dump(j)));
}

Hash chain(const Hash& prev, std::string_view canonical) {
  Hash out{};
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, prev.data(), prev.size());
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size());
  crypto_hash_sha256_final(&st, out.data());
  return out;
}

std::string record_line(std::uint64_t seq, const std::string& canonical, const Hash& hash,
                        const crypto::SecretKey* key) {
  const std::string plain = "{\"hash\":\"" + hex(hash) + "\",\"rec\":" + canonical + "}";
  std::string line = "{\"seq\":" + std::to_string(seq);
  if (key == nullptr) {
    line += ",\"plain\":" + plain + "}\n";
    return line;
  }
  std::string boxed(kNonce + plain.size() + kTag, '\0');
  auto* b = reinterpret_cast<unsigned char*>(boxed.data());
  randombytes_buf(b, kNonce);
  const auto ad = seq_ad(seq);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(b + kNonce, &clen, reinterpret_cast<const unsigned char*>(plain.data()),
                                             plain.size(), ad.data(), ad.size(), nullptr, b, key->data());
  line += ",\"box\":\"" + base64(boxed) + "\"}\n";
  return line;
}

std::string head_line(std::uint64_t prev_seq, const Hash& prev_hash) {
  return "{\"prev_seq\":" + std::to_string(prev_seq) + ",\"prev_hash\":\"" + hex(prev_hash) + "\",\"format\":\"" +
         kFormat + "\"}\n";
}

std::string checkpoint_message(const Checkpoint& c) {
  return "tresor-audit-checkpoint\n" + std::to_string(c.seq) + "\n" + c.hash + "\n" + c.time;
}

std::string checkpoint_line(const Checkpoint& c) {
  json j;
  j["checkpoint"] = {{"seq", c.seq}, {"hash", c.hash}, {"time", c.time}};
  j["sig"] = c.sig;
  return dump(j) + "\n";
}

std::optional<Type> type_from_string(std::string_view s) {
  for (int i = 0; i <= static_cast<int>(Type::patient_record); ++i)
    if (s == to_string(static_cast<Type>(i))) return static_cast<Type>(i);
  return std::nullopt;
}

std::optional<Outcome> outcome_from_string(std::string_view s) {
  for (Outcome o : {Outcome::success, Outcome::failure, Outcome::denied})
    if (s == to_string(o)) return o;
  return std::nullopt;
}

namespace {
Result<Record> decode_record(const json& rec) {
  Record r;
  auto str = [&](const char* k) -> std::string {
    auto it = rec.find(k);
    return it != rec.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (!rec.is_object() || !rec.contains("seq") || !rec["seq"].is_number_unsigned())
    return fail(Errc::corrupt, "record without a sequence number");
  r.seq = rec["seq"].get<std::uint64_t>();
  r.time = str("time");
  auto type = type_from_string(str("type"));
  auto outcome = outcome_from_string(str("outcome"));
  if (!type || !outcome) return fail(Errc::corrupt, "record with an unknown type or outcome");
  r.event.type = *type;
  r.event.outcome = *outcome;
  r.event.actor = str("actor");
  r.event.user = str("user");
  r.event.source = str("source");
  r.event.patient_id = str("patient_id");
  r.event.study_uid = str("study_uid");
  r.event.series_uid = str("series_uid");
  r.event.sop_uid = str("sop_uid");
  r.event.reason = str("reason");
  if (auto it = rec.find("details"); it != rec.end() && it->is_object())
    for (const auto& [k, v] : it->items()) r.event.details.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
  return r;
}

Result<Line> decode_plain(const json& plain, std::uint64_t seq) {
  if (!plain.is_object() || !plain.contains("hash") || !plain["hash"].is_string() || !plain.contains("rec"))
    return fail(Errc::corrupt, "malformed record");
  Line l;
  l.kind = Line::Kind::record;
  l.seq = seq;
  auto h = unhex(plain["hash"].get<std::string>());
  if (!h) return fail(Errc::corrupt, "malformed hash");
  l.hash = *h;
  l.canonical = dump(plain["rec"]);
  auto r = decode_record(plain["rec"]);
  if (!r) return std::unexpected(r.error());
  if (r->seq != seq) return fail(Errc::corrupt, "record's inner sequence number differs from its line's");
  l.record = std::move(*r);
  l.record.hash = hex(l.hash);
  return l;
}
} // namespace

Result<Line> parse_line(std::string_view text, const crypto::SecretKey* key) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(Errc::corrupt, "not a JSON object (torn or altered line)");
  try {
    if (j.contains("checkpoint")) {
      Line l;
      l.kind = Line::Kind::checkpoint;
      const json& c = j["checkpoint"];
      l.checkpoint.seq = c.at("seq").get<std::uint64_t>();
      l.checkpoint.hash = c.at("hash").get<std::string>();
      l.checkpoint.time = c.at("time").get<std::string>();
      l.checkpoint.sig = j.at("sig").get<std::string>();
      return l;
    }
    if (j.contains("prev_seq")) {
      Line l;
      l.kind = Line::Kind::head;
      l.seq = j.at("prev_seq").get<std::uint64_t>();
      auto h = unhex(j.at("prev_hash").get<std::string>());
      if (!h) return fail(Errc::corrupt, "malformed file header");
      l.hash = *h;
      return l;
    }
    const std::uint64_t seq = j.at("seq").get<std::uint64_t>();
    if (j.contains("plain")) return decode_plain(j["plain"], seq);
    if (!j.contains("box")) return fail(Errc::corrupt, "unknown line");
    if (key == nullptr) return fail(Errc::invalid_argument, "the record is encrypted and no audit key was given");
    auto boxed = unbase64(j["box"].get<std::string>());
    if (!boxed || boxed->size() < kNonce + kTag) return fail(Errc::corrupt, "malformed encrypted record");
    std::string plain(boxed->size() - kNonce - kTag, '\0');
    const auto* b = reinterpret_cast<const unsigned char*>(boxed->data());
    const auto ad = seq_ad(seq);
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()), &plen, nullptr,
                                                   b + kNonce, boxed->size() - kNonce, ad.data(), ad.size(), b,
                                                   key->data()) != 0)
      return fail(Errc::corrupt, "does not decrypt (altered, moved, or another key)");
    json p = json::parse(plain, nullptr, false);
    if (p.is_discarded()) return fail(Errc::corrupt, "malformed record");
    return decode_plain(p, seq);
  } catch (const std::exception&) {
    return fail(Errc::corrupt, "malformed line");
  }
}

std::optional<std::uint64_t> peek_seq(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto it = j.find("seq");
  if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<std::uint64_t>();
}

fs::path sign_key_file(const fs::path& audit_dir) { return audit_dir.parent_path() / "keys" / "audit-sign.key"; }
fs::path sign_pub_file(const fs::path& audit_dir) { return audit_dir.parent_path() / "keys" / "audit-sign.pub"; }

namespace {
// The seed from the key file: 32 bytes (written without an audit key) or
// nonce || XChaCha20-Poly1305(seed) under the audit key.
Result<std::array<unsigned char, 32>> open_seed(const std::string& bytes, const crypto::SecretKey* key,
                                                const fs::path& file) {
  std::array<unsigned char, 32> seed{};
  if (bytes.size() == seed.size()) {
    std::memcpy(seed.data(), bytes.data(), seed.size());
    return seed;
  }
  if (bytes.size() != kNonce + seed.size() + kTag)
    return fail(Errc::corrupt, file.string() + " is not an audit signing key");
  if (key == nullptr) return fail(Errc::invalid_argument, file.string() + " is encrypted and no audit key was given");
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(seed.data(), &len, nullptr, b + kNonce, bytes.size() - kNonce,
                                                 reinterpret_cast<const unsigned char*>(kSignAd.data()),
                                                 kSignAd.size(), b, key->data()) != 0)
    return fail(Errc::corrupt, file.string() + " does not open with the audit key (altered, or another key)");
  return seed;
}
} // namespace

Result<SignKey> load_or_create_sign_key(const fs::path& audit_dir, const crypto::SecretKey* key) {
  if (sodium_ready < 0) return fail(Errc::internal, "libsodium could not be initialised");
  const fs::path file = sign_key_file(audit_dir);
  SignKey k;
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    fs::create_directories(file.parent_path(), ec);
    ::chmod(file.parent_path().c_str(), 0700);
    std::array<unsigned char, 32> seed{};
    randombytes_buf(seed.data(), seed.size());
    std::string stored;
    if (key == nullptr) {
      stored.assign(reinterpret_cast<const char*>(seed.data()), seed.size());
    } else {
      stored.assign(kNonce + seed.size() + kTag, '\0');
      auto* b = reinterpret_cast<unsigned char*>(stored.data());
      randombytes_buf(b, kNonce);
      unsigned long long clen = 0;
      crypto_aead_xchacha20poly1305_ietf_encrypt(b + kNonce, &clen, seed.data(), seed.size(),
                                                 reinterpret_cast<const unsigned char*>(kSignAd.data()),
                                                 kSignAd.size(), nullptr, b, key->data());
    }
    crypto_sign_seed_keypair(k.pub.data(), k.secret.data(), seed.data());
    sodium_memzero(seed.data(), seed.size());
    // The public key first: a crash in between leaves no secret without its public half.
    std::string pub_hex(k.pub.size() * 2 + 1, '\0');
    sodium_bin2hex(pub_hex.data(), pub_hex.size(), k.pub.data(), k.pub.size());
    pub_hex.back() = '\n';
    if (auto s = write_file_0600(sign_pub_file(audit_dir), pub_hex); !s) return std::unexpected(s.error());
    ::chmod(sign_pub_file(audit_dir).c_str(), 0644);
    if (auto s = write_file_0600(file, stored); !s) return std::unexpected(s.error());
    return k;
  }
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
    return fail(Errc::permission_denied, file.string() + " is readable by others: chmod 600 it");
  auto bytes = read_small(file);
  if (!bytes) return fail(Errc::io_error, "cannot read " + file.string());
  auto seed = open_seed(*bytes, key, file);
  sodium_memzero(bytes->data(), bytes->size());
  if (!seed) return std::unexpected(seed.error());
  crypto_sign_seed_keypair(k.pub.data(), k.secret.data(), seed->data());
  sodium_memzero(seed->data(), seed->size());
  return k;
}

Result<std::array<unsigned char, 32>> load_verify_key(const fs::path& audit_dir, const crypto::SecretKey* key) {
  std::array<unsigned char, 32> from_pub{};
  bool have_pub = false;
  if (auto text = read_small(sign_pub_file(audit_dir))) {
    std::size_t len = 0;
    have_pub = sodium_hex2bin(from_pub.data(), from_pub.size(), text->data(), text->size(), "\n", &len, nullptr) == 0 &&
               len == from_pub.size();
  }
  std::error_code ec;
  if (fs::exists(sign_key_file(audit_dir), ec)) {
    if (auto bytes = read_small(sign_key_file(audit_dir))) {
      auto seed = open_seed(*bytes, key, sign_key_file(audit_dir));
      sodium_memzero(bytes->data(), bytes->size());
      if (seed) {
        std::array<unsigned char, 32> pub{};
        std::array<unsigned char, 64> secret{};
        crypto_sign_seed_keypair(pub.data(), secret.data(), seed->data());
        sodium_memzero(secret.data(), secret.size());
        sodium_memzero(seed->data(), seed->size());
        if (have_pub && pub != from_pub)
          return fail(Errc::corrupt, sign_pub_file(audit_dir).string() + " is not the public half of audit-sign.key");
        return pub;
      }
      if (key != nullptr) return std::unexpected(seed.error());
    }
  }
  if (!have_pub) return fail(Errc::not_found, "no audit signing key (" + sign_pub_file(audit_dir).string() + ")");
  return from_pub;
}

Status write_head_file(const fs::path& audit_dir, const Checkpoint& c) {
  return write_file_0600(audit_dir / kHeadFile, checkpoint_line(c));
}

Result<std::optional<Checkpoint>> read_head_file(const fs::path& audit_dir) {
  std::error_code ec;
  if (!fs::exists(audit_dir / kHeadFile, ec)) return std::optional<Checkpoint>();
  auto text = read_small(audit_dir / kHeadFile);
  if (!text) return fail(Errc::io_error, "cannot read " + (audit_dir / kHeadFile).string());
  while (!text->empty() && text->back() == '\n') text->pop_back();
  auto line = parse_line(*text, nullptr);
  if (!line || line->kind != Line::Kind::checkpoint)
    return fail(Errc::corrupt, (audit_dir / kHeadFile).string() + " is not a checkpoint");
  return std::optional<Checkpoint>(line->checkpoint);
}

std::string sign(const SignKey& k, const Checkpoint& c) {
  const std::string m = checkpoint_message(c);
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(m.data()), m.size(), k.secret.data());
  return base64(sig);
}

bool verify_sig(const std::array<unsigned char, 32>& pub, const Checkpoint& c) {
  auto sig = unbase64(c.sig);
  if (!sig || sig->size() != crypto_sign_BYTES) return false;
  const std::string m = checkpoint_message(c);
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig->data()),
                                     reinterpret_cast<const unsigned char*>(m.data()), m.size(), pub.data()) == 0;
}

} // namespace codec
} // namespace tresor::audit
