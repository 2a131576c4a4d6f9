// AccountRepository part of SqliteIndexImpl: tables peers, users, api_token.
// Lists (hosts, operations, roles) are stored as comma-separated text; items
// containing a comma are refused so the encoding stays unambiguous. Scopes
// are stored as in access.h (NULL = every study). Token times are Unix
// seconds: sub-second parts are dropped (floor).
#include <algorithm>
#include <chrono>
#include <string_view>
#include "core/clock.h"
#include "index/sqlite/access.h"
#include "index/sqlite/sqlite_index.h"

namespace tresor::index::sqlite {
namespace {

constexpr std::size_t kMaxAccountField = 4096;

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    auto comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

template <class Range, class F>
std::string join_commas(const Range& items, F&& to_text) {
  std::string out;
  for (const auto& it : items) {
    if (!out.empty()) out += ',';
    out += to_text(it);
  }
  return out;
}

Status check_field(std::string_view value, const char* what, bool required) {
  if (required && value.empty()) return std::unexpected(make_error(Errc::invalid_argument, std::string(what) + " is required"));
  if (value.size() > kMaxAccountField) return std::unexpected(make_error(Errc::too_large, std::string(what) + " too long"));
  return {};
}

const char* kPeerColumns =
    "SELECT ae_title, hosts, port, operations, cert_sha256, require_user_identity, allow_plaintext, unlimited_find,"
    " scope, legacy_tls, unlimited_retrieve FROM peers";
const char* kUserColumns = "SELECT username, password_hash, roles, enabled, scope FROM users";
const char* kTokenColumns = "SELECT id, username, name, secret_sha256, created, expires, revoked FROM api_token";

bool is_lower_hex_sha256(std::string_view s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::int64_t to_unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_unix_seconds(std::int64_t s) {
  return std::chrono::system_clock::time_point{std::chrono::seconds{s}};
}

// Binds an encoded scope (nullopt = NULL).
void bind_scope(Stmt& st, int index, const std::optional<std::string>& encoded) {
  if (encoded) st.bind(index, *encoded);
  else st.bind_null(index);
}

Result<Peer> read_peer(const Stmt& s) {
  Peer p;
  p.ae_title = s.text(0);
  p.hosts = split_commas(s.text(1));
  const auto port = s.int64(2);
  if (port < 0 || port > 65535) return std::unexpected(make_error(Errc::corrupt, "index: stored peer port out of range"));
  p.port = static_cast<std::uint16_t>(port);
  for (const auto& op : split_commas(s.text(3))) {
    auto parsed = parse_operation(op);
    if (!parsed) return std::unexpected(make_error(Errc::corrupt, "index: unknown operation stored for a peer"));
    p.operations.insert(*parsed);
  }
  p.cert_sha256 = s.text(4);
  p.require_user_identity = s.int64(5) != 0;
  p.allow_plaintext = s.int64(6) != 0;
  p.unlimited_find = s.int64(7) != 0;
  auto scope = decode_scope(s.is_null(8), s.text(8));
  if (!scope) return std::unexpected(scope.error());
  p.scope = std::move(*scope);
  p.legacy_tls = s.int64(9) != 0;
  p.unlimited_retrieve = s.int64(10) != 0;
  return p;
}

Result<User> read_user(const Stmt& s) {
  User u;
  u.username = s.text(0);
  u.password_hash = s.text(1);
  for (const auto& r : split_commas(s.text(2))) {
    auto parsed = parse_role(r);
    if (!parsed) return std::unexpected(make_error(Errc::corrupt, "index: unknown role stored for a user"));
    u.roles.insert(*parsed);
  }
  u.enabled = s.int64(3) != 0;
  auto scope = decode_scope(s.is_null(4), s.text(4));
  if (!scope) return std::unexpected(scope.error());
  u.scope = std::move(*scope);
  return u;
}

Result<ApiToken> read_token(const Stmt& s) {
  ApiToken t;
  t.id = s.text(0);
  t.username = s.text(1);
  t.name = s.text(2);
  t.secret_sha256 = s.text(3);
  t.created = from_unix_seconds(s.int64(4));
  t.expires = from_unix_seconds(s.int64(5));
  t.revoked = s.int64(6) != 0;
  return t;
}

// Runs a SELECT and converts every row with `read`.
template <class T, class Read>
Result<std::vector<T>> read_all(Stmt& st, Read&& read) {
  std::vector<T> out;
  for (;;) {
    auto more = st.step();
    if (!more) return std::unexpected(more.error());
    if (!*more) return out;
    auto v = read(st);
    if (!v) return std::unexpected(v.error());
    out.push_back(std::move(*v));
  }
}

} // namespace

// ---- peers ----

Result<std::optional<Peer>> SqliteIndexImpl::find_peer(const std::string& ae_title) {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare(std::string(kPeerColumns) + " WHERE ae_title = ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, ae_title);
  auto v = read_all<Peer>(*st, read_peer);
  if (!v) return std::unexpected(v.error());
  if (v->empty()) return std::optional<Peer>{};
  return std::optional<Peer>{std::move(v->front())};
}

Result<std::vector<Peer>> SqliteIndexImpl::list_peers() {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare(std::string(kPeerColumns) + " ORDER BY ae_title");
  if (!st) return std::unexpected(st.error());
  return read_all<Peer>(*st, read_peer);
}

Status SqliteIndexImpl::put_peer(const Peer& peer) {
  if (auto s = check_field(peer.ae_title, "AE title", true); !s) return s;
  if (auto s = check_field(peer.cert_sha256, "certificate fingerprint", false); !s) return s;
  for (const auto& h : peer.hosts) {
    if (auto s = check_field(h, "host", true); !s) return s;
    if (h.find(',') != std::string::npos)
      return std::unexpected(make_error(Errc::invalid_argument, "host must not contain a comma"));
  }
  const std::string hosts = join_commas(peer.hosts, [](const std::string& h) { return h; });
  const std::string ops = join_commas(peer.operations, [](Operation o) { return std::string(to_string(o)); });
  auto scope = encode_scope(peer.scope);
  if (!scope) return std::unexpected(scope.error());
  std::lock_guard lock(writer_mu_);
  auto st = writer_->prepare(
      "INSERT OR REPLACE INTO peers (ae_title, hosts, port, operations, cert_sha256, require_user_identity,"
      " allow_plaintext, unlimited_find, updated_at, scope, legacy_tls, unlimited_retrieve)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  if (!st) return std::unexpected(st.error());
  st->bind(1, peer.ae_title).bind(2, hosts).bind(3, std::int64_t{peer.port}).bind(4, ops).bind(5, peer.cert_sha256)
      .bind(6, std::int64_t{peer.require_user_identity}).bind(7, std::int64_t{peer.allow_plaintext})
      .bind(8, std::int64_t{peer.unlimited_find}).bind(9, to_rfc3339(std::chrono::system_clock::now()));
  bind_scope(*st, 10, *scope);
  st->bind(11, std::int64_t{peer.legacy_tls});
  st->bind(12, std::int64_t{peer.unlimited_retrieve});
  return st->run();
}

Result<bool> SqliteIndexImpl::remove_peer(const std::string& ae_title) {
  std::lock_guard lock(writer_mu_);
  auto st = writer_->prepare("DELETE FROM peers WHERE ae_title = ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, ae_title);
  if (auto s = st->run(); !s) return std::unexpected(s.error());
  return sqlite3_changes(writer_->raw()) > 0;
}

// ---- users ----

Result<std::optional<User>> SqliteIndexImpl::find_user(const std::string& username) {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare(std::string(kUserColumns) + " WHERE username = ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, username);
  auto v = read_all<User>(*st, read_user);
  if (!v) return std::unexpected(v.error());
  if (v->empty()) return std::optional<User>{};
  return std::optional<User>{std::move(v->front())};
}

Result<std::vector<User>> SqliteIndexImpl::list_users() {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare(std::string(kUserColumns) + " ORDER BY username");
  if (!st) return std::unexpected(st.error());
  return read_all<User>(*st, read_user);
}

Status SqliteIndexImpl::put_user(const User& user) {
  if (auto s = check_field(user.username, "username", true); !s) return s;
  if (auto s = check_field(user.password_hash, "password hash", true); !s) return s;
  const std::string roles = join_commas(user.roles, [](Role r) { return std::string(to_string(r)); });
  auto scope = encode_scope(user.scope);
  if (!scope) return std::unexpected(scope.error());
  std::lock_guard lock(writer_mu_);
  auto tx = Transaction::begin_immediate(*writer_);
  if (!tx) return std::unexpected(tx.error());
  // A new password (change or reset) revokes every API token of the user in
  // the same transaction: whoever held one obtained it under the old password.
  {
    auto st = writer_->prepare(
        "UPDATE api_token SET revoked = 1 WHERE revoked = 0 AND username = ?1"
        " AND EXISTS (SELECT 1 FROM users WHERE username = ?1 AND password_hash <> ?2)");
    if (!st) return std::unexpected(st.error());
    st->bind(1, user.username).bind(2, user.password_hash);
    if (auto s = st->run(); !s) return s;
  }
  {
    auto st = writer_->prepare(
        "INSERT OR REPLACE INTO users (username, password_hash, roles, enabled, updated_at, scope)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st) return std::unexpected(st.error());
    st->bind(1, user.username).bind(2, user.password_hash).bind(3, roles).bind(4, std::int64_t{user.enabled})
        .bind(5, to_rfc3339(std::chrono::system_clock::now()));
    bind_scope(*st, 6, *scope);
    if (auto s = st->run(); !s) return s;
  }
  return tx->commit();
}

// The user and all their API tokens go in one transaction.
Result<bool> SqliteIndexImpl::remove_user(const std::string& username) {
  std::lock_guard lock(writer_mu_);
  auto tx = Transaction::begin_immediate(*writer_);
  if (!tx) return std::unexpected(tx.error());
  {
    auto st = writer_->prepare("DELETE FROM api_token WHERE username = ?1");
    if (!st) return std::unexpected(st.error());
    st->bind(1, username);
    if (auto s = st->run(); !s) return std::unexpected(s.error());
  }
  bool removed = false;
  {
    auto st = writer_->prepare("DELETE FROM users WHERE username = ?1");
    if (!st) return std::unexpected(st.error());
    st->bind(1, username);
    if (auto s = st->run(); !s) return std::unexpected(s.error());
    removed = sqlite3_changes(writer_->raw()) > 0;
  }
  if (auto s = tx->commit(); !s) return std::unexpected(s.error());
  return removed;
}

// ---- API tokens ----

// Upsert by id. Refuses a token of an unknown user (not_found) and a secret
// hash already used by another token (conflict, from the UNIQUE constraint:
// nothing is replaced).
Status SqliteIndexImpl::put_token(const ApiToken& token) {
  if (auto s = check_field(token.id, "token id", true); !s) return s;
  if (auto s = check_field(token.username, "token owner", true); !s) return s;
  if (auto s = check_field(token.name, "token name", false); !s) return s;
  if (!is_lower_hex_sha256(token.secret_sha256))
    return fail(Errc::invalid_argument, "token secret hash must be 64 lowercase hex digits");
  std::lock_guard lock(writer_mu_);
  auto st = writer_->prepare(
      "INSERT INTO api_token (id, username, name, secret_sha256, created, expires, revoked)"
      " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM users WHERE username = ?2)"
      " ON CONFLICT (id) DO UPDATE SET username = excluded.username, name = excluded.name,"
      " secret_sha256 = excluded.secret_sha256, created = excluded.created, expires = excluded.expires,"
      " revoked = excluded.revoked");
  if (!st) return std::unexpected(st.error());
  st->bind(1, token.id).bind(2, token.username).bind(3, token.name).bind(4, token.secret_sha256)
      .bind(5, to_unix_seconds(token.created)).bind(6, to_unix_seconds(token.expires))
      .bind(7, std::int64_t{token.revoked});
  if (auto s = st->run(); !s) return s;
  if (sqlite3_changes(writer_->raw()) == 0) return fail(Errc::not_found, "no such user");
  return {};
}

Result<std::optional<ApiToken>> SqliteIndexImpl::find_token_by_hash(const std::string& secret_sha256) {
  if (secret_sha256.empty() || secret_sha256.size() > kMaxAccountField) return std::optional<ApiToken>{};
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  auto st = (*lease)->prepare(std::string(kTokenColumns) + " WHERE secret_sha256 = ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, secret_sha256);
  auto v = read_all<ApiToken>(*st, read_token);
  if (!v) return std::unexpected(v.error());
  if (v->empty()) return std::optional<ApiToken>{};
  return std::optional<ApiToken>{std::move(v->front())};
}

Result<std::vector<ApiToken>> SqliteIndexImpl::list_tokens(const std::string& username) {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  if (username.empty()) {
    auto st = (*lease)->prepare(std::string(kTokenColumns) + " ORDER BY username, created, id");
    if (!st) return std::unexpected(st.error());
    return read_all<ApiToken>(*st, read_token);
  }
  auto st = (*lease)->prepare(std::string(kTokenColumns) + " WHERE username = ?1 ORDER BY created, id");
  if (!st) return std::unexpected(st.error());
  st->bind(1, username);
  return read_all<ApiToken>(*st, read_token);
}

Result<bool> SqliteIndexImpl::revoke_token(const std::string& id) {
  std::lock_guard lock(writer_mu_);
  auto st = writer_->prepare("UPDATE api_token SET revoked = 1 WHERE id = ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, id);
  if (auto s = st->run(); !s) return std::unexpected(s.error());
  return sqlite3_changes(writer_->raw()) > 0;
}

} // namespace tresor::index::sqlite
