// Times C-FIND requests over ONE open association (starting findscu per query
// costs 50-180 ms here, which would swamp the server's time).
// Usage: bench_find_latency --host H --port P --aet A --aec C --ids FILE [--n N]
//          [--tls KEY CERT CA] [--level STUDY]
// FILE holds one PatientID per line; queries cycle through it.
// Prints: queries, p50 ms, p95 ms, p99 ms, mean ms, mean matches.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmnet/scu.h>
#include <dcmtk/dcmtls/tlslayer.h>
#include <dcmtk/oflog/oflog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

// DcmSCU keeps useSecureConnection() protected in 3.6.7.
struct Scu : DcmSCU {
  using DcmSCU::useSecureConnection;
};

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", aet = "BENCH", aec, ids_file, key, cert, ca, level = "STUDY";
  int port = 0, n = 500;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--host") host = next();
    else if (a == "--port") port = std::atoi(next().c_str());
    else if (a == "--aet") aet = next();
    else if (a == "--aec") aec = next();
    else if (a == "--ids") ids_file = next();
    else if (a == "--n") n = std::atoi(next().c_str());
    else if (a == "--level") level = next();
    else if (a == "--tls") { key = next(); cert = next(); ca = next(); }
    else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
  }
  std::vector<std::string> ids;
  std::ifstream in(ids_file);
  for (std::string l; std::getline(in, l);) if (!l.empty()) ids.push_back(l);
  if (ids.empty() || port == 0 || aec.empty()) { std::fprintf(stderr, "need --port, --aec and --ids\n"); return 2; }

  setenv("TCP_NODELAY", "1", 1);
  OFLog::configure(OFLogger::WARN_LOG_LEVEL);
  Scu scu;
  scu.setAETitle(aet.c_str());
  scu.setPeerHostName(host.c_str());
  scu.setPeerPort(static_cast<Uint16>(port));
  scu.setPeerAETitle(aec.c_str());
  scu.setVerbosePCMode(OFFalse);
  OFList<OFString> ts;
  ts.push_back(UID_LittleEndianExplicitTransferSyntax);
  scu.addPresentationContext(UID_FINDStudyRootQueryRetrieveInformationModel, ts);
  DcmTLSTransportLayer::initializeOpenSSL();
  DcmTLSTransportLayer tls(NET_REQUESTOR, nullptr, OFFalse);
  if (!ca.empty()) {
    tls.setTLSProfile(TSP_Profile_BCP195_ND);
    tls.activateCipherSuites();
    if (!key.empty() && key != "-") {
      tls.setPrivateKeyFile(key.c_str(), DCF_Filetype_PEM);
      tls.setCertificateFile(cert.c_str(), DCF_Filetype_PEM);
    }
    tls.addTrustedCertificateFile(ca.c_str(), DCF_Filetype_PEM);
    tls.setCertificateVerification(DCV_requireCertificate);
  }
  OFCondition init = scu.initNetwork();
  // DcmSCU installs the transport layer into the network made by initNetwork().
  if (init.good() && !ca.empty()) init = scu.useSecureConnection(&tls);
  OFCondition neg = init.good() ? scu.negotiateAssociation() : init;
  if (neg.bad()) {
    std::fprintf(stderr, "association failed: %s\n", neg.text());
    return 1;
  }
  T_ASC_PresentationContextID pc = scu.findPresentationContextID(UID_FINDStudyRootQueryRetrieveInformationModel, "");
  std::vector<double> ms;
  double matches = 0;
  for (int i = 0; i < n; ++i) {
    DcmDataset q;
    q.putAndInsertString(DCM_QueryRetrieveLevel, level.c_str());
    q.putAndInsertString(DCM_PatientID, ids[static_cast<size_t>(i) % ids.size()].c_str());
    q.putAndInsertString(DCM_PatientName, "");
    q.putAndInsertString(DCM_StudyInstanceUID, "");
    q.putAndInsertString(DCM_StudyDate, "");
    q.putAndInsertString(DCM_StudyDescription, "");
    q.putAndInsertString(DCM_AccessionNumber, "");
    q.putAndInsertString(DCM_ModalitiesInStudy, "");
    q.putAndInsertString(DCM_NumberOfStudyRelatedInstances, "");
    OFList<QRResponse*> responses;
    auto t0 = std::chrono::steady_clock::now();
    OFCondition c = scu.sendFINDRequest(pc, &q, &responses);
    auto t1 = std::chrono::steady_clock::now();
    if (c.bad()) { std::fprintf(stderr, "C-FIND failed: %s\n", c.text()); return 1; }
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    for (auto* r : responses) {
      if (r->m_dataset) matches += 1;
      delete r;
    }
  }
  scu.releaseAssociation();
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };
  double sum = 0;
  for (double v : ms) sum += v;
  std::printf("queries=%zu p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f mean_ms=%.3f mean_matches=%.2f\n", ms.size(),
              pct(0.50), pct(0.95), pct(0.99), sum / ms.size(), matches / ms.size());
  return 0;
}
