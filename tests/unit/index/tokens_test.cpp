// API tokens, user and peer scopes, and the migration of a version 2 database.
#include "index/sqlite/db.h"
#include "index/sqlite/migrations.h"
#include "index_test_support.h"

namespace tresor::index::test {
namespace {

using namespace std::chrono;
using S = std::vector<std::string>;

User user_named(const std::string& name, std::optional<Scope> scope = std::nullopt) {
  User u;
  u.username = name;
  u.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
  u.roles = {Role::clinician};
  u.scope = std::move(scope);
  return u;
}

// 64 lowercase hex digits derived from `seed`.
std::string hash_of(char seed) { return std::string(63, 'a') + seed; }

ApiToken token(const std::string& id, const std::string& user, char seed) {
  ApiToken t;
  t.id = id;
  t.username = user;
  t.name = "laptop " + id;
  t.secret_sha256 = hash_of(seed);
  t.created = system_clock::time_point{seconds{1'800'000'000}};
  t.expires = t.created + hours{24 * 90};
  return t;
}

class Tokens : public IndexTest {
protected:
  void SetUp() override {
    IndexTest::SetUp();
    ASSERT_TRUE(index_->put_user(user_named("alice")).has_value());
    ASSERT_TRUE(index_->put_user(user_named("bob")).has_value());
  }
  void put(const ApiToken& t) {
    auto s = index_->put_token(t);
    ASSERT_TRUE(s.has_value()) << s.error().message;
  }
  std::optional<ApiToken> by_hash(const std::string& h) {
    auto r = index_->find_token_by_hash(h);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r ? *r : std::nullopt;
  }
  S ids(const std::string& user) {
    auto r = index_->list_tokens(user);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    S out;
    if (r)
      for (const auto& t : *r) out.push_back(t.id);
    return out;
  }
};

TEST_F(Tokens, TokenRoundTripsWithAllItsFields) {
  const auto t = token("tok_0123456789abcdef", "alice", '1');
  put(t);
  reopen();
  auto f = by_hash(t.secret_sha256);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->id, t.id);
  EXPECT_EQ(f->username, "alice");
  EXPECT_EQ(f->name, t.name);
  EXPECT_EQ(f->secret_sha256, t.secret_sha256);
  EXPECT_EQ(f->created, t.created);
  EXPECT_EQ(f->expires, t.expires);
  EXPECT_FALSE(f->revoked);
}

TEST_F(Tokens, TimesAreKeptToTheSecond) {
  auto t = token("tok_1", "alice", '1');
  t.created += milliseconds{999};
  t.expires += milliseconds{1};
  put(t);
  auto f = by_hash(t.secret_sha256);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->created, system_clock::time_point{seconds{1'800'000'000}});
  EXPECT_EQ(f->expires, token("x", "alice", '1').expires);
}

TEST_F(Tokens, FindByHashReturnsNothingForAnUnknownHash) {
  put(token("tok_1", "alice", '1'));
  EXPECT_FALSE(by_hash(hash_of('2')).has_value());
  EXPECT_FALSE(by_hash("").has_value());
  EXPECT_FALSE(by_hash(std::string(100000, 'a')).has_value());
}

TEST_F(Tokens, FindByHashReturnsRevokedAndExpiredTokensForTheCallerToJudge) {
  auto expired = token("tok_old", "alice", '1');
  expired.expires = system_clock::time_point{seconds{1}};
  put(expired);
  put(token("tok_rev", "alice", '2'));
  ASSERT_EQ(index_->revoke_token("tok_rev").value(), true);
  auto e = by_hash(hash_of('1'));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->expires, system_clock::time_point{seconds{1}});
  auto r = by_hash(hash_of('2'));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->revoked);
}

TEST_F(Tokens, ListsTokensOfOneUserOrOfAll) {
  auto a2 = token("tok_a2", "alice", '2');
  a2.created += seconds{10};
  put(a2);
  put(token("tok_a1", "alice", '1'));
  put(token("tok_b1", "bob", '3'));
  EXPECT_EQ(ids("alice"), (S{"tok_a1", "tok_a2"})) << "oldest first";
  EXPECT_EQ(ids("bob"), (S{"tok_b1"}));
  EXPECT_EQ(ids(""), (S{"tok_a1", "tok_a2", "tok_b1"}));
  EXPECT_TRUE(ids("carol").empty());
}

TEST_F(Tokens, RevokeMarksTheTokenAndReportsWhetherItExisted) {
  put(token("tok_1", "alice", '1'));
  EXPECT_EQ(index_->revoke_token("tok_1").value(), true);
  EXPECT_EQ(index_->revoke_token("tok_1").value(), true) << "revoking twice is harmless";
  EXPECT_EQ(index_->revoke_token("tok_nope").value(), false);
  auto list = index_->list_tokens("alice");
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_TRUE((*list)[0].revoked);
}

TEST_F(Tokens, PutTokenReplacesByIdButNeverStealsAnotherTokensHash) {
  put(token("tok_1", "alice", '1'));
  put(token("tok_2", "alice", '2'));
  auto renamed = token("tok_1", "alice", '1');
  renamed.name = "renamed";
  put(renamed);
  EXPECT_EQ(by_hash(hash_of('1'))->name, "renamed");

  auto clash = token("tok_3", "bob", '2');
  auto s = index_->put_token(clash);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, Errc::conflict);
  EXPECT_EQ(by_hash(hash_of('2'))->id, "tok_2") << "the existing token is untouched";
  EXPECT_EQ(ids(""), (S{"tok_1", "tok_2"}));
}

TEST_F(Tokens, PutTokenRefusesAnUnknownOwnerAndMalformedFields) {
  auto orphan = index_->put_token(token("tok_1", "mallory", '1'));
  ASSERT_FALSE(orphan.has_value());
  EXPECT_EQ(orphan.error().code, Errc::not_found);

  auto no_id = token("", "alice", '1');
  EXPECT_EQ(index_->put_token(no_id).error().code, Errc::invalid_argument);
  for (const std::string& bad : {std::string(), std::string(64, 'A'), std::string(63, 'a'), std::string(64, 'g')}) {
    auto t = token("tok_1", "alice", '1');
    t.secret_sha256 = bad;
    auto s = index_->put_token(t);
    ASSERT_FALSE(s.has_value()) << bad;
    EXPECT_EQ(s.error().code, Errc::invalid_argument) << bad;
  }
  EXPECT_TRUE(ids("").empty());
}

TEST_F(Tokens, RemovingAUserRemovesTheirTokens) {
  put(token("tok_a", "alice", '1'));
  put(token("tok_b", "bob", '2'));
  ASSERT_EQ(index_->remove_user("alice").value(), true);
  EXPECT_FALSE(by_hash(hash_of('1')).has_value());
  EXPECT_EQ(ids(""), (S{"tok_b"}));
  // A new account with the same name does not inherit anything.
  ASSERT_TRUE(index_->put_user(user_named("alice")).has_value());
  EXPECT_TRUE(ids("alice").empty());
}

TEST_F(Tokens, ReplacingAUserKeepsTheirTokens) {
  put(token("tok_a", "alice", '1'));
  User changed = user_named("alice", Scope{{"NORTH"}, {}, {}});
  changed.enabled = false;
  ASSERT_TRUE(index_->put_user(changed).has_value());
  EXPECT_EQ(ids("alice"), (S{"tok_a"}));
}

// A new password (change or reset, from any process) revokes every API token
// of that user in the same write; other users' tokens and a change of roles,
// scope or enabled (same hash) leave them alone.
TEST_F(Tokens, APasswordChangeRevokesTheUsersTokens) {
  put(token("tok_a", "alice", '1'));
  put(token("tok_c", "alice", '3'));
  put(token("tok_b", "bob", '2'));
  User same = user_named("alice");
  same.roles = {Role::clinician, Role::auditor};
  ASSERT_TRUE(index_->put_user(same).has_value());
  EXPECT_FALSE(by_hash(hash_of('1'))->revoked);
  User changed = user_named("alice");
  changed.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdDI$bmV3aGFzaA";
  ASSERT_TRUE(index_->put_user(changed).has_value());
  EXPECT_TRUE(by_hash(hash_of('1'))->revoked);
  EXPECT_TRUE(by_hash(hash_of('3'))->revoked);
  EXPECT_FALSE(by_hash(hash_of('2'))->revoked);
  EXPECT_EQ(index_->find_user("alice").value()->password_hash, changed.password_hash);
}

// ---- scopes of users and peers ----

using AccountScopes = Tokens;

TEST_F(AccountScopes, UserScopeRoundTripsAbsentEmptyAndFilled) {
  const Scope filled{{"NORTH", "Sankt Gallen Spital \xc3\xa9"}, {"DR^A"}, {"trial-7", "teaching"}};
  ASSERT_TRUE(index_->put_user(user_named("none")).has_value());
  ASSERT_TRUE(index_->put_user(user_named("empty", Scope{})).has_value());
  ASSERT_TRUE(index_->put_user(user_named("filled", filled)).has_value());
  reopen();
  EXPECT_EQ(index_->find_user("none").value()->scope, std::nullopt);
  EXPECT_EQ(index_->find_user("empty").value()->scope, std::optional<Scope>{Scope{}});
  EXPECT_EQ(index_->find_user("filled").value()->scope, std::optional<Scope>{filled});
  auto list = index_->list_users();
  ASSERT_TRUE(list.has_value());
  for (const auto& u : *list)
    if (u.username == "filled") {
      EXPECT_EQ(u.scope, std::optional<Scope>{filled});
    }

  ASSERT_TRUE(index_->put_user(user_named("filled")).has_value());
  EXPECT_EQ(index_->find_user("filled").value()->scope, std::nullopt) << "replacing clears the scope";
}

TEST_F(AccountScopes, PeerScopeRoundTripsAbsentEmptyAndFilled) {
  Peer p;
  p.ae_title = "NOSCOPE";
  ASSERT_TRUE(index_->put_peer(p).has_value());
  p.ae_title = "EMPTY";
  p.scope = Scope{};
  ASSERT_TRUE(index_->put_peer(p).has_value());
  p.ae_title = "FILLED";
  p.scope = Scope{{"SOUTH"}, {}, {"x"}};
  ASSERT_TRUE(index_->put_peer(p).has_value());
  reopen();
  EXPECT_EQ(index_->find_peer("NOSCOPE").value()->scope, std::nullopt);
  EXPECT_EQ(index_->find_peer("EMPTY").value()->scope, std::optional<Scope>{Scope{}});
  EXPECT_EQ(index_->find_peer("FILLED").value()->scope, (std::optional<Scope>{Scope{{"SOUTH"}, {}, {"x"}}}));
  auto list = index_->list_peers();
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(list->size(), 3u);
}

TEST_F(AccountScopes, ScopesThatCannotMatchAnythingMeaningfulAreRefused) {
  const std::vector<Scope> bad{
      Scope{{""}, {}, {}},
      Scope{{}, {""}, {}},
      Scope{{}, {}, {"no spaces"}},
      Scope{{}, {}, {std::string(65, 'l')}},
      Scope{{"\xff\xfe"}, {}, {}},
  };
  for (const auto& scope : bad) {
    auto s = index_->put_user(user_named("carol", scope));
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().code, Errc::invalid_argument);
    Peer p;
    p.ae_title = "CAROL";
    p.scope = scope;
    auto sp = index_->put_peer(p);
    ASSERT_FALSE(sp.has_value());
    EXPECT_EQ(sp.error().code, Errc::invalid_argument);
  }
  Scope huge;
  huge.institutions.assign(2000, "X");
  EXPECT_EQ(index_->put_user(user_named("carol", huge)).error().code, Errc::too_large);
  EXPECT_FALSE(index_->find_user("carol").value().has_value());
  EXPECT_FALSE(index_->find_peer("CAROL").value().has_value());
}

TEST_F(AccountScopes, AMalformedStoredScopeIsReportedAsCorrupt) {
  ASSERT_TRUE(index_->put_user(user_named("dave", Scope{{"A"}, {}, {}})).has_value());
  {
    RawDb raw(db_file());
    raw.rows("UPDATE users SET scope = '{\"institutions\": [1]}' WHERE username = 'dave'");
  }
  auto u = index_->find_user("dave");
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().code, Errc::corrupt);
  {
    RawDb raw(db_file());
    raw.rows("UPDATE users SET scope = 'not json' WHERE username = 'dave'");
  }
  EXPECT_EQ(index_->find_user("dave").error().code, Errc::corrupt);
}

// ---- migration of a version 2 database ----

class FromVersion2 : public ::testing::Test {
protected:
  std::filesystem::path file() const { return dir_.path() / "v2.db"; }
  TempDir dir_;
};

TEST_F(FromVersion2, OpeningAVersion2DatabaseAddsAccessWithoutLosingData) {
  {
    auto c = sqlite::Connection::open(file(), sqlite::Connection::Mode::writer);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    ASSERT_TRUE(sqlite::migrate(**c, sqlite::embedded_migrations().first(2)).has_value());
    ASSERT_TRUE((*c)->exec(
        "INSERT INTO users (username, password_hash, roles, enabled, updated_at)"
        "  VALUES ('old', '$argon2id$x', 'clinician', 1, 'x');"
        "INSERT INTO peers (ae_title, hosts, port, operations, updated_at) VALUES ('OLDPEER', '10.0.0.1', 104, 'echo', 'x');"
        "INSERT INTO patient (id, patient_id, name) VALUES (1, 'P1', 'OLD^PATIENT');"
        "INSERT INTO study (id, patient_pk, study_uid, institution) VALUES (1, 1, '1.7.1', 'NORTH');"
        "INSERT INTO study (id, patient_pk, study_uid, institution) VALUES (2, 1, '1.7.2', 'SOUTH');"
        "INSERT INTO series (id, study_pk, series_uid) VALUES (1, 1, '1.7.1.1'), (2, 2, '1.7.2.1');"
        "INSERT INTO instance (series_pk, sop_uid, blob_key, size, digest, received_at)"
        "  VALUES (1, '1.7.1.1.1', 'k1', 1, 'k1', 'x'), (2, '1.7.2.1.1', 'k2', 1, 'k2', 'x');")
                    .has_value());
    RawDb raw(file());
    EXPECT_EQ(raw.rows("SELECT count(*) FROM schema_version"), S{"2"});
  }
  auto opened = open_sqlite(file());
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  auto& index = **opened;
  {
    RawDb raw(file());
    EXPECT_EQ(raw.rows("SELECT version, name FROM schema_version WHERE version = 3"), S{"3|access"});
    auto tables = raw.rows("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name");
    for (const char* t : {"api_token", "study_label"})
      EXPECT_NE(std::find(tables.begin(), tables.end(), t), tables.end()) << t;
  }
  auto old = index.find_user("old");
  ASSERT_TRUE(old.has_value() && old->has_value());
  EXPECT_EQ((*old)->scope, std::nullopt) << "existing users keep seeing every study";
  EXPECT_EQ((*old)->roles, std::set<Role>{Role::clinician});
  auto peer = index.find_peer("OLDPEER");
  ASSERT_TRUE(peer.has_value() && peer->has_value());
  EXPECT_EQ((*peer)->scope, std::nullopt);
  EXPECT_TRUE(index.list_tokens("").value().empty());

  QueryRequest q;
  q.level = Level::study;
  q.scope = Scope{{"NORTH"}, {}, {}};
  auto rows = index.find(q, 10);
  ASSERT_TRUE(rows.has_value()) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(value_of((*rows)[0], tags::StudyInstanceUID), "1.7.1");
  ASSERT_TRUE(index.set_study_labels("1.7.2", {"migrated"}).has_value());
  q.scope = Scope{{}, {}, {"migrated"}};
  rows = index.find(q, 10);
  ASSERT_TRUE(rows.has_value());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(value_of((*rows)[0], tags::StudyInstanceUID), "1.7.2");

  ApiToken t = token("tok_1", "old", '1');
  ASSERT_TRUE(index.put_token(t).has_value());
  EXPECT_EQ(index.find_token_by_hash(t.secret_sha256).value()->username, "old");
}

} // namespace
} // namespace tresor::index::test
