// One association from A-ASSOCIATE-RQ to release: the policy glue,
// presentation context negotiation, and the command loop.
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <string_view>
#include <exception>
#include <vector>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcostrmf.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/dcmnet/dcuserid.h>
#include <dcmtk/dcmnet/dul.h>

#include "core/log.h"
#include "net/session.h"

namespace tresor::net::detail {

namespace {

// DcmTransportConnection::getSocket() is protected in DCMTK 3.6.7; a member
// pointer named through a derived class reads it without touching the object.
struct SocketAccess : DcmTransportConnection {
  static int of(DcmTransportConnection* c) { return static_cast<int>((c->*(&SocketAccess::getSocket))()); }
};

int socket_of(T_ASC_Association* assoc) {
  if (!assoc || !assoc->DULassociation) return -1;
  DcmTransportConnection* c = DUL_getTransportConnection(assoc->DULassociation);
  return c ? SocketAccess::of(c) : -1;
}

const char* transport_name(security::Transport t) {
  switch (t) {
    case security::Transport::tls: return "tls";
    case security::Transport::legacy_tls: return "legacy-tls";
    case security::Transport::plaintext: break;
  }
  return "plaintext";
}

// Reads what the requestor claims and what the transport proves.
security::AssociationRequest read_request(T_ASC_Association* assoc, security::Transport transport) {
  security::AssociationRequest rq;
  rq.calling_ae = trim_ae(assoc->params->DULparams.callingAPTitle);
  rq.called_ae = trim_ae(assoc->params->DULparams.calledAPTitle);
  rq.source_ip = peer_address(assoc);
  rq.transport = transport;
  if (transport != security::Transport::plaintext) {
    const unsigned long len = ASC_getPeerCertificateLength(assoc);
    if (len > 0 && len <= (1ul << 20)) {
      std::vector<unsigned char> der(len);
      const unsigned long got = ASC_getPeerCertificate(assoc, der.data(), len);
      if (auto cert = read_certificate(der.data(), got)) {
        rq.client_cert_present = true;
        rq.client_cert_sha256 = cert->sha256_hex;
        rq.client_cert_cn = cert->common_name;
      }
    }
  }
  UserIdentityNegotiationSubItemRQ* id = nullptr;
  ASC_getUserIdentRQ(assoc->params, &id);
  if (id) {
    security::UserIdentity u;
    u.type = static_cast<int>(id->getIdentityType());
    char* buf = nullptr;
    Uint16 len = 0;
    id->getPrimField(buf, len);
    if (buf) {
      u.primary.assign(buf, len);
      delete[] buf;
    }
    buf = nullptr;
    len = 0;
    id->getSecField(buf, len);
    if (buf) {
      u.secondary.assign(buf, len);
      delete[] buf;
    }
    rq.identity = std::move(u);
  }
  return rq;
}

void reject(T_ASC_Association* assoc, T_ASC_RejectParametersResult result, T_ASC_RejectParametersSource source,
            T_ASC_RejectParametersReason reason) {
  T_ASC_RejectParameters rej{result, source, reason};
  (void)ASC_rejectAssociation(assoc, &rej);
}

// Accepts every proposed context we support, with our preferred transfer
// syntax. Storage contexts are accepted with the proposed SCU/SCP role, so a
// C-GET requestor that offers the SCP role can receive its sub-operations.
std::vector<AcceptedContext> negotiate(T_ASC_Association* assoc) {
  std::vector<AcceptedContext> out;
  const int n = ASC_countPresentationContexts(assoc->params);
  for (int i = 0; i < n; ++i) {
    T_ASC_PresentationContext pc;
    if (ASC_getPresentationContext(assoc->params, i, &pc).bad()) continue;
    const ContextKind kind =
        classify_abstract_syntax(pc.abstractSyntax, dcmIsaStorageSOPClassUID(pc.abstractSyntax, ESSC_All) != 0);
    std::vector<std::string> proposed;
    for (int k = 0; k < pc.transferSyntaxCount && k < DICOM_MAXTRANSFERSYNTAXES; ++k)
      proposed.emplace_back(pc.proposedTransferSyntaxes[k]);
    const auto ts = choose_transfer_syntax(kind, proposed);
    if (!ts) {
      (void)ASC_refusePresentationContext(assoc->params, pc.presentationContextID,
                                          kind == ContextKind::unsupported ? ASC_P_ABSTRACTSYNTAXNOTSUPPORTED
                                                                           : ASC_P_TRANSFERSYNTAXESNOTSUPPORTED);
      continue;
    }
    T_ASC_SC_ROLE role = ASC_SC_ROLE_DEFAULT;
    if (kind == ContextKind::storage) {
      role = pc.proposedRole;
    }
    if (ASC_acceptPresentationContext(assoc->params, pc.presentationContextID, ts->c_str(), role).bad()) continue;
    out.push_back({pc.presentationContextID, pc.abstractSyntax, *ts, kind, role});
  }
  return out;
}

} // namespace

std::string peer_address(T_ASC_Association* assoc) {
  const int fd = socket_of(assoc);
  if (fd >= 0) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 && ss.ss_family == AF_INET) {
      char buf[INET_ADDRSTRLEN] = {};
      const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
      if (::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf)) return buf;
    }
  }
  return {};
}

void drop_association(T_ASC_Association*& assoc) {
  if (!assoc) return;
  // Gives the peer a moment to close first (DCMTK's default waits 180 s,
  // which a peer that never closes could use to hold a worker).
  (void)ASC_dropSCPAssociation(assoc, 2);
  (void)ASC_destroyAssociation(&assoc);
  assoc = nullptr;
}

void abort_association(T_ASC_Association* assoc) {
  if (!assoc) return;
  // DUL_AbortAssociation waits (up to the ACSE timeout) for the peer to
  // close after our A-ABORT; closing our read side first ends that wait at
  // once while the A-ABORT still goes out.
  const int fd = socket_of(assoc);
  if (fd >= 0) ::shutdown(fd, SHUT_RD);
  (void)ASC_abortAssociation(assoc);
}

void reject_busy(ServerContext& server, T_ASC_Association* assoc) {
  audit::Event e;
  e.type = audit::Type::association;
  e.outcome = audit::Outcome::failure;
  e.actor = trim_ae(assoc->params->DULparams.callingAPTitle);
  e.source = peer_address(assoc);
  e.reason = "server busy: all workers and the pending queue are full";
  server.deps.audit.record(e);
  log::warn("dimse: association from {} ({}) refused: server busy", e.actor, e.source);
  reject(assoc, ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
         ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED);
}

const AcceptedContext* Session::context(T_ASC_PresentationContextID id) const {
  for (const auto& c : contexts) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

int Session::socket() const { return socket_of(assoc); }

audit::Event Session::event(audit::Type type, audit::Outcome outcome) const {
  audit::Event e;
  e.type = type;
  e.outcome = outcome;
  e.actor = principal.name.empty() ? calling_ae : principal.name;
  e.user = principal.user;
  e.source = source_ip;
  return e;
}

void Session::audit_denied(Operation op, std::string reason) const {
  audit::Type type = audit::Type::association;
  switch (op) {
    case Operation::echo: type = audit::Type::association; break;
    case Operation::store: type = audit::Type::store; break;
    case Operation::find: type = audit::Type::query; break;
    case Operation::get: type = audit::Type::retrieve; break;
    case Operation::move: type = audit::Type::move; break;
    case Operation::commit: type = audit::Type::commitment; break;
    case Operation::remove:
    case Operation::admin:
    case Operation::audit: type = audit::Type::admin; break;
  }
  audit::Event e = event(type, audit::Outcome::denied);
  e.reason = std::move(reason);
  e.details.emplace_back("operation", to_string(op));
  server.deps.audit.record(e);
  log::info("dimse: {} from {} ({}) refused: not permitted", to_string(op), e.actor, source_ip);
}

namespace {

struct ReceiveLimit {
  std::uint64_t max = 0;
  int fd = -1;
  bool exceeded = false;
};

// DCMTK calls this after every PDV with the bytes received so far. Over the
// limit, the connection is cut: the next read fails and DCMTK returns an
// error, so a peer can never make us hold or write more than the limit.
void limit_callback(void* data, unsigned long bytes) {
  auto* limit = static_cast<ReceiveLimit*>(data);
  if (!limit->exceeded && bytes > limit->max) {
    limit->exceeded = true;
    if (limit->fd >= 0) ::shutdown(limit->fd, SHUT_RDWR);
  }
}

} // namespace

OFCondition receive_dataset(Session& s, T_ASC_PresentationContextID expected, std::unique_ptr<DcmDataset>& out,
                            std::uint64_t max_bytes) {
  ReceiveLimit limit{max_bytes, s.socket(), false};
  DcmDataset* ds = nullptr;
  T_ASC_PresentationContextID pc = 0;
  OFCondition cond = DIMSE_receiveDataSetInMemory(s.assoc, DIMSE_NONBLOCKING, s.server.dimse_timeout(), &pc, &ds,
                                                  limit_callback, &limit);
  out.reset(ds);
  if (limit.exceeded) {
    out.reset();
    return makeDcmnetCondition(DIMSEC_OUTOFRESOURCES, OF_error, "data set exceeds the size limit");
  }
  if (cond.good() && pc != expected) {
    out.reset();
    return makeDcmnetCondition(DIMSEC_INVALIDPRESENTATIONCONTEXTID, OF_error,
                               "data set on a different presentation context");
  }
  return cond;
}

namespace {

// The data set's bytes after the meta header, appended to the temp file. A
// write error (disk full, EIO) does not stop the transfer: the consumer stays
// "good" for DCMTK, discards the rest and remembers the errno, so the whole
// data set is still read off the wire and the C-STORE can be answered with a
// failure status instead of an abort.
class FailSoftFileConsumer final : public DcmConsumer {
public:
  explicit FailSoftFileConsumer(int fd) : fd_(fd) {}
  OFBool good() const override { return OFTrue; }
  OFCondition status() const override { return EC_Normal; }
  OFBool isFlushed() const override { return OFTrue; }
  offile_off_t avail() const override { return OFstatic_cast(offile_off_t, 1) << 30; }
  offile_off_t write(const void* buf, offile_off_t buflen) override {
    if (error_ == 0) {
      const char* p = static_cast<const char*>(buf);
      std::size_t left = static_cast<std::size_t>(buflen);
      while (left > 0) {
        ssize_t n = ::write(fd_, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          error_ = n < 0 ? errno : ENOSPC;
          break;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
      }
    }
    return buflen;
  }
  void flush() override {}
  int error() const { return error_; }

private:
  int fd_;
  int error_ = 0;
};

class FailSoftFileStream final : public DcmOutputStream {
public:
  explicit FailSoftFileStream(int fd) : DcmOutputStream(&consumer_), consumer_(fd) {}
  int error() const { return consumer_.error(); }

private:
  FailSoftFileConsumer consumer_;
};

} // namespace

OFCondition receive_dataset_to_file(Session& s, T_ASC_PresentationContextID command_context,
                                    const T_DIMSE_C_StoreRQ& request, const char* file, std::uint64_t max_bytes,
                                    bool& too_large, int& write_error) {
  too_large = false;
  write_error = 0;
  ReceiveLimit limit{max_bytes, s.socket(), false};
  T_ASC_PresentationContextID pc = 0;
  auto drain = [&](OFCondition why) {
    // Still read the data set off the wire, so the association stays usable.
    DcmOutputFileStream sink(OFFilename("/dev/null"));
    OFCondition drained = DIMSE_receiveDataSetInFile(s.assoc, DIMSE_NONBLOCKING, s.server.dimse_timeout(), &pc,
                                                     &sink, limit_callback, &limit);
    too_large = limit.exceeded;
    return drained.bad() ? drained : why;
  };
  // The meta header, written and flushed by DCMTK's own stream.
  DcmOutputFileStream* meta = nullptr;
  OFCondition cond = DIMSE_createFilestream(OFFilename(file), &request, s.assoc, command_context, 1, &meta);
  if (cond.good() && meta) {
    meta->flush();
    if (meta->status().bad()) {
      write_error = ENOSPC;
      cond = meta->status();
    }
  }
  delete meta;  // closes the file
  if (cond.bad()) {
    if (write_error == 0 && std::string_view(file) != "/dev/null") write_error = EIO;
    return drain(cond);
  }
  const int fd = ::open(file, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) {
    write_error = errno;
    return drain(makeDcmnetCondition(DIMSEC_OUTOFRESOURCES, OF_error, "cannot reopen the received object"));
  }
  {
    FailSoftFileStream stream(fd);
    cond = DIMSE_receiveDataSetInFile(s.assoc, DIMSE_NONBLOCKING, s.server.dimse_timeout(), &pc, &stream,
                                      limit_callback, &limit);
    write_error = stream.error();
  }
  if (::close(fd) != 0 && write_error == 0) write_error = errno;
  too_large = limit.exceeded;
  if (cond.good() && pc != command_context)
    return makeDcmnetCondition(DIMSEC_INVALIDPRESENTATIONCONTEXTID, OF_error,
                               "data set on a different presentation context");
  return cond;
}

std::unique_ptr<DcmDataset> status_detail(std::string_view message) {
  auto ds = std::make_unique<DcmDataset>();
  const std::string comment = error_comment(message);
  if (!comment.empty()) (void)ds->putAndInsertString(DCM_ErrorComment, comment.c_str());
  return ds;
}

namespace {

// Waits up to the idle timeout for the next command, in 1 s slices so that a
// stop request is noticed. Returns false on idle timeout or stop.
bool wait_for_command(Session& s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(s.server.config.dimse.idle_timeout_s);
  while (!s.server.stopping.load()) {
    if (ASC_dataWaiting(s.assoc, 1)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
  }
  return false;
}

// The command loop. Returns true if the association ended with a release.
bool serve_commands(Session& s) {
  for (;;) {
    if (!wait_for_command(s)) {
      log::debug("dimse: association with {} ({}) idle or stopping: aborting", s.calling_ae, s.source_ip);
      return false;
    }
    T_ASC_PresentationContextID pc = 0;
    T_DIMSE_Message msg{};
    OFCondition cond = DIMSE_receiveCommand(s.assoc, DIMSE_NONBLOCKING, s.server.dimse_timeout(), &pc, &msg, nullptr);
    if (cond == DUL_PEERREQUESTEDRELEASE) {
      (void)ASC_acknowledgeRelease(s.assoc);
      return true;
    }
    if (cond == DUL_PEERABORTEDASSOCIATION) return true;  // nothing left to do but drop
    if (cond.bad()) {
      log::debug("dimse: command from {} ({}) failed: {}", s.calling_ae, s.source_ip, cond.text());
      return false;
    }
    Next next = Next::keep;
    switch (msg.CommandField) {
      case DIMSE_C_ECHO_RQ: next = handle_echo(s, pc, msg.msg.CEchoRQ); break;
      case DIMSE_C_STORE_RQ: next = handle_store(s, pc, msg.msg.CStoreRQ); break;
      case DIMSE_C_FIND_RQ: next = handle_find(s, pc, msg.msg.CFindRQ); break;
      case DIMSE_C_GET_RQ: next = handle_get(s, pc, msg.msg.CGetRQ); break;
      case DIMSE_C_MOVE_RQ: next = handle_move(s, pc, msg.msg.CMoveRQ); break;
      case DIMSE_N_ACTION_RQ: next = handle_commitment(s, pc, msg.msg.NActionRQ); break;
      case DIMSE_C_CANCEL_RQ: break;              // no operation in progress: nothing to cancel
      case DIMSE_N_EVENT_REPORT_RSP: break;       // answer to our storage commitment report
      default:
        log::debug("dimse: unsupported command 0x{:04x} from {} ({}): aborting",
                   static_cast<unsigned>(msg.CommandField), s.calling_ae, s.source_ip);
        next = Next::abort;
        break;
    }
    if (next == Next::abort) return false;
  }
}

} // namespace

bool no_request_received(T_ASC_Association* assoc) {
  return assoc->params->DULparams.applicationContextName[0] == '\0' &&
         ASC_countPresentationContexts(assoc->params) == 0;
}

void run_association(ServerContext& server, T_ASC_Association* assoc, security::Transport transport,
                     SocketRegistry& registry) {
  registry.set(socket_of(assoc));
  if (no_request_received(assoc)) {
    log::debug("dimse: connection from {} closed before an association request", peer_address(assoc));
    registry.set(-1);
    drop_association(assoc);
    return;
  }
  try {
    const security::AssociationRequest rq = read_request(assoc, transport);
    const security::Decision decision = server.deps.policy.decide(rq);
    if (!decision.accepted) {
      audit::Event e;
      e.type = audit::Type::association;
      e.outcome = audit::Outcome::denied;
      e.actor = rq.calling_ae;
      e.source = rq.source_ip;
      e.reason = decision.reason;
      e.details.emplace_back("called_ae", rq.called_ae);
      e.details.emplace_back("transport", transport_name(transport));
      server.deps.audit.record(e);
      if (decision.source_now_blocked) {
        audit::Event alert = e;
        alert.type = audit::Type::security_alert;
        alert.reason = "source blocked after repeated association failures (last: " + decision.reason + ")";
        server.deps.audit.record(alert);
        log::warn("dimse: source {} blocked after repeated association failures", rq.source_ip);
      }
      if (!decision.alert.empty()) {  // an account's guess ceiling reached (policy.h)
        audit::Event alert = e;
        alert.type = audit::Type::security_alert;
        alert.reason = decision.alert;
        server.deps.audit.record(alert);
        log::warn("dimse: {}", decision.alert);
      }
      log::info("dimse: association from {} ({}, {}) refused", rq.calling_ae, rq.source_ip,
                transport_name(transport));
      // The same answer for every refusal: the reason is for the audit only.
      reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_NOREASON);
    } else {
      Session s{server, assoc, decision.principal, rq.calling_ae, rq.source_ip, transport, {}};
      s.contexts = negotiate(assoc);
      UserIdentityNegotiationSubItemRQ* id = nullptr;
      ASC_getUserIdentRQ(assoc->params, &id);
      if (id && id->isPosResponseRequested() && !decision.principal.user.empty() &&
          assoc->params->DULparams.ackUserIdentNeg == nullptr) {
        // ASC_setIdentAC() does not link in DCMTK 3.6.7; an empty server
        // response is the positive answer for username/passcode and JWT.
        assoc->params->DULparams.ackUserIdentNeg = new UserIdentityNegotiationSubItemAC();
      }
      if (ASC_acknowledgeAssociation(assoc).good()) {
        audit::Event e = s.event(audit::Type::association, audit::Outcome::success);
        e.details.emplace_back("called_ae", rq.called_ae);
        e.details.emplace_back("transport", transport_name(transport));
        e.details.emplace_back("contexts", std::to_string(s.contexts.size()));
        server.deps.audit.record(e);
        log::debug("dimse: association from {} ({}, {}) accepted, {} contexts", s.calling_ae, s.source_ip,
                   transport_name(transport), s.contexts.size());
        if (!serve_commands(s)) abort_association(assoc);
      }
    }
  } catch (const std::exception& ex) {
    log::error("dimse: association from {} aborted on an internal error: {}", peer_address(assoc), ex.what());
    abort_association(assoc);
  } catch (...) {
    log::error("dimse: association from {} aborted on an internal error", peer_address(assoc));
    abort_association(assoc);
  }
  registry.set(-1);
  drop_association(assoc);
}

} // namespace tresor::net::detail
