// C-GET and C-MOVE SCP: identifier -> RetrieveService::locate -> C-STORE
// sub-operations (on the same association for C-GET, on an outbound
// association to the registered destination for C-MOVE), with pending
// responses carrying the sub-operation counts.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include <dcmtk/dcmdata/dcdeftag.h>

#include "core/log.h"
#include "dicom/dcmtk_bridge.h"
#include "net/session.h"

namespace tresor::net::detail {

namespace {

// FailedSOPInstanceUIDList (0008,0058) for a final response.
std::unique_ptr<DcmDataset> failed_list(const SubOperations& ops) {
  if (ops.failed_uids.empty()) return nullptr;
  std::string joined;
  for (const auto& uid : ops.failed_uids) {
    if (!joined.empty()) joined.push_back('\\');
    joined += uid;
  }
  auto ds = std::make_unique<DcmDataset>();
  (void)ds->putAndInsertString(DCM_FailedSOPInstanceUIDList, joined.c_str());
  return ds;
}

// Sends a C-GET-RSP or C-MOVE-RSP. Final responses carry no remaining count
// unless cancelled (PS3.4 C.4.2.1.6 / C.4.3.1.3).
using Responder = std::function<Next(std::uint16_t st, const SubOperations& ops, bool with_remaining,
                                     DcmDataset* identifier, std::string_view comment)>;

enum class RunEnd { done, cancelled, main_lost, target_lost };

struct SubOpTarget {
  T_ASC_Association* assoc = nullptr;   // where the C-STOREs go
  std::vector<StoreOffer> offers;
  bool same_association = false;        // C-GET: a C-CANCEL may arrive while we wait for a C-STORE-RSP
  std::string originator_ae;            // C-MOVE only
  std::uint16_t originator_id = 0;
};

RunEnd run_sub_operations(Session& s, T_ASC_PresentationContextID pc, std::uint16_t message_id,
                          const std::vector<services::RetrieveItem>& items, SubOpTarget& target,
                          SubOperations& ops, const Responder& respond) {
  ops.remaining = static_cast<std::uint32_t>(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (s.server.stopping.load()) return RunEnd::main_lost;
    const auto& loc = items[i].location;
    const auto offer = choose_store_offer(target.offers, loc.sop_class_uid, loc.transfer_syntax_uid);
    bool cancelled = false;
    if (!offer) {
      ops.record_failure(loc.sop_instance_uid);
    } else {
      // Opened one at a time, as its turn comes (a missing or unreadable
      // object fails this sub-operation only).
      auto object = s.server.deps.retrieve.open(items[i]);
      if (!object) log::info("dimse: stored instance cannot be opened for a sub-operation: {}", object.error().message);
      const StoreSend r = send_instance(target.assoc, *offer, loc.sop_class_uid, loc.sop_instance_uid,
                                        loc.transfer_syntax_uid,
                                        object ? std::shared_ptr<ByteSource>(std::move(*object)) : nullptr,
                                        s.server.dimse_timeout(),
                                        target.originator_ae, target.originator_id,
                                        target.same_association ? pc : 0, message_id);
      if (r.association_lost) {
        ops.record_failure(loc.sop_instance_uid);
        if (target.same_association) return RunEnd::main_lost;
        for (std::size_t j = i + 1; j < items.size(); ++j) ops.record_failure(items[j].location.sop_instance_uid);
        return RunEnd::target_lost;
      }
      if (r.sent) {
        ops.record(r.status, loc.sop_instance_uid);
      } else {
        ops.record_failure(loc.sop_instance_uid);
      }
      cancelled = r.cancelled;
    }
    if (!cancelled) {
      OFCondition cancel = DIMSE_checkForCancelRQ(s.assoc, pc, message_id);
      if (cancel.good()) {
        cancelled = true;
      } else if (cancel != DIMSE_NODATAAVAILABLE) {
        return RunEnd::main_lost;
      }
    }
    if (cancelled) return RunEnd::cancelled;
    if (ops.remaining > 0 && respond(status::pending, ops, true, nullptr, {}) == Next::abort)
      return RunEnd::main_lost;
  }
  return RunEnd::done;
}

// The outcome of the sub-operations, audited once they are over (the
// retrieve service audited the request when it located the instances): a
// success only if every instance was sent; otherwise a failure naming how
// many failed, with the counts, the final status and, for C-MOVE, the
// destination.
void audit_sub_operations(Session& s, audit::Type type, const std::vector<services::RetrieveItem>& items,
                          const SubOperations& ops, std::uint16_t final_status, std::string_view why,
                          const std::string& destination) {
  const std::size_t total = items.size();
  const std::string failure = ops.failure_reason(total);
  audit::Event e = s.event(type, failure.empty() ? audit::Outcome::success : audit::Outcome::failure);
  std::set<std::string> studies, patients;
  for (const auto& item : items) {
    studies.insert(item.location.study_uid);
    patients.insert(item.location.patient_id);
  }
  for (const auto& v : studies) e.study_uid += (e.study_uid.empty() ? "" : "\\") + v;
  for (const auto& v : patients) e.patient_id += (e.patient_id.empty() ? "" : "\\") + v;
  if (!failure.empty()) {
    e.reason = failure;
    if (!why.empty()) e.reason += std::string(": ") + std::string(why);
  }
  if (!destination.empty()) e.details.emplace_back("destination", destination);
  e.details.emplace_back("sub_operations", std::to_string(total));
  e.details.emplace_back("completed", std::to_string(ops.completed));
  e.details.emplace_back("failed", std::to_string(ops.failed));
  e.details.emplace_back("warning", std::to_string(ops.warning));
  e.details.emplace_back("remaining", std::to_string(total - std::min<std::size_t>(total, ops.completed + ops.failed + ops.warning)));
  char hex[8];
  std::snprintf(hex, sizeof hex, "%04x", final_status);
  e.details.emplace_back("status", hex);
  s.server.deps.audit.record(e);
}

// The C-GET / C-MOVE status of a refused retrieve: past the retrieve cap is
// A702 (Refused: out of resources, unable to perform sub-operations); a
// missing or wildcard unique key is A900 (identifier does not match SOP class).
std::uint16_t retrieve_refusal(const Error& e) {
  return e.code == Errc::resource_exhausted ? status::sub_operations_impossible : e.dimse_status();
}

// Final response after the sub-operations.
Next finish(Session& s, const char* what, RunEnd end, SubOperations& ops, const Responder& respond) {
  if (end == RunEnd::main_lost) return Next::abort;
  const bool cancelled = end == RunEnd::cancelled;
  const std::uint16_t st = ops.final_status(cancelled);
  auto identifier = failed_list(ops);
  log::debug("dimse: {} for {} ({}): completed {}, failed {}, warning {}, status 0x{:04x}", what,
             s.principal.name, s.source_ip, ops.completed, ops.failed, ops.warning, st);
  const char* comment = end == RunEnd::target_lost ? "move destination association lost" : "";
  return respond(st, ops, cancelled, identifier.get(), comment);
}

std::vector<StoreOffer> get_offers(const Session& s) {
  std::vector<StoreOffer> out;
  for (const auto& c : s.contexts) {
    // Only contexts where the requestor accepted the SCP role may carry our C-STOREs.
    if (c.kind == ContextKind::storage && (c.role == ASC_SC_ROLE_SCP || c.role == ASC_SC_ROLE_SCUSCP))
      out.push_back({c.id, c.abstract_syntax, c.transfer_syntax});
  }
  return out;
}

// C-GET and C-MOVE responses carry the same sub-operation counters under
// different option flags; counters appear only with the statuses that allow them.
template <class Rsp>
void fill_counts(Rsp& rsp, std::uint16_t st, const SubOperations& ops, bool with_remaining, unsigned counts_flags,
                 unsigned remaining_flag) {
  if (st != status::pending && st != status::cancel && st != status::success &&
      st != status::sub_operations_failed && st != status::sub_operations_impossible)
    return;
  auto clamp = [](std::uint32_t v) { return static_cast<DIC_US>(std::min<std::uint32_t>(v, 0xFFFF)); };
  rsp.NumberOfCompletedSubOperations = clamp(ops.completed);
  rsp.NumberOfFailedSubOperations = clamp(ops.failed);
  rsp.NumberOfWarningSubOperations = clamp(ops.warning);
  rsp.opts |= counts_flags;
  if (with_remaining) {
    rsp.NumberOfRemainingSubOperations = clamp(ops.remaining);
    rsp.opts |= remaining_flag;
  }
}

} // namespace

Next handle_get(Session& s, T_ASC_PresentationContextID pc, T_DIMSE_C_GetRQ& rq) {
  const Responder respond = [&](std::uint16_t st, const SubOperations& ops, bool with_remaining,
                                DcmDataset* identifier, std::string_view comment) {
    T_DIMSE_C_GetRSP rsp{};
    rsp.MessageIDBeingRespondedTo = rq.MessageID;
    rsp.DimseStatus = st;
    rsp.DataSetType = identifier ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, rq.AffectedSOPClassUID, sizeof rsp.AffectedSOPClassUID);
    rsp.opts = O_GET_AFFECTEDSOPCLASSUID;
    fill_counts(rsp, st, ops, with_remaining,
                O_GET_NUMBEROFCOMPLETEDSUBOPERATIONS | O_GET_NUMBEROFFAILEDSUBOPERATIONS |
                    O_GET_NUMBEROFWARNINGSUBOPERATIONS,
                O_GET_NUMBEROFREMAININGSUBOPERATIONS);
    std::unique_ptr<DcmDataset> detail;
    if (!comment.empty()) detail = status_detail(comment);
    return DIMSE_sendGetResponse(s.assoc, pc, &rq, &rsp, identifier, detail.get()).good() ? Next::keep
                                                                                         : Next::abort;
  };
  SubOperations none;

  std::unique_ptr<DcmDataset> identifier;
  if (receive_dataset(s, pc, identifier, kMaxIdentifierBytes).bad() || !identifier) return Next::abort;
  const AcceptedContext* ctx = s.context(pc);
  const auto model = ctx ? query_model_of(ctx->abstract_syntax) : std::nullopt;
  if (!ctx || ctx->kind != ContextKind::get || !model || ctx->abstract_syntax != rq.AffectedSOPClassUID)
    return respond(status::sop_class_not_supported, none, false, nullptr,
                   "SOP class does not match the presentation context");
  if (!s.principal.may(Operation::get)) {
    s.audit_denied(Operation::get, "operation not permitted: get");
    return respond(status::not_authorized, none, false, nullptr, "not authorized to retrieve");
  }
  auto request = dicom::parse_query(*identifier, *model);
  if (!request) return respond(status::identifier_mismatch, none, false, nullptr, request.error().message);
  auto items = s.server.deps.retrieve.locate(s.principal, *request, audit::Type::retrieve);
  if (!items) return respond(retrieve_refusal(items.error()), none, false, nullptr, items.error().message);

  SubOpTarget target;
  target.assoc = s.assoc;
  target.offers = get_offers(s);
  target.same_association = true;
  SubOperations ops;
  const RunEnd end = run_sub_operations(s, pc, rq.MessageID, *items, target, ops, respond);
  audit_sub_operations(s, audit::Type::retrieve, *items, ops, ops.final_status(end == RunEnd::cancelled),
                       end == RunEnd::main_lost ? "association lost" : (end == RunEnd::cancelled ? "cancelled" : ""), "");
  return finish(s, "C-GET", end, ops, respond);
}

Next handle_move(Session& s, T_ASC_PresentationContextID pc, T_DIMSE_C_MoveRQ& rq) {
  const Responder respond = [&](std::uint16_t st, const SubOperations& ops, bool with_remaining,
                                DcmDataset* identifier, std::string_view comment) {
    T_DIMSE_C_MoveRSP rsp{};
    rsp.MessageIDBeingRespondedTo = rq.MessageID;
    rsp.DimseStatus = st;
    rsp.DataSetType = identifier ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, rq.AffectedSOPClassUID, sizeof rsp.AffectedSOPClassUID);
    rsp.opts = O_MOVE_AFFECTEDSOPCLASSUID;
    fill_counts(rsp, st, ops, with_remaining,
                O_MOVE_NUMBEROFCOMPLETEDSUBOPERATIONS | O_MOVE_NUMBEROFFAILEDSUBOPERATIONS |
                    O_MOVE_NUMBEROFWARNINGSUBOPERATIONS,
                O_MOVE_NUMBEROFREMAININGSUBOPERATIONS);
    std::unique_ptr<DcmDataset> detail;
    if (!comment.empty()) detail = status_detail(comment);
    return DIMSE_sendMoveResponse(s.assoc, pc, &rq, &rsp, identifier, detail.get()).good() ? Next::keep
                                                                                          : Next::abort;
  };
  SubOperations none;

  std::unique_ptr<DcmDataset> identifier;
  if (receive_dataset(s, pc, identifier, kMaxIdentifierBytes).bad() || !identifier) return Next::abort;
  const AcceptedContext* ctx = s.context(pc);
  const auto model = ctx ? query_model_of(ctx->abstract_syntax) : std::nullopt;
  if (!ctx || ctx->kind != ContextKind::move || !model || ctx->abstract_syntax != rq.AffectedSOPClassUID)
    return respond(status::sop_class_not_supported, none, false, nullptr,
                   "SOP class does not match the presentation context");
  if (!s.principal.may(Operation::move)) {
    s.audit_denied(Operation::move, "operation not permitted: move");
    return respond(status::not_authorized, none, false, nullptr, "not authorized to move");
  }

  // Only a registered peer with a registered address and port is a
  // destination; nothing is connected otherwise.
  const std::string destination = trim_ae(rq.MoveDestination);
  auto peer = s.server.deps.accounts.find_peer(destination);
  if (!peer) return respond(status::unable_to_process, none, false, nullptr, "peer lookup failed");
  if (!*peer || (*peer)->port == 0 || (*peer)->hosts.empty()) {
    audit::Event e = s.event(audit::Type::move, audit::Outcome::failure);
    e.reason = "move destination unknown: " + destination;
    e.details.emplace_back("destination", destination);
    s.server.deps.audit.record(e);
    return respond(status::move_destination_unknown, none, false, nullptr, "move destination unknown");
  }
  auto request = dicom::parse_query(*identifier, *model);
  if (!request) return respond(status::identifier_mismatch, none, false, nullptr, request.error().message);
  auto items = s.server.deps.retrieve.locate(s.principal, *request, audit::Type::move, destination);
  if (!items) return respond(retrieve_refusal(items.error()), none, false, nullptr, items.error().message);
  if (items->empty()) return respond(status::success, none, false, nullptr, {});

  std::vector<std::pair<std::string, std::string>> class_and_ts;
  for (const auto& item : *items)
    class_and_ts.emplace_back(item.location.sop_class_uid, item.location.transfer_syntax_uid);
  StoreScu scu;
  if (auto connected = scu.connect(s.server, **peer, class_and_ts); !connected) {
    log::info("dimse: C-MOVE from {} to {}: {}", s.principal.name, destination, connected.error().message);
    SubOperations ops;
    ops.remaining = 0;
    for (const auto& item : *items) {
      ++ops.failed;
      ops.failed_uids.push_back(item.location.sop_instance_uid);
    }
    auto failed = failed_list(ops);
    audit_sub_operations(s, audit::Type::move, *items, ops, status::sub_operations_impossible,
                         connected.error().message, destination);
    return respond(status::sub_operations_impossible, ops, false, failed.get(), "cannot reach move destination");
  }

  SubOpTarget target;
  target.assoc = scu.association();
  target.offers = scu.offers();
  target.originator_ae = s.calling_ae;
  target.originator_id = rq.MessageID;
  SubOperations ops;
  const RunEnd end = run_sub_operations(s, pc, rq.MessageID, *items, target, ops, respond);
  if (end == RunEnd::target_lost) {
    scu.abort();
  } else {
    scu.release();
  }
  const char* why = end == RunEnd::target_lost ? "move destination association lost"
                    : end == RunEnd::main_lost ? "requestor association lost"
                    : end == RunEnd::cancelled ? "cancelled"
                                               : "";
  audit_sub_operations(s, audit::Type::move, *items, ops, ops.final_status(end == RunEnd::cancelled), why, destination);
  return finish(s, "C-MOVE", end, ops, respond);
}

} // namespace tresor::net::detail
