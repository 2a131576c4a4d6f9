// Admission of TCP connections before any TLS handshake or DICOM byte is
// read. Contract:
//  - a connection from a source the association policy currently blocks is
//    closed at once;
//  - one source address may hold at most `per_source` negotiations at a time
//    (accept, TLS handshake, A-ASSOCIATE-RQ), so a single host cannot tie up
//    every negotiator with silent connections;
//  - admit() and done() run on the same negotiator thread: admit() is called
//    by DCMTK inside ASC_receiveAssociation() through GuardedLayer, done()
//    by the negotiator after that call returns.
#pragma once
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
  Gate(const security::AssociationPolicy& policy, std::size_t per_source) : policy_(policy), per_source_(per_source) {}
  bool admit(DcmNativeSocketType fd);
  void done();  // releases what this thread's last admit() took, if anything

private:
  const security::AssociationPolicy& policy_;
  std::size_t per_source_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> in_flight_;
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
