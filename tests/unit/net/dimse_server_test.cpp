// The DIMSE server end to end on loopback: real policy, services, SQLite
// index and file store; a DCMTK client written here plays the peer.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>

#include "dicom/inspect.h"
#include "net/dimse_server.h"

using namespace tresor;
namespace fs = std::filesystem;

namespace {

const fs::path kCtSmall = "/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm";
const char* kCtImageStorage = "1.2.840.10008.5.1.4.1.1.2";

std::uint16_t test_port() {
  static const std::uint16_t base = static_cast<std::uint16_t>(42000 + (::getpid() % 400) * 2);
  return base;
}

// A DICOM requestor: association, echo, store, find.
struct Client {
  T_ASC_Network* net = nullptr;
  T_ASC_Association* assoc = nullptr;
  bool rejected = false;
  T_ASC_RejectParameters rej{};

  ~Client() { close(); }
  void close() {
    if (assoc) {
      if (!rejected) ASC_releaseAssociation(assoc);
      ASC_destroyAssociation(&assoc);
    }
    if (net) ASC_dropNetwork(&net);
  }

  bool connect(std::uint16_t port, const char* calling, const char* called,
               std::vector<const char*> abstract_syntaxes = {UID_VerificationSOPClass},
               const char* host = "127.0.0.1", const char* scp_role_class = nullptr) {
    if (ASC_initializeNetwork(NET_REQUESTOR, 0, 5, &net).bad()) return false;
    T_ASC_Parameters* params = nullptr;
    ASC_createAssociationParameters(&params, 16384);
    ASC_setAPTitles(params, calling, called, nullptr);
    const std::string address = std::string(host) + ":" + std::to_string(port);
    ASC_setPresentationAddresses(params, "localhost", address.c_str());
    const char* ts[] = {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax};
    int id = 1;
    for (const char* as : abstract_syntaxes) {
      const bool scp = scp_role_class && std::string(as) == scp_role_class;
      ASC_addPresentationContext(params, static_cast<T_ASC_PresentationContextID>(id), as, ts, 2,
                                 scp ? ASC_SC_ROLE_SCUSCP : ASC_SC_ROLE_DEFAULT);
      id += 2;
    }
    OFCondition cond = ASC_requestAssociation(net, params, &assoc);
    if (cond == DUL_ASSOCIATIONREJECTED) {
      rejected = true;
      ASC_getRejectParameters(assoc->params, &rej);
      return false;
    }
    return cond.good();
  }

  std::uint16_t echo() {
    DIC_US status = 0xFFFF;
    DcmDataset* detail = nullptr;
    OFCondition cond = DIMSE_echoUser(assoc, assoc->nextMsgID++, DIMSE_BLOCKING, 0, &status, &detail);
    delete detail;
    return cond.good() ? status : 0xFFFF;
  }

  std::uint16_t store(const fs::path& file) {
    DcmFileFormat ff;
    if (ff.loadFile(file.c_str()).bad()) return 0xFFFF;
    OFString sop_class, sop_instance;
    ff.getDataset()->findAndGetOFString(DCM_SOPClassUID, sop_class);
    ff.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, sop_instance);
    T_ASC_PresentationContextID pc = ASC_findAcceptedPresentationContextID(assoc, sop_class.c_str());
    if (pc == 0) return 0xFFFE;
    T_DIMSE_C_StoreRQ rq{};
    rq.MessageID = assoc->nextMsgID++;
    OFStandard::strlcpy(rq.AffectedSOPClassUID, sop_class.c_str(), sizeof rq.AffectedSOPClassUID);
    OFStandard::strlcpy(rq.AffectedSOPInstanceUID, sop_instance.c_str(), sizeof rq.AffectedSOPInstanceUID);
    rq.DataSetType = DIMSE_DATASET_PRESENT;
    rq.Priority = DIMSE_PRIORITY_MEDIUM;
    T_DIMSE_C_StoreRSP rsp{};
    DcmDataset* detail = nullptr;
    OFCondition cond = DIMSE_storeUser(assoc, pc, &rq, nullptr, ff.getDataset(), nullptr, nullptr, DIMSE_BLOCKING,
                                       0, &rsp, &detail);
    delete detail;
    return cond.good() ? rsp.DimseStatus : 0xFFFF;
  }

  // Study-level C-FIND on the study root; returns the number of matches or -1.
  int find_studies() {
    T_ASC_PresentationContextID pc =
        ASC_findAcceptedPresentationContextID(assoc, UID_FINDStudyRootQueryRetrieveInformationModel);
    if (pc == 0) return -1;
    DcmDataset keys;
    keys.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
    keys.putAndInsertString(DCM_StudyInstanceUID, "");
    T_DIMSE_C_FindRQ rq{};
    rq.MessageID = assoc->nextMsgID++;
    OFStandard::strlcpy(rq.AffectedSOPClassUID, UID_FINDStudyRootQueryRetrieveInformationModel,
                        sizeof rq.AffectedSOPClassUID);
    rq.DataSetType = DIMSE_DATASET_PRESENT;
    rq.Priority = DIMSE_PRIORITY_MEDIUM;
    int responses = 0;
    int pending = 0;
    T_DIMSE_C_FindRSP rsp{};
    DcmDataset* detail = nullptr;
    auto count = [](void* data, T_DIMSE_C_FindRQ*, int, T_DIMSE_C_FindRSP*, DcmDataset*) {
      ++*static_cast<int*>(data);
    };
    OFCondition cond = DIMSE_findUser(assoc, pc, &rq, &keys, responses, count, &pending, DIMSE_BLOCKING, 0, &rsp,
                                      &detail);
    delete detail;
    if (cond.bad() || rsp.DimseStatus != 0) return -1;
    return pending;
  }
};

// C-GET of one study on the study root, storing nothing: returns the final
// status and counts the C-STORE sub-operations received.
struct GetResult {
  std::uint16_t status = 0xFFFF;
  int received = 0;
  int completed = -1;
};
GetResult get_study(Client& c, const std::string& study_uid) {
  GetResult out;
  T_ASC_Association* a = c.assoc;
  T_ASC_PresentationContextID pc =
      ASC_findAcceptedPresentationContextID(a, UID_GETStudyRootQueryRetrieveInformationModel);
  if (pc == 0) return out;
  DcmDataset keys;
  keys.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  keys.putAndInsertString(DCM_StudyInstanceUID, study_uid.c_str());
  T_DIMSE_Message m{};
  m.CommandField = DIMSE_C_GET_RQ;
  m.msg.CGetRQ.MessageID = a->nextMsgID++;
  OFStandard::strlcpy(m.msg.CGetRQ.AffectedSOPClassUID, UID_GETStudyRootQueryRetrieveInformationModel,
                      sizeof m.msg.CGetRQ.AffectedSOPClassUID);
  m.msg.CGetRQ.DataSetType = DIMSE_DATASET_PRESENT;
  m.msg.CGetRQ.Priority = DIMSE_PRIORITY_MEDIUM;
  if (DIMSE_sendMessageUsingMemoryData(a, pc, &m, nullptr, &keys, nullptr, nullptr).bad()) return out;
  for (;;) {
    T_DIMSE_Message r{};
    T_ASC_PresentationContextID rpc = 0;
    DcmDataset* detail = nullptr;
    if (DIMSE_receiveCommand(a, DIMSE_BLOCKING, 0, &rpc, &r, &detail).bad()) return out;
    delete detail;
    if (r.CommandField == DIMSE_C_STORE_RQ) {
      DcmDataset* ds = nullptr;
      T_ASC_PresentationContextID dpc = 0;
      if (DIMSE_receiveDataSetInMemory(a, DIMSE_BLOCKING, 0, &dpc, &ds, nullptr, nullptr).bad()) return out;
      delete ds;
      ++out.received;
      T_DIMSE_C_StoreRSP rsp{};
      rsp.MessageIDBeingRespondedTo = r.msg.CStoreRQ.MessageID;
      rsp.DimseStatus = 0;
      rsp.DataSetType = DIMSE_DATASET_NULL;
      OFStandard::strlcpy(rsp.AffectedSOPClassUID, r.msg.CStoreRQ.AffectedSOPClassUID, sizeof rsp.AffectedSOPClassUID);
      OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, r.msg.CStoreRQ.AffectedSOPInstanceUID,
                          sizeof rsp.AffectedSOPInstanceUID);
      rsp.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
      if (DIMSE_sendStoreResponse(a, rpc, &r.msg.CStoreRQ, &rsp, nullptr).bad()) return out;
    } else if (r.CommandField == DIMSE_C_GET_RSP) {
      if (r.msg.CGetRSP.DataSetType != DIMSE_DATASET_NULL) {
        DcmDataset* ds = nullptr;
        T_ASC_PresentationContextID dpc = 0;
        DIMSE_receiveDataSetInMemory(a, DIMSE_BLOCKING, 0, &dpc, &ds, nullptr, nullptr);
        delete ds;
      }
      if (r.msg.CGetRSP.DimseStatus == 0xFF00) continue;
      out.status = r.msg.CGetRSP.DimseStatus;
      out.completed = r.msg.CGetRSP.NumberOfCompletedSubOperations;
      return out;
    } else {
      return out;
    }
  }
}

// A TCP connection that never speaks.
struct SilentClient {
  int fd = -1;
  explicit SilentClient(std::uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ~SilentClient() {
    if (fd >= 0) ::close(fd);
  }
};

struct DimseServer : ::testing::Test {
  fs::path dir;
  config::Config config;
  std::unique_ptr<store::BlobStore> store;
  std::unique_ptr<index::SqliteIndex> index;
  audit::MemorySink audit;
  SystemClock clock;
  std::unique_ptr<security::FailureTracker> failures;
  std::unique_ptr<security::AssociationPolicy> policy;
  std::unique_ptr<services::IngestService> ingest;
  std::unique_ptr<services::QueryService> query;
  std::unique_ptr<services::RetrieveService> retrieve;
  std::unique_ptr<services::CommitmentService> commitment;
  std::unique_ptr<net::DimseServer> server;

  static void SetUpTestSuite() {
    dicom::init_globals();
    config::Config c;
    c.dimse.acse_timeout_s = 2;
    c.dimse.dimse_timeout_s = 5;
    net::init_network_globals(c);
  }

  void SetUp() override {
    dir = fs::temp_directory_path() / ("tresor-net-" + std::to_string(::getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
    store = std::move(*store::open_fs_store(dir / "store"));
    index = std::move(*index::open_sqlite(dir / "index.db"));
    config.var_dir = dir;
    config.dimse.ae_title = "TRESOR_TEST";
    config.dimse.tls_port = 0;
    config.dimse.plaintext_enabled = true;
    config.dimse.plaintext_bind = "127.0.0.1";
    config.dimse.plaintext_port = test_port();
    config.dimse.workers = 2;
    config.dimse.max_pending = 1;
    config.dimse.acse_timeout_s = 2;
    config.dimse.dimse_timeout_s = 5;
    config.dimse.idle_timeout_s = 5;

    Peer modality;
    modality.ae_title = "MODALITY";
    modality.hosts = {"127.0.0.1"};
    modality.operations = {Operation::echo, Operation::store, Operation::find,
                           Operation::get,  Operation::move,  Operation::commit};
    modality.allow_plaintext = true;
    ASSERT_TRUE(index->put_peer(modality));
    Peer store_only = modality;
    store_only.ae_title = "STOREONLY";
    store_only.operations = {Operation::store};
    ASSERT_TRUE(index->put_peer(store_only));
  }

  void start() {
    failures = std::make_unique<security::FailureTracker>(1000, std::chrono::seconds(60), std::chrono::seconds(60));
    policy = std::make_unique<security::AssociationPolicy>(config, *index, nullptr, *failures, clock);
    ingest = std::make_unique<services::IngestService>(
        *store, *index, audit, dicom::Limits{config.dimse.max_object_bytes, config.dimse.max_sequence_depth});
    query = std::make_unique<services::QueryService>(*index, audit, config.dimse.find_cap);
    retrieve = std::make_unique<services::RetrieveService>(*index, *store, audit);
    commitment = std::make_unique<services::CommitmentService>(*index, audit);
    net::DimseDeps deps{*ingest, *query, *retrieve, *commitment, *policy, *index, audit};
    server = net::make_dimse_server(config, deps);
    auto started = server->start();
    ASSERT_TRUE(started) << started.error().message;
  }

  void TearDown() override {
    if (server) server->stop();
    server.reset();
    fs::remove_all(dir);
  }

  // Waits up to 2 s: the server may audit just after the client saw the answer.
  bool audited(audit::Type type, audit::Outcome outcome, const std::string& reason_part) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    do {
      for (const auto& e : audit.events()) {
        if (e.type == type && e.outcome == outcome && e.reason.find(reason_part) != std::string::npos) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
  }
  std::size_t count(audit::Type type, audit::Outcome outcome) const {
    std::size_t n = 0;
    for (const auto& e : audit.events()) n += (e.type == type && e.outcome == outcome) ? 1 : 0;
    return n;
  }
};

} // namespace

TEST_F(DimseServer, AnswersEchoFromARegisteredPeer) {
  start();
  Client c;
  ASSERT_TRUE(c.connect(test_port(), "MODALITY", "TRESOR_TEST"));
  EXPECT_EQ(c.echo(), 0x0000);
  EXPECT_TRUE(audited(audit::Type::association, audit::Outcome::success, ""));
}

TEST_F(DimseServer, RefusesEveryBadRequestWithTheSamePermanentRejectionAndAuditsTheRealReason) {
  start();
  Client unknown, wrong_called;
  EXPECT_FALSE(unknown.connect(test_port(), "INTRUDER", "TRESOR_TEST"));
  EXPECT_FALSE(wrong_called.connect(test_port(), "MODALITY", "SOMEONE_ELSE"));
  for (const Client* c : {&unknown, &wrong_called}) {
    ASSERT_TRUE(c->rejected);
    EXPECT_EQ(c->rej.result, ASC_RESULT_REJECTEDPERMANENT);
    EXPECT_EQ(c->rej.source, ASC_SOURCE_SERVICEUSER);
    EXPECT_EQ(c->rej.reason, ASC_REASON_SU_NOREASON);
  }
  EXPECT_TRUE(audited(audit::Type::association, audit::Outcome::denied, "INTRUDER"));
  EXPECT_TRUE(audited(audit::Type::association, audit::Outcome::denied, "called AE"));
}

TEST_F(DimseServer, ListensOnlyOnTheConfiguredAddress) {
  start();
  Client elsewhere;
  // 127.0.0.2 is loopback too, but not the address we bound.
  EXPECT_FALSE(elsewhere.connect(test_port(), "MODALITY", "TRESOR_TEST", {UID_VerificationSOPClass}, "127.0.0.2"));
  EXPECT_FALSE(elsewhere.rejected);
  Client here;
  EXPECT_TRUE(here.connect(test_port(), "MODALITY", "TRESOR_TEST"));
}

TEST_F(DimseServer, RefusesAnOperationThePeerIsNotAllowed) {
  start();
  Client c;
  ASSERT_TRUE(c.connect(test_port(), "STOREONLY", "TRESOR_TEST"));
  EXPECT_EQ(c.echo(), 0x0122);
  EXPECT_TRUE(audited(audit::Type::association, audit::Outcome::denied, "operation not permitted: echo"));
}

TEST_F(DimseServer, StoresAnInstanceAndFindsItsStudy) {
  start();
  Client c;
  ASSERT_TRUE(c.connect(test_port(), "MODALITY", "TRESOR_TEST",
                        {kCtImageStorage, UID_FINDStudyRootQueryRetrieveInformationModel}));
  EXPECT_EQ(c.store(kCtSmall), 0x0000);
  EXPECT_EQ(c.find_studies(), 1);
  EXPECT_TRUE(audited(audit::Type::store, audit::Outcome::success, ""));
}

TEST_F(DimseServer, AbortsAStoreLargerThanTheLimitAndKeepsNothing) {
  config.dimse.max_object_bytes = 4096;  // CT_small's data set is about 39 KB
  start();
  Client c;
  ASSERT_TRUE(c.connect(test_port(), "MODALITY", "TRESOR_TEST", {kCtImageStorage}));
  EXPECT_NE(c.store(kCtSmall), 0x0000);
  EXPECT_TRUE(audited(audit::Type::store, audit::Outcome::failure, "max_object_bytes"));
  EXPECT_TRUE(store->list_keys()->empty());
  std::size_t temps = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir / "store" / "tmp")) ++temps;
  EXPECT_EQ(temps, 0u);
}

TEST_F(DimseServer, ASilentClientDoesNotDelayOthers) {
  start();
  SilentClient silent(test_port());
  ASSERT_GE(silent.fd, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto t0 = std::chrono::steady_clock::now();
  Client c;
  ASSERT_TRUE(c.connect(test_port(), "MODALITY", "TRESOR_TEST"));
  EXPECT_EQ(c.echo(), 0x0000);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500));
}

TEST_F(DimseServer, ASilentClientNeverOccupiesAWorker) {
  config.dimse.workers = 1;
  config.dimse.max_pending = 0;
  start();
  SilentClient silent(test_port());  // holds a negotiator until the ACSE timeout, not the worker
  ASSERT_GE(silent.fd, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Client c;
  ASSERT_TRUE(c.connect(test_port(), "MODALITY", "TRESOR_TEST"));
  EXPECT_EQ(c.echo(), 0x0000);
}

TEST_F(DimseServer, AnswersTransientRejectionBeyondThePoolAndPendingQueue) {
  config.dimse.workers = 1;
  config.dimse.max_pending = 0;
  start();
  Client busy;  // an open association occupies the only worker
  ASSERT_TRUE(busy.connect(test_port(), "MODALITY", "TRESOR_TEST"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Client c;
  EXPECT_FALSE(c.connect(test_port(), "MODALITY", "TRESOR_TEST"));
  ASSERT_TRUE(c.rejected);
  EXPECT_EQ(c.rej.result, ASC_RESULT_REJECTEDTRANSIENT);
  EXPECT_EQ(c.rej.reason, ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED);
  EXPECT_TRUE(audited(audit::Type::association, audit::Outcome::failure, "busy"));
}

TEST_F(DimseServer, StopsPromptlyWithAnIdleAssociationOpen) {
  start();
  Client c;
  ASSERT_TRUE(c.connect(test_port(), "MODALITY", "TRESOR_TEST"));
  const auto t0 = std::chrono::steady_clock::now();
  server->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  c.rejected = true;  // the association was aborted: do not try to release it
}

TEST_F(DimseServer, AConnectionClosedBeforeAnyRequestIsNeitherAnsweredNorAudited) {
  start();
  {
    SilentClient quitter(test_port());
    ASSERT_GE(quitter.fd, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(count(audit::Type::association, audit::Outcome::denied), 0u);
  Client c;
  ASSERT_TRUE(c.connect(test_port(), "MODALITY", "TRESOR_TEST"));
  EXPECT_EQ(c.echo(), 0x0000);
}

TEST_F(DimseServer, SendsAStudyBackOnTheSameAssociationForCGet) {
  start();
  Client c;
  ASSERT_TRUE(c.connect(test_port(), "MODALITY", "TRESOR_TEST",
                        {kCtImageStorage, UID_GETStudyRootQueryRetrieveInformationModel}, "127.0.0.1",
                        kCtImageStorage));
  ASSERT_EQ(c.store(kCtSmall), 0x0000);
  const GetResult r = get_study(c, "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322");
  EXPECT_EQ(r.status, 0x0000);
  EXPECT_EQ(r.received, 1);
  EXPECT_EQ(r.completed, 1);
}

TEST_F(DimseServer, CGetWithoutTheScpRoleFailsEverySubOperation) {
  start();
  Client c;
  ASSERT_TRUE(c.connect(test_port(), "MODALITY", "TRESOR_TEST",
                        {kCtImageStorage, UID_GETStudyRootQueryRetrieveInformationModel}));
  ASSERT_EQ(c.store(kCtSmall), 0x0000);
  const GetResult r = get_study(c, "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322");
  EXPECT_EQ(r.status, 0xA702);
  EXPECT_EQ(r.received, 0);
}

TEST_F(DimseServer, RefusesACMoveToAnUnregisteredDestinationWithoutConnecting) {
  start();
  Client c;
  ASSERT_TRUE(c.connect(test_port(), "MODALITY", "TRESOR_TEST", {UID_MOVEStudyRootQueryRetrieveInformationModel}));
  T_ASC_PresentationContextID pc =
      ASC_findAcceptedPresentationContextID(c.assoc, UID_MOVEStudyRootQueryRetrieveInformationModel);
  ASSERT_NE(pc, 0);
  DcmDataset keys;
  keys.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  keys.putAndInsertString(DCM_StudyInstanceUID, "1.2.3");
  T_DIMSE_C_MoveRQ rq{};
  rq.MessageID = c.assoc->nextMsgID++;
  OFStandard::strlcpy(rq.AffectedSOPClassUID, UID_MOVEStudyRootQueryRetrieveInformationModel,
                      sizeof rq.AffectedSOPClassUID);
  OFStandard::strlcpy(rq.MoveDestination, "ELSEWHERE", sizeof rq.MoveDestination);
  rq.DataSetType = DIMSE_DATASET_PRESENT;
  rq.Priority = DIMSE_PRIORITY_MEDIUM;
  T_DIMSE_C_MoveRSP rsp{};
  DcmDataset* detail = nullptr;
  DcmDataset* ids = nullptr;
  ASSERT_TRUE(DIMSE_moveUser(c.assoc, pc, &rq, &keys, nullptr, nullptr, DIMSE_BLOCKING, 0, nullptr, nullptr, nullptr,
                             &rsp, &detail, &ids)
                  .good());
  delete detail;
  delete ids;
  EXPECT_EQ(rsp.DimseStatus, 0xA801);
  EXPECT_TRUE(audited(audit::Type::move, audit::Outcome::failure, "ELSEWHERE"));
}

TEST_F(DimseServer, AnswersStorageCommitmentWithAnEventReportOnTheSameAssociation) {
  start();
  Client c;
  ASSERT_TRUE(c.connect(test_port(), "MODALITY", "TRESOR_TEST", {kCtImageStorage, UID_StorageCommitmentPushModelSOPClass}));
  ASSERT_EQ(c.store(kCtSmall), 0x0000);
  T_ASC_PresentationContextID pc = ASC_findAcceptedPresentationContextID(c.assoc, UID_StorageCommitmentPushModelSOPClass);
  ASSERT_NE(pc, 0);
  DcmDataset request;
  request.putAndInsertString(DCM_TransactionUID, "1.2.3.4.5");
  const char* refs[][2] = {{kCtImageStorage, "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"},
                           {kCtImageStorage, "1.2.3.999"}};
  for (auto& ref : refs) {
    DcmItem* item = nullptr;
    request.findOrCreateSequenceItem(DCM_ReferencedSOPSequence, item, -2);
    item->putAndInsertString(DCM_ReferencedSOPClassUID, ref[0]);
    item->putAndInsertString(DCM_ReferencedSOPInstanceUID, ref[1]);
  }
  T_DIMSE_Message m{};
  m.CommandField = DIMSE_N_ACTION_RQ;
  m.msg.NActionRQ.MessageID = c.assoc->nextMsgID++;
  OFStandard::strlcpy(m.msg.NActionRQ.RequestedSOPClassUID, UID_StorageCommitmentPushModelSOPClass, 65);
  OFStandard::strlcpy(m.msg.NActionRQ.RequestedSOPInstanceUID, UID_StorageCommitmentPushModelSOPInstance, 65);
  m.msg.NActionRQ.ActionTypeID = 1;
  m.msg.NActionRQ.DataSetType = DIMSE_DATASET_PRESENT;
  ASSERT_TRUE(DIMSE_sendMessageUsingMemoryData(c.assoc, pc, &m, nullptr, &request, nullptr, nullptr).good());

  T_DIMSE_Message r{};
  T_ASC_PresentationContextID rpc = 0;
  ASSERT_TRUE(DIMSE_receiveCommand(c.assoc, DIMSE_BLOCKING, 0, &rpc, &r, nullptr).good());
  ASSERT_EQ(r.CommandField, DIMSE_N_ACTION_RSP);
  EXPECT_EQ(r.msg.NActionRSP.DimseStatus, 0x0000);

  T_DIMSE_Message ev{};
  ASSERT_TRUE(DIMSE_receiveCommand(c.assoc, DIMSE_BLOCKING, 0, &rpc, &ev, nullptr).good());
  ASSERT_EQ(ev.CommandField, DIMSE_N_EVENT_REPORT_RQ);
  EXPECT_EQ(ev.msg.NEventReportRQ.EventTypeID, 2);  // some failures
  DcmDataset* report = nullptr;
  ASSERT_TRUE(DIMSE_receiveDataSetInMemory(c.assoc, DIMSE_BLOCKING, 0, &rpc, &report, nullptr, nullptr).good());
  std::unique_ptr<DcmDataset> owned(report);
  OFString transaction;
  report->findAndGetOFString(DCM_TransactionUID, transaction);
  EXPECT_EQ(std::string(transaction.c_str()), "1.2.3.4.5");
  DcmSequenceOfItems* ok = nullptr;
  DcmSequenceOfItems* failed = nullptr;
  ASSERT_TRUE(report->findAndGetSequence(DCM_ReferencedSOPSequence, ok).good());
  ASSERT_TRUE(report->findAndGetSequence(DCM_FailedSOPSequence, failed).good());
  EXPECT_EQ(ok->card(), 1u);
  EXPECT_EQ(failed->card(), 1u);

  T_DIMSE_Message rsp{};
  rsp.CommandField = DIMSE_N_EVENT_REPORT_RSP;
  rsp.msg.NEventReportRSP.MessageIDBeingRespondedTo = ev.msg.NEventReportRQ.MessageID;
  rsp.msg.NEventReportRSP.DimseStatus = 0;
  rsp.msg.NEventReportRSP.DataSetType = DIMSE_DATASET_NULL;
  ASSERT_TRUE(DIMSE_sendMessageUsingMemoryData(c.assoc, rpc, &rsp, nullptr, nullptr, nullptr, nullptr).good());
  // The server consumed our N-EVENT-REPORT-RSP and goes on serving.
  EXPECT_EQ(c.store(kCtSmall), 0x0000);
}

TEST_F(DimseServer, ASourceCannotHoldMoreThanItsShareOfNegotiators) {
  config.dimse.negotiators = 2;  // one negotiation at a time per source address
  start();
  SilentClient first(test_port());
  ASSERT_GE(first.fd, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  SilentClient second(test_port());
  ASSERT_GE(second.fd, 0);
  timeval tv{2, 0};
  ::setsockopt(second.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char byte = 0;
  EXPECT_EQ(::recv(second.fd, &byte, 1, 0), 0) << "the second silent connection should be closed at once";
}
