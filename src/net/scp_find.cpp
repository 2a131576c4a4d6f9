// C-FIND SCP: identifier -> QueryService::find -> pending responses.
#include <dcmtk/dcmdata/dcdeftag.h>

#include "core/log.h"
#include "dicom/dcmtk_bridge.h"
#include "net/session.h"

namespace tresor::net::detail {

namespace {

Next send_find_response(Session& s, T_ASC_PresentationContextID pc, const T_DIMSE_C_FindRQ& rq, std::uint16_t st,
                        DcmDataset* identifier, std::string_view comment) {
  T_DIMSE_C_FindRSP rsp{};
  rsp.MessageIDBeingRespondedTo = rq.MessageID;
  rsp.DimseStatus = st;
  rsp.DataSetType = identifier ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
  OFStandard::strlcpy(rsp.AffectedSOPClassUID, rq.AffectedSOPClassUID, sizeof rsp.AffectedSOPClassUID);
  rsp.opts = O_FIND_AFFECTEDSOPCLASSUID;
  std::unique_ptr<DcmDataset> detail;
  if (!comment.empty()) detail = status_detail(comment);
  OFCondition cond = DIMSE_sendFindResponse(s.assoc, pc, &rq, &rsp, identifier, detail.get());
  return cond.good() ? Next::keep : Next::abort;
}

} // namespace

Next handle_find(Session& s, T_ASC_PresentationContextID pc, T_DIMSE_C_FindRQ& rq) {
  std::unique_ptr<DcmDataset> identifier;
  OFCondition cond = receive_dataset(s, pc, identifier, kMaxIdentifierBytes);
  if (cond.bad() || !identifier) return Next::abort;

  const AcceptedContext* ctx = s.context(pc);
  const auto model = ctx ? query_model_of(ctx->abstract_syntax) : std::nullopt;
  if (!ctx || ctx->kind != ContextKind::find || !model || ctx->abstract_syntax != rq.AffectedSOPClassUID)
    return send_find_response(s, pc, rq, status::sop_class_not_supported, nullptr,
                              "SOP class does not match the presentation context");
  if (!s.principal.may(Operation::find)) {
    s.audit_denied(Operation::find, "operation not permitted: find");
    return send_find_response(s, pc, rq, status::not_authorized, nullptr, "not authorized to query");
  }

  auto request = dicom::parse_query(*identifier, *model);
  if (!request) {
    return send_find_response(s, pc, rq, status::identifier_mismatch, nullptr, request.error().message);
  }
  auto rows = s.server.deps.query.find(s.principal, *request);
  if (!rows) {
    log::info("dimse: C-FIND from {} ({}) failed: {} (0x{:04x})", s.principal.name, s.source_ip,
              to_string(rows.error().code), rows.error().dimse_status());
    return send_find_response(s, pc, rq, rows.error().dimse_status(), nullptr, rows.error().message);
  }

  std::size_t sent = 0;
  for (const auto& row : *rows) {
    if (s.server.stopping.load()) return Next::abort;
    // A C-CANCEL may arrive between responses (PS3.4 C.4.1.3.2).
    OFCondition cancel = DIMSE_checkForCancelRQ(s.assoc, pc, rq.MessageID);
    if (cancel.good()) {
      log::debug("dimse: C-FIND from {} cancelled after {} responses", s.principal.name, sent);
      return send_find_response(s, pc, rq, status::cancel, nullptr, {});
    }
    if (cancel != DIMSE_NODATAAVAILABLE) return Next::abort;

    DcmDataset response;
    if (auto built = dicom::build_response(row, request->level, s.server.ae_title(), response); !built) {
      log::warn("dimse: C-FIND response could not be built: {}", to_string(built.error().code));
      return send_find_response(s, pc, rq, status::unable_to_process, nullptr, built.error().message);
    }
    if (send_find_response(s, pc, rq, status::pending, &response, {}) == Next::abort) return Next::abort;
    ++sent;
  }
  log::debug("dimse: C-FIND from {} ({}): {} matches", s.principal.name, s.source_ip, sent);
  return send_find_response(s, pc, rq, status::success, nullptr, {});
}

} // namespace tresor::net::detail
