// Scopes and study labels (see access.h), plus the label methods of
// SqliteIndexImpl (table study_label).
#include "index/sqlite/access.h"
#include <algorithm>
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <set>
#include "index/sqlite/sqlite_index.h"

namespace tresor::index::sqlite {
namespace {

using nlohmann::json;

constexpr const char* kScopeKeys[] = {"institutions", "referring_physicians", "labels"};

std::vector<std::string> Scope::*scope_member(std::size_t i) {
  switch (i) {
    case 0: return &Scope::institutions;
    case 1: return &Scope::referring_physicians;
    default: return &Scope::labels;
  }
}

// Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

} // namespace

bool valid_label(std::string_view label) noexcept {
  if (label.empty() || label.size() > kMaxLabelBytes) return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

Status check_scope(const Scope& scope) {
  if (scope.institutions.size() + scope.referring_physicians.size() + scope.labels.size() > kMaxScopeEntries)
    return fail(Errc::too_large, "scope has too many entries");
  for (std::size_t i = 0; i < 3; ++i) {
    for (const auto& v : scope.*scope_member(i)) {
      if (v.empty()) return fail(Errc::invalid_argument, std::string("scope ") + kScopeKeys[i] + " entry is empty");
      if (v.size() > kMaxScopeEntryBytes) return fail(Errc::too_large, std::string("scope ") + kScopeKeys[i] + " entry too long");
      if (!valid_utf8(v)) return fail(Errc::invalid_argument, std::string("scope ") + kScopeKeys[i] + " entry is not UTF-8");
    }
  }
  for (const auto& l : scope.labels)
    if (!valid_label(l)) return fail(Errc::invalid_argument, "scope label must be 1..64 characters of [A-Za-z0-9_.-]");
  return {};
}

Result<std::optional<std::string>> encode_scope(const std::optional<Scope>& scope) {
  if (!scope) return std::optional<std::string>{};
  if (auto s = check_scope(*scope); !s) return std::unexpected(s.error());
  try {
    json j = json::object();
    for (std::size_t i = 0; i < 3; ++i) j[kScopeKeys[i]] = (*scope).*scope_member(i);
    return std::optional<std::string>{j.dump()};
  } catch (const std::exception&) {
    return fail(Errc::internal, "index: cannot encode a scope");
  }
}

Result<std::optional<Scope>> decode_scope(bool is_null, const std::string& text) {
  if (is_null) return std::optional<Scope>{};
  auto corrupt = [] { return fail(Errc::corrupt, "index: stored scope is malformed"); };
  try {
    const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return corrupt();
    Scope scope;
    for (std::size_t i = 0; i < 3; ++i) {
      auto it = j.find(kScopeKeys[i]);
      if (it == j.end()) continue;
      if (!it->is_array()) return corrupt();
      auto& out = scope.*scope_member(i);
      for (const auto& v : *it) {
        if (!v.is_string()) return corrupt();
        out.push_back(v.get<std::string>());
      }
    }
    return std::optional<Scope>{std::move(scope)};
  } catch (const std::exception&) {
    return corrupt();
  }
}

// ---- study labels ----

Result<std::int64_t> study_pk(Connection& c, const std::string& study_uid) {
  auto st = c.prepare("SELECT id FROM study WHERE study_uid = ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, study_uid);
  auto row = st->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return fail(Errc::not_found, "no such study");
  return st->int64(0);
}

Status SqliteIndexImpl::set_study_labels(const std::string& study_uid, const std::vector<std::string>& labels) {
  if (labels.size() > kMaxLabelsPerStudy) return fail(Errc::too_large, "too many labels for one study");
  for (const auto& l : labels)
    if (!valid_label(l)) return fail(Errc::invalid_argument, "label must be 1..64 characters of [A-Za-z0-9_.-]");
  const std::set<std::string> unique(labels.begin(), labels.end());

  std::lock_guard lock(writer_mu_);
  Connection& c = *writer_;
  auto tx = Transaction::begin_immediate(c);
  if (!tx) return std::unexpected(tx.error());
  auto pk = sqlite::study_pk(c, study_uid);
  if (!pk) return std::unexpected(pk.error());
  const std::int64_t study_pk = *pk;
  {
    auto st = c.prepare("DELETE FROM study_label WHERE study_pk = ?1");
    if (!st) return std::unexpected(st.error());
    st->bind(1, study_pk);
    if (auto s = st->run(); !s) return s;
  }
  for (const auto& l : unique) {
    auto st = c.prepare("INSERT INTO study_label (study_pk, label) VALUES (?1, ?2)");
    if (!st) return std::unexpected(st.error());
    st->bind(1, study_pk).bind(2, l);
    if (auto s = st->run(); !s) return s;
  }
  return tx->commit();
}

Result<std::vector<std::string>> SqliteIndexImpl::study_labels(const std::string& study_uid) {
  auto lease = reader();
  if (!lease) return std::unexpected(lease.error());
  // One statement: the LEFT JOIN tells an unknown study (no row) from a study
  // without labels (one row with a NULL label).
  auto st = (*lease)->prepare(
      "SELECT sl.label FROM study st LEFT JOIN study_label sl ON sl.study_pk = st.id"
      " WHERE st.study_uid = ?1 ORDER BY sl.label");
  if (!st) return std::unexpected(st.error());
  st->bind(1, study_uid);
  std::vector<std::string> out;
  bool found = false;
  for (;;) {
    auto more = st->step();
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
    found = true;
    if (!st->is_null(0)) out.push_back(st->text(0));
  }
  if (!found) return fail(Errc::not_found, "no such study");
  return out;
}

} // namespace tresor::index::sqlite
