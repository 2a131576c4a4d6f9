// Admission of TCP connections before any TLS handshake or DICOM byte is
// read. Contract:
//  - a source the association policy currently blocks is not refused
//    outright (a registered peer behind the same address must still get in
//    with its certificate: policy.h), but what it costs is bounded: at most
//    kBlockedConcurrent negotiations at a time and `blocked_rate` handshakes
//    per second (token bucket, burst = blocked_rate). A connection beyond the
//    concurrency is closed at once; one within it waits for its token (at
//    most kBlockedConcurrent / blocked_rate s, on its negotiator thread);
//  - one source address may hold at most `per_source` negotiations at a time
//    (accept, TLS handshake, A-ASSOCIATE-RQ), so a single host cannot tie up
//    every negotiator with silent connections;
//  - memory: one bucket per blocked source with a negotiation in flight or a
//    bucket not yet refilled; at most kMaxBuckets (idle ones dropped first);
//  - admit() and done() run on the same negotiator thread: admit() is called
//    by DCMTK inside ASC_receiveAssociation() through GuardedLayer, done()
//    by the negotiator after that call returns.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/dcmlayer.h>
#include <dcmtk/dcmtls/tlslayer.h>

#include "security/policy.h"

namespace tresor::net::detail {

class Gate {
public:
  static constexpr std::size_t kBlockedConcurrent = 4;
  static constexpr std::size_t kMaxBuckets = 10000;

  Gate(const security::AssociationPolicy& policy, std::size_t per_source, int blocked_rate = 5)
      : policy_(policy), per_source_(per_source), blocked_rate_(std::max(blocked_rate, 1)) {}
  bool admit(DcmNativeSocketType fd);
  // The decision for a connection from `ip` (admit() without the socket;
  // sleeps for a blocked source's token). Tests call it directly.
  bool admit_source(const std::string& ip);
  void done();  // releases what this thread's last admit() took, if anything

private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point updated{};
  };
  const security::AssociationPolicy& policy_;
  std::size_t per_source_;
  int blocked_rate_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> in_flight_;
  std::unordered_map<std::string, Bucket> buckets_;  // blocked sources only
};

// A DCMTK transport layer that asks the Gate before creating a connection.
template <class Base>
class GuardedLayer final : public Base {
public:
  template <class... Args>
  explicit GuardedLayer(Gate& gate, Args&&... args) : Base(std::forward<Args>(args)...), gate_(gate) {}
  DcmTransportConnection* createConnection(DcmNativeSocketType fd, OFBool secure) override {
    if (!gate_.admit(fd)) return nullptr;  // DCMTK closes the socket
    return Base::createConnection(fd, secure);
  }

private:
  Gate& gate_;
};

} // namespace tresor::net::detail
