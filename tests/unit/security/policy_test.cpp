#include "security/policy.h"

#include <gtest/gtest.h>

#include <map>

#include "security/passwords.h"
#include "test_support.h"

namespace tresor::security {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kIssuer = "https://idp.example.org";
const std::string kAudience = "tresor";
const std::string kPasscode = "correct horse battery staple";

using testing::MemoryAccounts;
using testing::TestClock;

class Association : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(init_crypto().has_value());
    auto h = hash_password(kPasscode);  // one Argon2id hash for the whole suite
    ASSERT_TRUE(h.has_value());
    hash_ = *h;
    ec_ = testing::make_ec_key().release();
  }
  static void TearDownTestSuite() { EVP_PKEY_free(ec_); }

  void SetUp() override {
    config_.dimse.ae_title = "TRESOR";
    config_.dimse.plaintext_enabled = true;

    Peer ct;
    ct.ae_title = "CT_SCANNER_1";
    ct.hosts = {"10.0.0.5", "10.0.0.6"};
    ct.operations = {Operation::echo, Operation::store};
    accounts_.put_peer(ct);

    Peer ws;
    ws.ae_title = "WORKSTATION";
    ws.hosts = {"10.0.1.7"};
    ws.operations = {Operation::echo, Operation::find, Operation::move};
    ws.cert_sha256 = std::string(64, 'a');
    ws.unlimited_find = true;
    accounts_.put_peer(ws);

    Peer legacy;
    legacy.ae_title = "LEGACY_US";
    legacy.hosts = {"192.168.1.20"};
    legacy.operations = {Operation::store};
    legacy.allow_plaintext = true;
    accounts_.put_peer(legacy);

    Peer strict = ct;
    strict.ae_title = "VIEWER";
    strict.hosts = {"10.0.2.2"};
    strict.require_user_identity = true;
    accounts_.put_peer(strict);

    accounts_.put_user(User{"alice", hash_, {Role::clinician}, true, std::nullopt});
    accounts_.put_user(User{"bob", hash_, {Role::clinician}, false, std::nullopt});

    testing::write_jwks(dir_ / "jwks.json", {testing::jwk_of(ec_, "k1")});
    auto v = JwtVerifier::from_jwks_file(dir_ / "jwks.json", kIssuer, kAudience, {"ES256"});
    ASSERT_TRUE(v.has_value()) << v.error().message;
    jwt_ = std::move(*v);
  }

  AssociationPolicy policy(const JwtVerifier* jwt) { return AssociationPolicy(config_, accounts_, jwt, failures_, clock_); }
  Decision decide(const AssociationRequest& r) { return policy(jwt_.get()).decide(r); }

  // A TLS request from CT_SCANNER_1 with a certificate whose CN is its AE title.
  static AssociationRequest ct_request() {
    AssociationRequest r;
    r.calling_ae = "CT_SCANNER_1";
    r.called_ae = "TRESOR";
    r.source_ip = "10.0.0.5";
    r.transport = Transport::tls;
    r.client_cert_present = true;
    r.client_cert_cn = "CT_SCANNER_1";
    r.client_cert_sha256 = std::string(64, 'f');
    return r;
  }

  static AssociationRequest with_identity(AssociationRequest r, int type, std::string primary, std::string secondary = "") {
    r.identity = UserIdentity{type, std::move(primary), std::move(secondary)};
    return r;
  }

  std::string token(const std::string& sub, std::int64_t exp_offset = 300) {
    nlohmann::json c = {{"sub", sub}, {"iss", kIssuer}, {"aud", kAudience}, {"exp", kNow + exp_offset}};
    return testing::make_token("ES256", ec_, c, "k1");
  }

  void expect_refused(const Decision& d, const std::string& reason_part) {
    EXPECT_FALSE(d.accepted);
    EXPECT_NE(d.reason.find(reason_part), std::string::npos) << "reason: " << d.reason;
  }

  testing::TempDir dir_;
  config::Config config_;
  MemoryAccounts accounts_;
  FailureTracker failures_{3, 60s, 900s};
  TestClock clock_{kNow};
  std::unique_ptr<JwtVerifier> jwt_;
  static inline std::string hash_;
  static inline EVP_PKEY* ec_ = nullptr;
};

TEST_F(Association, AcceptsRegisteredPeerWhoseCertificateCnIsItsAeTitle) {
  Decision d = decide(ct_request());
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_EQ(d.principal.kind, Principal::Kind::peer);
  EXPECT_EQ(d.principal.name, "CT_SCANNER_1");
  EXPECT_EQ(d.principal.user, "");
  EXPECT_EQ(d.principal.source, "10.0.0.5");
  EXPECT_EQ(d.principal.operations, (std::set<Operation>{Operation::echo, Operation::store}));
  EXPECT_FALSE(d.principal.unlimited_find);
  EXPECT_FALSE(d.source_now_blocked);
}

TEST_F(Association, IgnoresInsignificantSpacesInAeTitles) {
  auto r = ct_request();
  r.calling_ae = "CT_SCANNER_1    ";
  r.called_ae = "TRESOR          ";
  EXPECT_TRUE(decide(r).accepted);
}

TEST_F(Association, ABlockedSourceAdmitsOnlyARegisteredPeerWithItsBoundCertificateOrIdentity) {
  // A modality behind the same NAT as a guesser keeps the archive.
  for (const char* ip : {"10.0.0.5", "192.168.1.20", "10.0.3.3"})
    for (int i = 0; i < 3; ++i) failures_.record_failure(ip, clock_.t);
  ASSERT_TRUE(failures_.is_blocked("10.0.0.5", clock_.t));
  Decision ok = decide(ct_request());
  ASSERT_TRUE(ok.accepted) << ok.reason;
  EXPECT_EQ(ok.principal.name, "CT_SCANNER_1");
  // Everything else from it is refused: a caller that is not registered, a
  // certificate bound to another peer, the wrong called AE ...
  auto stranger = ct_request();
  stranger.calling_ae = "STRANGER";
  expect_refused(decide(stranger), "not registered");
  auto wrong_cert = ct_request();
  wrong_cert.client_cert_cn = "OTHER";
  expect_refused(decide(wrong_cert), "not bound");
  auto wrong_called = ct_request();
  wrong_called.called_ae = "GUESS";
  expect_refused(decide(wrong_called), "called AE");
  // ... and a peer proven by nothing but its address and AE title.
  AssociationRequest plain;
  plain.calling_ae = "LEGACY_US";
  plain.called_ae = "TRESOR";
  plain.source_ip = "192.168.1.20";
  plain.transport = Transport::plaintext;
  expect_refused(decide(plain), "blocked");
  // A peer whose method is user identity (no client certificate) gets in with a valid one only.
  Peer ws;
  ws.ae_title = "WEBSTATION";
  ws.hosts = {"10.0.3.3"};
  ws.operations = {Operation::echo};
  ws.require_user_identity = true;
  accounts_.put_peer(ws);
  AssociationRequest id;
  id.calling_ae = "WEBSTATION";
  id.called_ae = "TRESOR";
  id.source_ip = "10.0.3.3";
  expect_refused(decide(with_identity(id, 2, "alice", "not the passcode")), "wrong passcode");
  Decision with_user = decide(with_identity(id, 2, "alice", kPasscode));
  ASSERT_TRUE(with_user.accepted) << with_user.reason;
  EXPECT_EQ(with_user.principal.user, "alice");
  // Failures during the block do not extend it.
  clock_.t += 901s;
  EXPECT_FALSE(failures_.is_blocked("10.0.0.5", clock_.t));
}

TEST_F(Association, RefusesCalledAeTitleThatIsNotOurs) {
  auto r = ct_request();
  r.called_ae = "ANY-SCP";
  expect_refused(decide(r), "called AE");
  r.called_ae = "tresor";  // AE titles are case-sensitive
  expect_refused(decide(r), "called AE");
}

TEST_F(Association, RefusesUnknownCallingAeTitle) {
  auto r = ct_request();
  r.calling_ae = "EVIL";
  r.client_cert_cn = "EVIL";
  expect_refused(decide(r), "calling AE not registered");
  r.calling_ae = "";
  expect_refused(decide(r), "empty calling AE");
}

TEST_F(Association, RefusesWhenThePeerLookupFails) {
  accounts_.fail_lookups = true;
  expect_refused(decide(ct_request()), "lookup failed");
}

TEST_F(Association, RefusesRegisteredAeTitleFromAnAddressNotListedForIt) {
  auto r = ct_request();
  r.source_ip = "10.0.0.99";
  expect_refused(decide(r), "source address not allowed for peer");
  r.source_ip = "10.0.0.6";  // its second host is fine
  EXPECT_TRUE(decide(r).accepted);
}

TEST_F(Association, RefusesPlaintextForPeerWithoutAllowPlaintext) {
  auto r = ct_request();
  r.transport = Transport::plaintext;
  r.client_cert_present = false;
  expect_refused(decide(r), "plaintext transport not allowed");
}

TEST_F(Association, AcceptsPlaintextForPinnedPeerThatAllowsIt) {
  AssociationRequest r;
  r.calling_ae = "LEGACY_US";
  r.called_ae = "TRESOR";
  r.source_ip = "192.168.1.20";
  r.transport = Transport::plaintext;
  Decision d = decide(r);
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_EQ(d.principal.operations, std::set<Operation>{Operation::store});
  r.source_ip = "192.168.1.21";
  expect_refused(decide(r), "source address not allowed");
}

TEST_F(Association, RefusesPlaintextWhenThePlaintextListenerIsDisabled) {
  config_.dimse.plaintext_enabled = false;
  AssociationRequest r;
  r.calling_ae = "LEGACY_US";
  r.called_ae = "TRESOR";
  r.source_ip = "192.168.1.20";
  r.transport = Transport::plaintext;
  expect_refused(decide(r), "plaintext listener is disabled");
}

TEST_F(Association, RefusesClientCertificateWhoseCnIsNotTheAeTitle) {
  auto r = ct_request();
  r.client_cert_cn = "OTHER_MODALITY";
  expect_refused(decide(r), "client certificate not bound to peer");
}

TEST_F(Association, AcceptsPinnedCertificateFingerprintCaseInsensitively) {
  AssociationRequest r;
  r.calling_ae = "WORKSTATION";
  r.called_ae = "TRESOR";
  r.source_ip = "10.0.1.7";
  r.client_cert_present = true;
  r.client_cert_cn = "something else entirely";  // the pin wins over the CN
  r.client_cert_sha256 = std::string(64, 'A');
  Decision d = decide(r);
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_TRUE(d.principal.unlimited_find);
  EXPECT_TRUE(d.principal.may(Operation::move));
  EXPECT_FALSE(d.principal.may(Operation::store));
}

TEST_F(Association, RefusesCertificateThatDoesNotMatchThePinEvenWithTheRightCn) {
  AssociationRequest r;
  r.calling_ae = "WORKSTATION";
  r.called_ae = "TRESOR";
  r.source_ip = "10.0.1.7";
  r.client_cert_present = true;
  r.client_cert_cn = "WORKSTATION";
  r.client_cert_sha256 = std::string(64, 'b');
  expect_refused(decide(r), "client certificate not bound to peer");
}

TEST_F(Association, RequiresUserIdentityOverTlsWithoutClientCertificate) {
  auto r = ct_request();
  r.client_cert_present = false;
  r.client_cert_cn.clear();
  expect_refused(decide(r), "user identity required");
}

TEST_F(Association, AcceptsCorrectPasscodeOverTlsWithoutClientCertificate) {
  auto r = ct_request();
  r.client_cert_present = false;
  Decision d = decide(with_identity(r, 2, "alice", kPasscode));
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_EQ(d.principal.name, "CT_SCANNER_1");
  EXPECT_EQ(d.principal.user, "alice");
}

TEST_F(Association, RefusesWrongPasscodeWithoutRevealingIt) {
  const std::string wrong = "Tr0ub4dor&3-guess";
  Decision d = decide(with_identity(ct_request(), 2, "alice", wrong));
  expect_refused(d, "wrong passcode");
  EXPECT_EQ(d.reason.find(wrong), std::string::npos);
}

TEST_F(Association, RefusesUnknownUserWithoutRecordingTheName) {
  Decision d = decide(with_identity(ct_request(), 2, "correct horse battery stapler", kPasscode));
  expect_refused(d, "unknown user");
  EXPECT_EQ(d.reason.find("stapler"), std::string::npos);
  EXPECT_EQ(d.reason.find(kPasscode), std::string::npos);
}

TEST_F(Association, RefusesDisabledUserEvenWithTheRightPasscode) {
  expect_refused(decide(with_identity(ct_request(), 2, "bob", kPasscode)), "disabled");
}

TEST_F(Association, RefusesEmptyPasscodeWithoutHashing) {
  expect_refused(decide(with_identity(ct_request(), 2, "alice", "")), "empty passcode");
}

TEST_F(Association, RequiresUserIdentityWhenThePeerDemandsIt) {
  auto r = ct_request();
  r.calling_ae = "VIEWER";
  r.client_cert_cn = "VIEWER";
  r.source_ip = "10.0.2.2";
  expect_refused(decide(r), "user identity required by peer");
  Decision d = decide(with_identity(r, 5, token("alice")));
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_EQ(d.principal.user, "alice");
}

TEST_F(Association, RefusesUsernameOnlyKerberosSamlAndUnknownIdentityTypes) {
  expect_refused(decide(with_identity(ct_request(), 1, "alice")), "type 1");
  expect_refused(decide(with_identity(ct_request(), 3, "ticket")), "Kerberos");
  failures_.reset("10.0.0.5");  // three refusals would block the source
  expect_refused(decide(with_identity(ct_request(), 4, "<saml/>")), "SAML");
  expect_refused(decide(with_identity(ct_request(), 9, "x")), "unknown user identity type");
}

TEST_F(Association, AcceptsValidJwtWhoseSubjectIsAnEnabledUser) {
  auto r = ct_request();
  r.client_cert_present = false;
  Decision d = decide(with_identity(r, 5, token("alice")));
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_EQ(d.principal.user, "alice");
}

TEST_F(Association, RefusesJwtForUnknownOrDisabledSubject) {
  expect_refused(decide(with_identity(ct_request(), 5, token("mallory"))), "not a user");
  expect_refused(decide(with_identity(ct_request(), 5, token("bob"))), "disabled");
}

TEST_F(Association, RefusesExpiredOrForgedJwtWithoutEchoingTheToken) {
  const std::string expired = token("alice", -3600);
  Decision d = decide(with_identity(ct_request(), 5, expired));
  expect_refused(d, "expired");
  EXPECT_EQ(d.reason.find(expired), std::string::npos);
  std::string forged = token("alice");
  forged.back() = forged.back() == 'A' ? 'Q' : 'A';
  expect_refused(decide(with_identity(ct_request(), 5, forged)), "JWT refused");
}

TEST_F(Association, RefusesJwtWhenNoVerifierIsConfigured) {
  Decision d = policy(nullptr).decide(with_identity(ct_request(), 5, token("alice")));
  expect_refused(d, "not configured");
}

TEST_F(Association, EveryRefusalCountsAndTheThirdOneBlocksTheSource) {
  auto bad = ct_request();
  bad.calling_ae = "EVIL";
  EXPECT_FALSE(decide(bad).source_now_blocked);
  EXPECT_FALSE(decide(bad).source_now_blocked);
  Decision third = decide(bad);
  EXPECT_FALSE(third.accepted);
  EXPECT_TRUE(third.source_now_blocked);
  // Now a caller without a bound credential is refused from that address,
  // but the registered peer with its certificate is not (it is not the guesser) ...
  EXPECT_TRUE(failures_.is_blocked("10.0.0.5", clock_.t));
  expect_refused(decide(bad), "not registered");
  EXPECT_TRUE(decide(ct_request()).accepted);
  // ... while another source is unaffected.
  auto other = ct_request();
  other.source_ip = "10.0.0.6";
  EXPECT_TRUE(decide(other).accepted);
  // The block ends with time.
  clock_.t += 901s;
  EXPECT_FALSE(failures_.is_blocked("10.0.0.5", clock_.t));
  EXPECT_TRUE(decide(ct_request()).accepted);
}

TEST_F(Association, AcceptedAssociationsDoNotCount) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(decide(ct_request()).accepted);
  EXPECT_FALSE(failures_.is_blocked("10.0.0.5", clock_.t));
}

// --- Roles and scopes --------------------------------------------------------

Scope scope_of_institution(std::string name) {
  Scope s;
  s.institutions = {std::move(name)};
  return s;
}

TEST_F(Association, WithoutAUserThePrincipalGetsThePeersOperationsAndScope) {
  Peer ct = accounts_.peers.at("CT_SCANNER_1");
  ct.scope = scope_of_institution("North Hospital");
  accounts_.put_peer(ct);
  Decision d = decide(ct_request());
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_EQ(d.principal.operations, (std::set<Operation>{Operation::echo, Operation::store}));
  EXPECT_EQ(d.principal.scope, scope_of_institution("North Hospital"));
}

TEST_F(Association, PasscodeUserGetsOnlyOperationsBothThePeerAndTheRolesAllow) {
  // CT_SCANNER_1 may echo and store; alice is a clinician (echo find get move).
  Decision d = decide(with_identity(ct_request(), 2, "alice", kPasscode));
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_EQ(d.principal.user, "alice");
  EXPECT_EQ(d.principal.operations, std::set<Operation>{Operation::echo});
  EXPECT_FALSE(d.principal.may(Operation::store));
  EXPECT_FALSE(d.principal.may(Operation::find));  // the role allows it, the peer does not
}

TEST_F(Association, JwtUserGetsTheIntersectionAndTheTokenRolesClaimIsIgnored) {
  accounts_.put_user(User{"tina", hash_, {Role::technologist}, true, std::nullopt});
  nlohmann::json c = {{"sub", "tina"}, {"iss", kIssuer}, {"aud", kAudience}, {"exp", kNow + 300},
                      {"roles", {"admin"}}};
  Decision d = decide(with_identity(ct_request(), 5, testing::make_token("ES256", ec_, c, "k1")));
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_EQ(d.principal.operations, (std::set<Operation>{Operation::echo, Operation::store}));
  EXPECT_FALSE(d.principal.may(Operation::admin));
}

TEST_F(Association, UserWithAResearcherRoleOnlyGetsNoOperationAtAll) {
  accounts_.put_user(User{"rita", hash_, {Role::researcher}, true, std::nullopt});
  Decision d = decide(with_identity(ct_request(), 5, token("rita")));
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_TRUE(d.principal.operations.empty());
}

TEST_F(Association, AResearcherWithoutAProjectFindsUnderAnEmptyScopeThatAdmitsNothing) {
  Peer ct = accounts_.peers.at("CT_SCANNER_1");
  ct.operations.insert(Operation::find);
  accounts_.put_peer(ct);
  accounts_.put_user(User{"rita", hash_, {Role::researcher}, true, std::nullopt});
  Decision d = decide(with_identity(ct_request(), 5, token("rita")));
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_TRUE(d.principal.may(Operation::find));
  ASSERT_TRUE(d.principal.scope.has_value());  // never every study
  EXPECT_EQ(*d.principal.scope, Scope{});
}

TEST_F(Association, TheUsersScopeIntersectsThePeersScopeAndNeverWidensIt) {
  Peer ct = accounts_.peers.at("CT_SCANNER_1");
  ct.scope = scope_of_institution("North Hospital");
  accounts_.put_peer(ct);
  User alice = accounts_.users.at("alice");
  alice.scope = scope_of_institution("South Clinic");
  accounts_.put_user(alice);
  Decision d = decide(with_identity(ct_request(), 5, token("alice")));
  ASSERT_TRUE(d.accepted) << d.reason;
  // Nothing both admit: a present but empty scope (admits nothing), never South Clinic.
  ASSERT_TRUE(d.principal.scope.has_value());
  EXPECT_EQ(d.principal.scope, Scope{});
  // Overlapping scopes keep what both name.
  alice.scope->institutions.push_back("North Hospital");
  accounts_.put_user(alice);
  Decision both = decide(with_identity(ct_request(), 5, token("alice")));
  ASSERT_TRUE(both.accepted) << both.reason;
  EXPECT_EQ(both.principal.scope, scope_of_institution("North Hospital"));
}

TEST_F(Association, AUsersScopeStillAppliesWhenThePeerHasNone) {
  User alice = accounts_.users.at("alice");
  alice.scope = scope_of_institution("South Clinic");
  accounts_.put_user(alice);
  Decision d = decide(with_identity(ct_request(), 5, token("alice")));
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_EQ(d.principal.scope, scope_of_institution("South Clinic"));
}

TEST_F(Association, UnlimitedFindComesFromNeitherThePeerNorTheUserAlone) {
  // WORKSTATION has unlimited_find; with a user behind it the association does not.
  AssociationRequest r;
  r.calling_ae = "WORKSTATION";
  r.called_ae = "TRESOR";
  r.source_ip = "10.0.1.7";
  r.client_cert_present = true;
  r.client_cert_sha256 = std::string(64, 'a');
  Decision alone = decide(r);
  ASSERT_TRUE(alone.accepted) << alone.reason;
  EXPECT_TRUE(alone.principal.unlimited_find);
  Decision with_user = decide(with_identity(r, 2, "alice", kPasscode));
  ASSERT_TRUE(with_user.accepted) << with_user.reason;
  EXPECT_FALSE(with_user.principal.unlimited_find);
}

// --- Certificate pins, transports -------------------------------------------

TEST_F(Association, PinnedPeerMustPresentItsCertificateEvenWithAValidUserIdentity) {
  AssociationRequest r;
  r.calling_ae = "WORKSTATION";
  r.called_ae = "TRESOR";
  r.source_ip = "10.0.1.7";
  r.client_cert_present = false;
  expect_refused(decide(with_identity(r, 2, "alice", kPasscode)), "certificate pin");
  expect_refused(decide(with_identity(r, 5, token("alice"))), "certificate pin");
}

TEST_F(Association, RefusesPasscodeUserIdentityOnThePlaintextListener) {
  AssociationRequest r;
  r.calling_ae = "LEGACY_US";
  r.called_ae = "TRESOR";
  r.source_ip = "192.168.1.20";
  r.transport = Transport::plaintext;
  Decision d = decide(with_identity(r, 2, "alice", kPasscode));
  expect_refused(d, "plaintext listener");
  EXPECT_EQ(d.reason.find(kPasscode), std::string::npos);
}

TEST_F(Association, LegacyTlsListenerServesOnlyPeersMarkedLegacyTls) {
  config_.dimse.legacy_tls_enabled = true;
  auto r = ct_request();
  r.transport = Transport::legacy_tls;
  expect_refused(decide(r), "legacy TLS transport not allowed");
  Peer ct = accounts_.peers.at("CT_SCANNER_1");
  ct.legacy_tls = true;
  accounts_.put_peer(ct);
  Decision d = decide(r);
  ASSERT_TRUE(d.accepted) << d.reason;
  // Still mutual TLS: the certificate must be bound to the peer.
  r.client_cert_cn = "OTHER";
  expect_refused(decide(r), "client certificate not bound");
  failures_.reset("10.0.0.5");
  config_.dimse.legacy_tls_enabled = false;
  r.client_cert_cn = "CT_SCANNER_1";
  expect_refused(decide(r), "legacy TLS listener is disabled");
}

TEST_F(Association, AUserWithoutScopeKeepsThePeersScope) {
  Peer ct = accounts_.peers.at("CT_SCANNER_1");
  ct.scope = scope_of_institution("North Hospital");
  accounts_.put_peer(ct);
  Decision d = decide(with_identity(ct_request(), 5, token("alice")));
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_EQ(d.principal.scope, scope_of_institution("North Hospital"));
  // Neither has a scope: every study.
  ct.scope.reset();
  accounts_.put_peer(ct);
  Decision all = decide(with_identity(ct_request(), 5, token("alice")));
  ASSERT_TRUE(all.accepted) << all.reason;
  EXPECT_FALSE(all.principal.scope.has_value());
}

// --- Peer registration rules shared by the CLI and the REST API ---------------

Peer registration(std::vector<std::string> hosts) {
  Peer p;
  p.ae_title = "CT1";
  p.hosts = std::move(hosts);
  p.operations = {Operation::echo, Operation::store};
  return p;
}

TEST(PeerValidation, RefusesPlaintextOrLegacyTlsForAPeerAtAPublicAddress) {
  Peer p = registration({"10.0.0.5", "203.0.113.7"});
  EXPECT_FALSE(validate_peer(p).has_value()) << "TLS peers may be anywhere";
  p.allow_plaintext = true;
  auto problem = validate_peer(p);
  ASSERT_TRUE(problem.has_value());
  EXPECT_NE(problem->find("203.0.113.7"), std::string::npos) << *problem;
  p.allow_plaintext = false;
  p.legacy_tls = true;
  ASSERT_TRUE(validate_peer(p).has_value());
  p.hosts = {"10.0.0.5", "127.0.0.1", "172.16.4.4", "192.168.0.9"};
  EXPECT_FALSE(validate_peer(p).has_value());
}

TEST(PeerValidation, RefusesMalformedRegistrations) {
  EXPECT_TRUE(validate_peer(registration({})).has_value());
  EXPECT_TRUE(validate_peer(registration({"10.0.0.300"})).has_value());
  EXPECT_TRUE(validate_peer(registration({"10.0.0.1", "10.0.0.1"})).has_value());
  EXPECT_TRUE(validate_peer(registration(std::vector<std::string>(17, "10.0.0.1"))).has_value());
  Peer p = registration({"10.0.0.1"});
  p.operations.insert(Operation::admin);
  EXPECT_TRUE(validate_peer(p).has_value());
  p = registration({"10.0.0.1"});
  p.operations.clear();
  EXPECT_TRUE(validate_peer(p).has_value());
  p = registration({"10.0.0.1"});
  p.cert_sha256 = std::string(64, 'A');  // upper case: the stored form is lower case
  EXPECT_TRUE(validate_peer(p).has_value());
  p.cert_sha256 = std::string(64, 'a');
  EXPECT_FALSE(validate_peer(p).has_value());
  p.ae_title = "BAD\\AE";
  EXPECT_TRUE(validate_peer(p).has_value());
}

TEST(ScopeIntersection, KeepsOnlyWhatBothAdmitAndNeverWidens) {
  Scope a;
  a.institutions = {"North", "South"};
  a.labels = {"trial-1"};
  Scope b;
  b.institutions = {"South", "East"};
  EXPECT_EQ(intersect_scopes(std::nullopt, std::nullopt), std::nullopt);
  EXPECT_EQ(intersect_scopes(a, std::nullopt), a);
  EXPECT_EQ(intersect_scopes(std::nullopt, b), b);
  Scope both;
  both.institutions = {"South"};
  EXPECT_EQ(intersect_scopes(a, b), both);
  EXPECT_EQ(intersect_scopes(b, a), both);
}

} // namespace
} // namespace tresor::security
