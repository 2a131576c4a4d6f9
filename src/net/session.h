// Private to net/: the state of one accepted association and the DIMSE
// handlers that serve it. Contract:
//  - a Session lives on one worker thread from A-ASSOCIATE-AC to release;
//  - every handler first checks the principal's permission for its operation
//    (denied: failure status 0x0124 and an audit event), then translates the
//    request into one services/ call and the result back into responses;
//  - a handler returns Next::abort when the association can no longer be
//    used (network error, size limit exceeded); the caller aborts it.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>

#include "net/dimse_server.h"
#include "net/negotiation.h"

class DcmTLSTransportLayer;

namespace tresor::net::detail {

// Limits on what a peer may make us hold in memory.
inline constexpr std::uint64_t kMaxIdentifierBytes = 1u << 20;     // C-FIND/GET/MOVE identifier
inline constexpr std::uint64_t kMaxCommitmentBytes = 16u << 20;    // N-ACTION storage commitment request
inline constexpr std::size_t kMaxCommitmentItems = 100000;
inline constexpr std::uint64_t kMaxConvertBytes = 1ull << 30;      // transcoding a sub-operation in memory

// Shared by all workers; read-only while the server runs except `stopping`.
struct ServerContext {
  ServerContext(const config::Config& c, DimseDeps d) : config(c), deps(d) {}
  config::Config config;
  DimseDeps deps;
  DcmTLSTransportLayer* client_tls = nullptr;  // outbound C-MOVE over TLS (null: unavailable)
  std::atomic<bool> stopping{false};

  long max_pdu() const;   // config.dimse.max_pdu clamped to what DCMTK supports
  int acse_timeout() const { return config.dimse.acse_timeout_s; }
  int dimse_timeout() const { return config.dimse.dimse_timeout_s; }
  const std::string& ae_title() const { return config.dimse.ae_title; }
};

struct AcceptedContext {
  T_ASC_PresentationContextID id = 0;
  std::string abstract_syntax;
  std::string transfer_syntax;
  ContextKind kind = ContextKind::unsupported;
  T_ASC_SC_ROLE role = ASC_SC_ROLE_DEFAULT;   // as accepted; SCP/SCUSCP: the peer may receive C-STORE
};

enum class Next { keep, abort };

struct Session {
  ServerContext& server;
  T_ASC_Association* assoc = nullptr;
  Principal principal;
  std::string calling_ae;
  std::string source_ip;
  security::Transport transport = security::Transport::tls;
  std::vector<AcceptedContext> contexts;

  const AcceptedContext* context(T_ASC_PresentationContextID id) const;
  // The association's socket (-1 if unknown); shut down to cut a transfer.
  int socket() const;
  // Audit a refused operation (reason "operation not permitted: <op>").
  void audit_denied(Operation op, std::string reason) const;
  audit::Event event(audit::Type type, audit::Outcome outcome) const;
};

// Receives the data set that follows a command into memory. More than
// `max_bytes` shuts the connection down and fails (the association is lost).
// The data set must arrive on `expected` (the command's context).
OFCondition receive_dataset(Session& s, T_ASC_PresentationContextID expected, std::unique_ptr<DcmDataset>& out,
                            std::uint64_t max_bytes);

// Receives the data set that follows a command into `file` (Part-10, meta
// header written by DCMTK; "/dev/null" discards), at most `max_bytes`.
// Streams a C-STORE data set into `file` (meta header + data set, never
// held in memory). `too_large`: the data set passed max_bytes and the
// connection was cut. `write_error`: an errno when writing the file failed
// (disk full, EIO); the data set was still read to its end, so the caller can
// answer with a failure status and keep the association.
OFCondition receive_dataset_to_file(Session& s, T_ASC_PresentationContextID command_context,
                                    const T_DIMSE_C_StoreRQ& request, const char* file, std::uint64_t max_bytes,
                                    bool& too_large, int& write_error);

// A status detail data set carrying ErrorComment (0000,0902).
std::unique_ptr<DcmDataset> status_detail(std::string_view message);

// Handlers (one TU each group). `pc` is the context the command came on.
Next handle_echo(Session& s, T_ASC_PresentationContextID pc, const T_DIMSE_C_EchoRQ& rq);
Next handle_store(Session& s, T_ASC_PresentationContextID pc, T_DIMSE_C_StoreRQ& rq);
Next handle_find(Session& s, T_ASC_PresentationContextID pc, T_DIMSE_C_FindRQ& rq);
Next handle_get(Session& s, T_ASC_PresentationContextID pc, T_DIMSE_C_GetRQ& rq);
Next handle_move(Session& s, T_ASC_PresentationContextID pc, T_DIMSE_C_MoveRQ& rq);
Next handle_commitment(Session& s, T_ASC_PresentationContextID pc, T_DIMSE_N_ActionRQ& rq);

// Sends one stored instance, read from `object` (its plaintext:
// RetrieveService::open), as a C-STORE request on `assoc` over `offer`. The
// data set is read through dicom/source_stream.h with values above 4 KiB
// left in the source: DCMTK streams them from it while it writes the
// message (DcmWriteCache), so pixel data is not loaded whole; converting the
// transfer syntax (when the offer's differs from the stored one) happens in
// memory, for objects of at most kMaxConvertBytes. Returns the peer's C-STORE-RSP status, or an error when the
// instance could not be sent (`association_lost` tells whether the
// association is still usable).
struct StoreSend {
  std::uint16_t status = 0;
  bool sent = false;
  bool association_lost = false;
  bool cancelled = false;     // a C-CANCEL arrived while waiting for the response
};
StoreSend send_instance(T_ASC_Association* assoc, const StoreOffer& offer, const std::string& sop_class,
                        const std::string& sop_instance, const std::string& stored_ts,
                        std::shared_ptr<ByteSource> object,
                        int dimse_timeout, const std::string& move_originator_ae, std::uint16_t move_originator_id,
                        T_ASC_PresentationContextID cancel_pc, std::uint16_t cancel_message_id);

// Outbound association to a C-MOVE destination (scu.cpp).
class StoreScu {
public:
  StoreScu() = default;
  StoreScu(const StoreScu&) = delete;
  StoreScu& operator=(const StoreScu&) = delete;
  ~StoreScu();
  // Proposes one context per (SOP class, stored transfer syntax) plus an
  // uncompressed fallback per SOP class.
  Status connect(const ServerContext& server, const Peer& peer,
                 const std::vector<std::pair<std::string, std::string>>& class_and_ts);
  const std::vector<StoreOffer>& offers() const { return offers_; }
  T_ASC_Association* association() { return assoc_; }
  void release();   // A-RELEASE (or abort when that fails); idempotent
  void abort();

private:
  T_ASC_Network* net_ = nullptr;
  T_ASC_Association* assoc_ = nullptr;
  std::vector<StoreOffer> offers_;
};

// Where a worker publishes the socket of the association it serves (for a
// forced shutdown at stop), and -1 before that socket is closed.
class SocketRegistry {
public:
  virtual ~SocketRegistry() = default;
  virtual void set(int fd) = 0;
};
// association.cpp: from the received A-ASSOCIATE-RQ to the end of the
// association (policy, negotiation, commands, release/abort, drop).
void run_association(ServerContext& server, T_ASC_Association* assoc, security::Transport transport,
                     SocketRegistry& registry);

// DCMTK 3.6.7 reports success when the peer closes the connection before
// sending an A-ASSOCIATE-RQ (its state machine treats that as a normal
// close): the association then has no application context and no
// presentation context. There is no request to judge, answer or audit.
bool no_request_received(T_ASC_Association* assoc);

// Rejects without looking at the request (pool full); audited.
void reject_busy(ServerContext& server, T_ASC_Association* assoc);

// Releases DCMTK's resources of a finished or refused association.
void drop_association(T_ASC_Association*& assoc);

// A-ABORT without waiting for the peer to close the connection.
void abort_association(T_ASC_Association* assoc);

// Peer address of the association's socket ("" if unknown).
std::string peer_address(T_ASC_Association* assoc);

} // namespace tresor::net::detail
