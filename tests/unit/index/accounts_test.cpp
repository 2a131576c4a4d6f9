#include "index_test_support.h"

namespace tresor::index::test {
namespace {

using Accounts = IndexTest;

Peer sample_peer(const std::string& ae) {
  Peer p;
  p.ae_title = ae;
  p.hosts = {"10.0.0.5", "10.0.0.6"};
  p.port = 11112;
  p.operations = {Operation::echo, Operation::store, Operation::move};
  p.cert_sha256 = std::string(64, 'a');
  p.require_user_identity = true;
  p.allow_plaintext = false;
  p.unlimited_find = true;
  return p;
}

User sample_user(const std::string& name) {
  User u;
  u.username = name;
  u.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
  u.roles = {Role::clinician, Role::auditor};
  u.enabled = true;
  return u;
}

TEST_F(Accounts, StoresAndFindsAPeerWithAllItsFields) {
  const Peer p = sample_peer("MODALITY1");
  ASSERT_TRUE(index_->put_peer(p).has_value());
  auto found = index_->find_peer("MODALITY1");
  ASSERT_TRUE(found.has_value() && found->has_value());
  const Peer& f = **found;
  EXPECT_EQ(f.ae_title, p.ae_title);
  EXPECT_EQ(f.hosts, p.hosts);
  EXPECT_EQ(f.port, p.port);
  EXPECT_EQ(f.operations, p.operations);
  EXPECT_EQ(f.cert_sha256, p.cert_sha256);
  EXPECT_TRUE(f.require_user_identity);
  EXPECT_FALSE(f.allow_plaintext);
  EXPECT_TRUE(f.unlimited_find);
}

TEST_F(Accounts, StoresTheUnlimitedRetrieveFlagApartFromUnlimitedFind) {
  Peer p = sample_peer("BULK");
  p.unlimited_retrieve = true;
  p.unlimited_find = false;
  ASSERT_TRUE(index_->put_peer(p).has_value());
  auto found = index_->find_peer("BULK");
  ASSERT_TRUE(found.has_value() && found->has_value());
  EXPECT_TRUE((*found)->unlimited_retrieve);
  EXPECT_FALSE((*found)->unlimited_find);
  ASSERT_TRUE(index_->put_peer(sample_peer("PLAIN")).has_value());
  auto plain = index_->find_peer("PLAIN");
  ASSERT_TRUE(plain.has_value() && plain->has_value());
  EXPECT_FALSE((*plain)->unlimited_retrieve) << "off unless granted";
}

TEST_F(Accounts, PutPeerReplacesAnExistingPeer) {
  ASSERT_TRUE(index_->put_peer(sample_peer("MOD")).has_value());
  Peer changed = sample_peer("MOD");
  changed.hosts = {"192.168.1.1"};
  changed.operations = {Operation::find};
  changed.port = 0;
  ASSERT_TRUE(index_->put_peer(changed).has_value());
  auto list = index_->list_peers();
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].hosts, std::vector<std::string>{"192.168.1.1"});
  EXPECT_EQ((*list)[0].operations, std::set<Operation>{Operation::find});
  EXPECT_EQ((*list)[0].port, 0);
}

TEST_F(Accounts, PeerWithoutOperationsOrHostsRoundTripsEmpty) {
  Peer bare;
  bare.ae_title = "BARE";
  ASSERT_TRUE(index_->put_peer(bare).has_value());
  auto found = index_->find_peer("BARE");
  ASSERT_TRUE(found.has_value() && found->has_value());
  EXPECT_TRUE((*found)->hosts.empty());
  EXPECT_TRUE((*found)->operations.empty());
}

TEST_F(Accounts, ListsPeersByAeTitleAndRemovesThem) {
  ASSERT_TRUE(index_->put_peer(sample_peer("ZETA")).has_value());
  ASSERT_TRUE(index_->put_peer(sample_peer("ALPHA")).has_value());
  auto list = index_->list_peers();
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].ae_title, "ALPHA");
  EXPECT_EQ((*list)[1].ae_title, "ZETA");

  auto removed = index_->remove_peer("ALPHA");
  ASSERT_TRUE(removed.has_value());
  EXPECT_TRUE(*removed);
  auto again = index_->remove_peer("ALPHA");
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);
  auto gone = index_->find_peer("ALPHA");
  ASSERT_TRUE(gone.has_value());
  EXPECT_FALSE(gone->has_value());
}

TEST_F(Accounts, RefusesPeersThatCannotBeStoredUnambiguously) {
  Peer no_ae = sample_peer("");
  auto a = index_->put_peer(no_ae);
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().code, Errc::invalid_argument);
  Peer comma = sample_peer("MOD");
  comma.hosts = {"10.0.0.1,10.0.0.2"};
  auto b = index_->put_peer(comma);
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().code, Errc::invalid_argument);
  auto list = index_->list_peers();
  ASSERT_TRUE(list.has_value());
  EXPECT_TRUE(list->empty());
}

TEST_F(Accounts, StoresFindsReplacesAndRemovesUsers) {
  ASSERT_TRUE(index_->put_user(sample_user("alice")).has_value());
  ASSERT_TRUE(index_->put_user(sample_user("bob")).has_value());
  auto alice = index_->find_user("alice");
  ASSERT_TRUE(alice.has_value() && alice->has_value());
  EXPECT_EQ((*alice)->password_hash, sample_user("alice").password_hash);
  EXPECT_EQ((*alice)->roles, (std::set<Role>{Role::clinician, Role::auditor}));
  EXPECT_TRUE((*alice)->enabled);

  User disabled = sample_user("alice");
  disabled.enabled = false;
  disabled.roles = {Role::admin};
  ASSERT_TRUE(index_->put_user(disabled).has_value());
  auto list = index_->list_users();
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].username, "alice");
  EXPECT_FALSE((*list)[0].enabled);
  EXPECT_EQ((*list)[0].roles, std::set<Role>{Role::admin});
  EXPECT_EQ((*list)[1].username, "bob");

  auto removed = index_->remove_user("bob");
  ASSERT_TRUE(removed.has_value());
  EXPECT_TRUE(*removed);
  auto missing = index_->find_user("bob");
  ASSERT_TRUE(missing.has_value());
  EXPECT_FALSE(missing->has_value());
  auto again = index_->remove_user("bob");
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);
}

TEST_F(Accounts, RefusesUsersWithoutNameOrPasswordHash) {
  User u = sample_user("carol");
  u.password_hash.clear();
  auto a = index_->put_user(u);
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().code, Errc::invalid_argument);
  auto b = index_->put_user(sample_user(""));
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().code, Errc::invalid_argument);
}

TEST_F(Accounts, AccountsSurviveReopeningTheDatabase) {
  ASSERT_TRUE(index_->put_peer(sample_peer("PACS2")).has_value());
  ASSERT_TRUE(index_->put_user(sample_user("dave")).has_value());
  reopen();
  auto peer = index_->find_peer("PACS2");
  ASSERT_TRUE(peer.has_value() && peer->has_value());
  EXPECT_EQ((*peer)->hosts, sample_peer("PACS2").hosts);
  auto user = index_->find_user("dave");
  ASSERT_TRUE(user.has_value() && user->has_value());
  EXPECT_EQ((*user)->roles, sample_user("dave").roles);
}

} // namespace
} // namespace tresor::index::test
