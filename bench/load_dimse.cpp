// DIMSE load generator (issue 5): --assocs associations, each held open for
// --duration seconds and looping over a weighted random mix of C-FIND, C-STORE
// and C-GET, one request at a time. One thread per association (DcmSCU).
//
// Usage: bench_load_dimse --port P --aec C [--host H] [--aet A] [--tls KEY CERT CA]
//          --studies FILE --templates FILE [--assocs 64] [--duration 180]
//          [--mix find=2,store=1,get=1] [--run-id ID]
//   --studies   lines "StudyInstanceUID<TAB>PatientID<TAB>instances" of the seeded archive:
//               C-FIND asks for the PatientID's studies (>= 1 match expected), C-GET
//               retrieves the whole study (exactly `instances` sub-operations expected).
//   --templates one Part-10 file per line; association i stores copies of template
//               i % n with fresh UIDs (its own patient LOAD<run>-<i>, a new study every
//               20 instances), so stores never touch the queried studies.
// Errors: a failed call, a non-success final status, a C-FIND without a match, a
// C-GET with failed/missing sub-operations; after a network failure the association
// is re-established (counted in `reconnects`).
// Prints one line per operation: op count errors p50_ms p99_ms mean_ms max_ms,
// then `elapsed_s=`; the first few error texts go to stderr.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/scu.h>
#include <dcmtk/dcmtls/tlslayer.h>
#include <dcmtk/oflog/oflog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <latch>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Scu : DcmSCU {
  using DcmSCU::useSecureConnection;
};

struct Study {
  std::string uid, patient;
  int instances = 0;
};

enum Op { kFind, kStore, kGet, kAssociate, kOps };
const char* kOpName[kOps] = {"find", "store", "get", "associate"};

struct Options {
  std::string host = "127.0.0.1", aet = "BENCH", aec, key, cert, ca, run_id = "1";
  int port = 0, assocs = 64;
  double duration = 180;
  int weight[3] = {2, 1, 1};
  std::vector<Study> studies;
  std::vector<std::string> templates;
};

struct Samples {
  std::vector<double> ms[kOps];
  long errors[kOps] = {};
  long reconnects = 0;
};

std::mutex g_err_mutex;
std::atomic<int> g_err_printed{0};

void report_error(int thread, Op op, const std::string& what) {
  if (g_err_printed.fetch_add(1) >= 20) return;
  std::lock_guard lock(g_err_mutex);
  std::fprintf(stderr, "assoc %d %s: %s\n", thread, kOpName[op], what.c_str());
}

// Presentation context IDs follow the order of addPresentationContext (1, 3, 5, 7).
constexpr T_ASC_PresentationContextID kPcFind = 1, kPcGet = 3, kPcStore = 5;

class Worker {
 public:
  Worker(const Options& o, int index) : o_(o), index_(index), rng_(static_cast<unsigned>(index) * 7919u + 1) {}

  bool connect() {
    scu_ = std::make_unique<Scu>();
    tls_.reset();
    scu_->setAETitle(o_.aet.c_str());
    scu_->setPeerHostName(o_.host.c_str());
    scu_->setPeerPort(static_cast<Uint16>(o_.port));
    scu_->setPeerAETitle(o_.aec.c_str());
    scu_->setVerbosePCMode(OFFalse);
    scu_->setACSETimeout(60);
    scu_->setDIMSEBlockingMode(DIMSE_BLOCKING);
    scu_->setStorageMode(DCMSCU_STORAGE_IGNORE);   // C-GET sub-operations are received, then dropped
    OFList<OFString> ts;
    ts.push_back(UID_LittleEndianExplicitTransferSyntax);
    ts.push_back(UID_LittleEndianImplicitTransferSyntax);
    scu_->addPresentationContext(UID_FINDStudyRootQueryRetrieveInformationModel, ts);
    scu_->addPresentationContext(UID_GETStudyRootQueryRetrieveInformationModel, ts);
    scu_->addPresentationContext(UID_CTImageStorage, ts);                        // our C-STOREs
    scu_->addPresentationContext(UID_CTImageStorage, ts, ASC_SC_ROLE_SCP);       // C-GET sub-operations
    OFCondition c = scu_->initNetwork();
    if (c.good() && !o_.ca.empty()) {
      tls_ = std::make_unique<DcmTLSTransportLayer>(NET_REQUESTOR, nullptr, OFFalse);
      tls_->setTLSProfile(TSP_Profile_BCP195_ND);
      tls_->activateCipherSuites();
      tls_->setPrivateKeyFile(o_.key.c_str(), DCF_Filetype_PEM);
      tls_->setCertificateFile(o_.cert.c_str(), DCF_Filetype_PEM);
      tls_->addTrustedCertificateFile(o_.ca.c_str(), DCF_Filetype_PEM);
      tls_->setCertificateVerification(DCV_requireCertificate);
      c = scu_->useSecureConnection(tls_.get());
    }
    if (c.good()) c = scu_->negotiateAssociation();
    if (c.bad()) {
      report_error(index_, kAssociate, c.text());
      return false;
    }
    return true;
  }

  bool load_template() {
    const std::string& path = o_.templates[static_cast<size_t>(index_) % o_.templates.size()];
    if (file_.loadFile(path.c_str()).bad()) {
      report_error(index_, kStore, "cannot read template " + path);
      return false;
    }
    return true;
  }

  void run(std::chrono::steady_clock::time_point end, Samples& s) {
    std::discrete_distribution<int> pick({double(o_.weight[0]), double(o_.weight[1]), double(o_.weight[2])});
    std::uniform_int_distribution<size_t> study_pick(0, o_.studies.size() - 1);
    bool connected = scu_ && scu_->isConnected();
    while (std::chrono::steady_clock::now() < end) {
      if (!connected) {
        auto t0 = std::chrono::steady_clock::now();
        connected = connect();
        s.ms[kAssociate].push_back(ms_since(t0));
        ++s.reconnects;
        if (!connected) {
          ++s.errors[kAssociate];
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          continue;
        }
      }
      Op op = static_cast<Op>(pick(rng_));
      const Study& st = o_.studies[study_pick(rng_)];
      auto t0 = std::chrono::steady_clock::now();
      std::string err;
      bool net_ok = true;
      if (op == kFind) net_ok = find(st, err);
      else if (op == kStore) net_ok = store(err);
      else net_ok = get(st, err);
      s.ms[op].push_back(ms_since(t0));
      if (!err.empty()) {
        ++s.errors[op];
        report_error(index_, op, err);
      }
      if (!net_ok) {
        scu_->abortAssociation();
        connected = false;
      }
    }
    if (connected) scu_->releaseAssociation();
  }

 private:
  static double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  // Each returns false when the association is no longer usable; err is set on any failure.
  bool find(const Study& st, std::string& err) {
    DcmDataset q;
    q.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
    q.putAndInsertString(DCM_PatientID, st.patient.c_str());
    q.putAndInsertString(DCM_PatientName, "");
    q.putAndInsertString(DCM_StudyInstanceUID, "");
    q.putAndInsertString(DCM_StudyDate, "");
    q.putAndInsertString(DCM_StudyDescription, "");
    q.putAndInsertString(DCM_AccessionNumber, "");
    q.putAndInsertString(DCM_ModalitiesInStudy, "");
    q.putAndInsertString(DCM_NumberOfStudyRelatedInstances, "");
    OFList<QRResponse*> responses;
    OFCondition c = scu_->sendFINDRequest(kPcFind, &q, &responses);
    int matches = 0;
    Uint16 status = 0xFFFF;
    for (auto* r : responses) {
      if (r->m_dataset) ++matches;
      status = r->m_status;
      delete r;
    }
    if (c.bad()) { err = std::string("C-FIND: ") + c.text(); return false; }
    if (status != STATUS_Success) err = "C-FIND final status " + std::to_string(status);
    else if (matches < 1) err = "C-FIND: no match for a seeded patient";
    return true;
  }

  bool store(std::string& err) {
    DcmDataset* ds = file_.getDataset();
    const std::string base = "1.2.826.0.1.3680043.9.7777." + o_.run_id + "." + std::to_string(index_) + ".";
    const std::string study = base + std::to_string(stored_ / 20 + 1);
    ds->putAndInsertString(DCM_PatientID, ("LOAD" + o_.run_id + "-" + std::to_string(index_)).c_str());
    ds->putAndInsertString(DCM_StudyInstanceUID, study.c_str());
    ds->putAndInsertString(DCM_SeriesInstanceUID, (study + ".1").c_str());
    ds->putAndInsertString(DCM_SOPInstanceUID, (study + ".1." + std::to_string(stored_ % 20 + 1)).c_str());
    ++stored_;
    Uint16 status = 0xFFFF;
    OFCondition c = scu_->sendSTORERequest(kPcStore, "", ds, status);
    if (c.bad()) { err = std::string("C-STORE: ") + c.text(); return false; }
    if (status != STATUS_Success) err = "C-STORE status " + std::to_string(status);
    return true;
  }

  bool get(const Study& st, std::string& err) {
    DcmDataset q;
    q.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
    q.putAndInsertString(DCM_StudyInstanceUID, st.uid.c_str());
    OFList<RetrieveResponse*> responses;
    OFCondition c = scu_->sendCGETRequest(kPcGet, &q, &responses);
    Uint16 status = 0xFFFF;
    int completed = -1, failed = -1;
    for (auto* r : responses) {
      status = r->m_status;
      completed = r->m_numberOfCompletedSubops;
      failed = r->m_numberOfFailedSubops;
      delete r;
    }
    if (c.bad()) { err = std::string("C-GET: ") + c.text(); return false; }
    if (status != STATUS_Success) err = "C-GET final status " + std::to_string(status);
    else if (failed > 0 || completed != st.instances)
      err = "C-GET: " + std::to_string(completed) + " completed, " + std::to_string(failed) + " failed, expected " +
            std::to_string(st.instances);
    return true;
  }

  const Options& o_;
  int index_;
  std::mt19937 rng_;
  std::unique_ptr<DcmTLSTransportLayer> tls_;  // outlives scu_'s network (declared before it)
  std::unique_ptr<Scu> scu_;
  DcmFileFormat file_;
  long stored_ = 0;
};

bool parse_mix(const std::string& s, int (&w)[3]) {
  w[0] = w[1] = w[2] = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t comma = s.find(',', pos);
    std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t eq = item.find('=');
    if (eq == std::string::npos) return false;
    std::string name = item.substr(0, eq);
    int v = std::atoi(item.c_str() + eq + 1);
    if (name == "find") w[kFind] = v;
    else if (name == "store") w[kStore] = v;
    else if (name == "get") w[kGet] = v;
    else return false;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return w[0] + w[1] + w[2] > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string studies_file, templates_file;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--host") o.host = next();
    else if (a == "--port") o.port = std::atoi(next().c_str());
    else if (a == "--aet") o.aet = next();
    else if (a == "--aec") o.aec = next();
    else if (a == "--assocs") o.assocs = std::atoi(next().c_str());
    else if (a == "--duration") o.duration = std::atof(next().c_str());
    else if (a == "--run-id") o.run_id = next();
    else if (a == "--studies") studies_file = next();
    else if (a == "--templates") templates_file = next();
    else if (a == "--mix") { if (!parse_mix(next(), o.weight)) { std::fprintf(stderr, "bad --mix\n"); return 2; } }
    else if (a == "--tls") { o.key = next(); o.cert = next(); o.ca = next(); }
    else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
  }
  {
    std::ifstream in(studies_file);
    for (std::string l; std::getline(in, l);) {
      size_t t1 = l.find('\t'), t2 = l.find('\t', t1 == std::string::npos ? t1 : t1 + 1);
      if (t1 == std::string::npos || t2 == std::string::npos) continue;
      o.studies.push_back({l.substr(0, t1), l.substr(t1 + 1, t2 - t1 - 1), std::atoi(l.c_str() + t2 + 1)});
    }
    std::ifstream tin(templates_file);
    for (std::string l; std::getline(tin, l);) if (!l.empty()) o.templates.push_back(l);
  }
  if (o.port == 0 || o.aec.empty() || o.studies.empty() || o.templates.empty() || o.assocs < 1) {
    std::fprintf(stderr, "need --port, --aec, --studies and --templates\n");
    return 2;
  }
  for (const auto& t : o.templates) {
    DcmFileFormat f;
    if (f.loadFile(t.c_str()).bad()) { std::fprintf(stderr, "cannot read template %s\n", t.c_str()); return 2; }
  }
  setenv("TCP_NODELAY", "1", 1);   // DCMTK sets TCP_NODELAY on its sockets only when asked (Nagle + delayed ACK)
  OFLog::configure(OFLogger::FATAL_LOG_LEVEL);   // DcmSCU warns per ignored sub-operation
  DcmTLSTransportLayer::initializeOpenSSL();

  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<Samples> samples(static_cast<size_t>(o.assocs));
  for (int i = 0; i < o.assocs; ++i) workers.push_back(std::make_unique<Worker>(o, i));
  std::latch ready(o.assocs + 1);
  std::chrono::steady_clock::time_point end;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < o.assocs; ++i) {
    threads.emplace_back([&, i] {
      Worker& w = *workers[static_cast<size_t>(i)];
      Samples& s = samples[static_cast<size_t>(i)];
      bool tmpl = w.load_template();
      auto t0 = std::chrono::steady_clock::now();
      bool ok = w.connect();
      s.ms[kAssociate].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (!ok) ++s.errors[kAssociate];
      ready.count_down();
      while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (tmpl) w.run(end, s);
    });
  }
  ready.arrive_and_wait();
  auto start = std::chrono::steady_clock::now();
  end = start + std::chrono::milliseconds(static_cast<long>(o.duration * 1000));
  go.store(true);
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  long reconnects = 0;
  for (int op = 0; op < kOps; ++op) {
    std::vector<double> all;
    long errors = 0;
    for (auto& s : samples) {
      all.insert(all.end(), s.ms[op].begin(), s.ms[op].end());
      errors += s.errors[op];
    }
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
    double sum = 0;
    for (double v : all) sum += v;
    std::printf("op=%s count=%zu errors=%ld p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f max_ms=%.3f\n", kOpName[op], all.size(),
                errors, pct(0.50), pct(0.99), all.empty() ? 0.0 : sum / all.size(), all.empty() ? 0.0 : all.back());
  }
  for (auto& s : samples) reconnects += s.reconnects;
  std::printf("elapsed_s=%.3f reconnects=%ld\n", elapsed, reconnects);
  return 0;
}
