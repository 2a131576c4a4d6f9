// The DIMSE front end on DCMTK. Contract:
//  - one TLS listener (and the plaintext one only when configured), each
//    served by a fixed pool of worker threads that each accept, handshake and
//    negotiate themselves, so one silent client never blocks another;
//  - beyond the pool and its pending limit, A-ASSOCIATE-RJ transient;
//  - the association policy (security/) is applied in notifyAssociationRequest,
//    before any data set is read; every refusal is A-ASSOCIATE-RJ permanent
//    with the same reason; the real reason goes to the audit;
//  - C-ECHO, C-STORE (streamed to a temp blob), C-FIND, C-GET, C-MOVE (only to
//    registered peers at their registered host and port) and storage
//    commitment map onto services/; each operation is checked against the
//    principal's allowed operations.
#pragma once
#include <memory>
#include "audit/audit.h"
#include "config/config.h"
#include "core/accounts.h"
#include "core/error.h"
#include "security/policy.h"
#include "services/services.h"

namespace tresor::net {

struct DimseDeps {
  services::IngestService& ingest;
  services::QueryService& query;
  services::RetrieveService& retrieve;
  services::CommitmentService& commitment;
  const security::AssociationPolicy& policy;
  AccountRepository& accounts;   // C-MOVE destinations
  audit::AuditSink& audit;
};

class DimseServer {
public:
  virtual ~DimseServer() = default;
  virtual Status start() = 0;    // binds and starts the workers; returns after listening
  virtual void stop() = 0;       // stops accepting, waits for the workers
};

std::unique_ptr<DimseServer> make_dimse_server(const config::Config& config, DimseDeps deps);

// Set TCP_NODELAY and DCMTK's OFGlobals; once at start-up before threads.
void init_network_globals(const config::Config& config);

} // namespace tresor::net
