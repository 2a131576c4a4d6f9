// C-ECHO and C-STORE SCP.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcostrmf.h>

#include "core/log.h"
#include "net/session.h"

namespace tresor::net::detail {

// C-ECHO has no "not authorized" status (PS3.7 9.3.5): a principal without
// the echo operation gets 0x0122 (SOP class not supported), which every SCU
// reports as a failed verification.
Next handle_echo(Session& s, T_ASC_PresentationContextID pc, const T_DIMSE_C_EchoRQ& rq) {
  std::uint16_t st = status::success;
  if (!s.principal.may(Operation::echo)) {
    s.audit_denied(Operation::echo, "operation not permitted: echo");
    st = status::sop_class_not_supported;
  }
  OFCondition cond = DIMSE_sendEchoResponse(s.assoc, pc, &rq, st, nullptr);
  return cond.good() ? Next::keep : Next::abort;
}

namespace {

Next send_store_response(Session& s, T_ASC_PresentationContextID pc, const T_DIMSE_C_StoreRQ& rq,
                         std::uint16_t st, std::string_view comment) {
  T_DIMSE_C_StoreRSP rsp{};
  rsp.MessageIDBeingRespondedTo = rq.MessageID;
  rsp.DimseStatus = st;
  rsp.DataSetType = DIMSE_DATASET_NULL;
  OFStandard::strlcpy(rsp.AffectedSOPClassUID, rq.AffectedSOPClassUID, sizeof rsp.AffectedSOPClassUID);
  OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, rq.AffectedSOPInstanceUID, sizeof rsp.AffectedSOPInstanceUID);
  rsp.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
  std::unique_ptr<DcmDataset> detail;
  if (st != status::success && !comment.empty()) detail = status_detail(comment);
  OFCondition cond = DIMSE_sendStoreResponse(s.assoc, pc, &rq, &rsp, detail.get());
  return cond.good() ? Next::keep : Next::abort;
}

// Reads and discards the data set (bounded), then answers with `st`.
Next refuse_store(Session& s, T_ASC_PresentationContextID pc, T_DIMSE_C_StoreRQ& rq, std::uint16_t st,
                  std::string_view comment) {
  bool too_large = false;
  int write_error = 0;
  OFCondition cond = receive_dataset_to_file(s, pc, rq, "/dev/null", s.server.config.dimse.max_object_bytes,
                                             too_large, write_error);
  if (cond.bad() || too_large) return Next::abort;
  return send_store_response(s, pc, rq, st, comment);
}

} // namespace

// The data set is streamed to a temp blob (never held in memory), then
// ingested; the response goes out only once ingest() has returned, i.e. the
// object is durable and indexed (or refused).
Next handle_store(Session& s, T_ASC_PresentationContextID pc, T_DIMSE_C_StoreRQ& rq) {
  const AcceptedContext* ctx = s.context(pc);
  if (!s.principal.may(Operation::store)) {
    s.audit_denied(Operation::store, "operation not permitted: store");
    return refuse_store(s, pc, rq, status::not_authorized, "not authorized to store");
  }
  if (!ctx || ctx->kind != ContextKind::storage || ctx->abstract_syntax != rq.AffectedSOPClassUID) {
    return refuse_store(s, pc, rq, status::sop_class_not_supported,
                        "SOP class does not match the presentation context");
  }

  auto& ingest = s.server.deps.ingest;
  auto temp = ingest.begin();
  if (!temp) {
    log::warn("dimse: C-STORE from {} ({}): no temp blob: {}", s.principal.name, s.source_ip,
              temp.error().message);
    return refuse_store(s, pc, rq, temp.error().dimse_status(), temp.error().message);
  }
  const std::uint64_t max_bytes = s.server.config.dimse.max_object_bytes;
  bool too_large = false;
  int write_error = 0;
  OFCondition cond = receive_dataset_to_file(s, pc, rq, temp->path.c_str(), max_bytes, too_large, write_error);
  if (cond.good() && !too_large && write_error != 0) {
    // Disk full (or an I/O error) while writing: the data set was read to its
    // end, so the association goes on; nothing of this object is kept.
    ingest.discard(*temp);
    const bool full = write_error == ENOSPC || write_error == EDQUOT;
    const std::string reason = full ? "out of storage space" : "cannot write the received object";
    audit::Event e = s.event(audit::Type::store, audit::Outcome::failure);
    e.sop_uid = rq.AffectedSOPInstanceUID;
    e.reason = reason;
    s.server.deps.audit.record(e);
    log::warn("dimse: C-STORE from {} ({}): {} ({})", s.principal.name, s.source_ip, reason, std::strerror(write_error));
    return send_store_response(s, pc, rq, status::out_of_resources, reason);
  }
  if (cond.bad() || too_large) {
    std::error_code ec;
    std::filesystem::remove(temp->path, ec);
    if (too_large) {
      audit::Event e = s.event(audit::Type::store, audit::Outcome::failure);
      e.sop_uid = rq.AffectedSOPInstanceUID;
      e.reason = "object exceeds max_object_bytes (" + std::to_string(max_bytes) + "): association aborted";
      s.server.deps.audit.record(e);
      log::warn("dimse: C-STORE from {} ({}) exceeds the size limit: aborting", s.principal.name, s.source_ip);
    } else {
      log::debug("dimse: C-STORE from {} ({}) failed while receiving: {}", s.principal.name, s.source_ip,
                 cond.text());
    }
    return Next::abort;
  }

  services::StoreContext context;
  context.principal = s.principal;
  context.expected_sop_class = rq.AffectedSOPClassUID;
  context.expected_sop_instance = rq.AffectedSOPInstanceUID;
  auto result = ingest.ingest(context, *temp);
  if (!result) {
    log::info("dimse: C-STORE from {} ({}) refused: {} (0x{:04x})", s.principal.name, s.source_ip,
              to_string(result.error().code), result.error().dimse_status());
    return send_store_response(s, pc, rq, result.error().dimse_status(), result.error().message);
  }
  return send_store_response(s, pc, rq, status::success, {});
}

} // namespace tresor::net::detail
