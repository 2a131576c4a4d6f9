// Storage Commitment Push Model SCP (PS3.4 J): N-ACTION-RQ in, N-ACTION-RSP
// out, then the N-EVENT-REPORT-RQ with the result on the SAME association.
// Limits (documented in the conformance statement):
//  - the report is only sent on the association that carried the request,
//    right after the N-ACTION-RSP; if the requestor releases first, the
//    report is lost (it may ask again: the answer is recomputed);
//  - the N-EVENT-REPORT-RSP is consumed by the command loop, not awaited.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcsequen.h>

#include "core/log.h"
#include "dicom/inspect.h"
#include "net/session.h"

namespace tresor::net::detail {

namespace {

constexpr std::uint16_t kInvalidArgumentValue = 0x0115;
constexpr std::uint16_t kNoSuchAction = 0x0123;
constexpr std::uint16_t kInvalidObjectInstance = 0x0117;

Next send_action_response(Session& s, T_ASC_PresentationContextID pc, const T_DIMSE_N_ActionRQ& rq,
                          std::uint16_t st, std::string_view comment) {
  T_DIMSE_Message msg{};
  msg.CommandField = DIMSE_N_ACTION_RSP;
  T_DIMSE_N_ActionRSP& rsp = msg.msg.NActionRSP;
  rsp.MessageIDBeingRespondedTo = rq.MessageID;
  rsp.DimseStatus = st;
  rsp.DataSetType = DIMSE_DATASET_NULL;
  OFStandard::strlcpy(rsp.AffectedSOPClassUID, rq.RequestedSOPClassUID, sizeof rsp.AffectedSOPClassUID);
  OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, rq.RequestedSOPInstanceUID, sizeof rsp.AffectedSOPInstanceUID);
  rsp.ActionTypeID = rq.ActionTypeID;
  rsp.opts = O_NACTION_AFFECTEDSOPCLASSUID | O_NACTION_AFFECTEDSOPINSTANCEUID | O_NACTION_ACTIONTYPEID;
  std::unique_ptr<DcmDataset> detail;
  if (!comment.empty()) detail = status_detail(comment);
  OFCondition cond = DIMSE_sendMessageUsingMemoryData(s.assoc, pc, &msg, detail.get(), nullptr, nullptr, nullptr);
  return cond.good() ? Next::keep : Next::abort;
}

struct CommitRequest {
  std::string transaction_uid;
  std::vector<services::CommitmentItem> items;
};

// Reads TransactionUID and the Referenced SOP Sequence; every UID must be valid.
std::optional<CommitRequest> parse_request(DcmDataset& ds) {
  CommitRequest out;
  OFString value;
  if (ds.findAndGetOFString(DCM_TransactionUID, value).bad()) return std::nullopt;
  out.transaction_uid = value.c_str();
  if (!dicom::is_valid_uid(out.transaction_uid)) return std::nullopt;
  DcmSequenceOfItems* seq = nullptr;
  if (ds.findAndGetSequence(DCM_ReferencedSOPSequence, seq).bad() || !seq) return std::nullopt;
  const unsigned long n = seq->card();
  if (n == 0 || n > kMaxCommitmentItems) return std::nullopt;
  out.items.reserve(n);
  for (unsigned long i = 0; i < n; ++i) {
    DcmItem* item = seq->getItem(i);
    OFString cls, inst;
    if (!item || item->findAndGetOFString(DCM_ReferencedSOPClassUID, cls).bad() ||
        item->findAndGetOFString(DCM_ReferencedSOPInstanceUID, inst).bad())
      return std::nullopt;
    services::CommitmentItem ci{cls.c_str(), inst.c_str()};
    if (!dicom::is_valid_uid(ci.sop_class_uid) || !dicom::is_valid_uid(ci.sop_instance_uid)) return std::nullopt;
    out.items.push_back(std::move(ci));
  }
  return out;
}

void add_reference(DcmDataset& ds, const DcmTagKey& sequence, const services::CommitmentItem& it, bool failed) {
  DcmItem* item = nullptr;
  if (ds.findOrCreateSequenceItem(sequence, item, -2).bad() || !item) return;
  (void)item->putAndInsertString(DCM_ReferencedSOPClassUID, it.sop_class_uid.c_str());
  (void)item->putAndInsertString(DCM_ReferencedSOPInstanceUID, it.sop_instance_uid.c_str());
  if (failed) (void)item->putAndInsertUint16(DCM_FailureReason, status::no_such_object_instance);
}

} // namespace

Next handle_commitment(Session& s, T_ASC_PresentationContextID pc, T_DIMSE_N_ActionRQ& rq) {
  std::unique_ptr<DcmDataset> info;
  if (rq.DataSetType != DIMSE_DATASET_NULL) {
    if (receive_dataset(s, pc, info, kMaxCommitmentBytes).bad()) return Next::abort;
  }
  const AcceptedContext* ctx = s.context(pc);
  if (!ctx || ctx->kind != ContextKind::commitment || std::string_view(rq.RequestedSOPClassUID) != uid::commitment_push)
    return send_action_response(s, pc, rq, status::sop_class_not_supported, "not a storage commitment request");
  if (std::string_view(rq.RequestedSOPInstanceUID) != uid::commitment_push_instance)
    return send_action_response(s, pc, rq, kInvalidObjectInstance, "unknown SOP instance");
  if (rq.ActionTypeID != 1) return send_action_response(s, pc, rq, kNoSuchAction, "unknown action type");
  if (!s.principal.may(Operation::commit)) {
    s.audit_denied(Operation::commit, "operation not permitted: commit");
    return send_action_response(s, pc, rq, status::not_authorized, "not authorized to request commitment");
  }
  const auto request = info ? parse_request(*info) : std::nullopt;
  if (!request)
    return send_action_response(s, pc, rq, kInvalidArgumentValue, "invalid storage commitment request");

  const services::CommitmentResult result = s.server.deps.commitment.check(s.principal, request->items);
  if (send_action_response(s, pc, rq, status::success, {}) == Next::abort) return Next::abort;

  DcmDataset report;
  (void)report.putAndInsertString(DCM_TransactionUID, request->transaction_uid.c_str());
  for (const auto& it : result.success) add_reference(report, DCM_ReferencedSOPSequence, it, false);
  for (const auto& it : result.failed) add_reference(report, DCM_FailedSOPSequence, it, true);

  T_DIMSE_Message msg{};
  msg.CommandField = DIMSE_N_EVENT_REPORT_RQ;
  T_DIMSE_N_EventReportRQ& ev = msg.msg.NEventReportRQ;
  ev.MessageID = s.assoc->nextMsgID++;
  OFStandard::strlcpy(ev.AffectedSOPClassUID, uid::commitment_push, sizeof ev.AffectedSOPClassUID);
  OFStandard::strlcpy(ev.AffectedSOPInstanceUID, uid::commitment_push_instance, sizeof ev.AffectedSOPInstanceUID);
  ev.DataSetType = DIMSE_DATASET_PRESENT;
  ev.EventTypeID = result.failed.empty() ? 1 : 2;
  OFCondition cond = DIMSE_sendMessageUsingMemoryData(s.assoc, pc, &msg, nullptr, &report, nullptr, nullptr);
  log::debug("dimse: storage commitment for {} ({}): {} committed, {} failed", s.principal.name, s.source_ip,
             result.success.size(), result.failed.size());
  return cond.good() ? Next::keep : Next::abort;
}

} // namespace tresor::net::detail
