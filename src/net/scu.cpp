// Sending stored instances as C-STORE sub-operations: on the requestor's own
// association (C-GET) or on an outbound association to a registered C-MOVE
// destination.
#include <filesystem>
#include <map>
#include <set>
#include <system_error>

#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/dcmtls/tlslayer.h>

#include "core/accounts.h"
#include "core/log.h"
#include "dicom/source_stream.h"
#include "net/session.h"

namespace tresor::net::detail {

StoreSend send_instance(T_ASC_Association* assoc, const StoreOffer& offer, const std::string& sop_class,
                        const std::string& sop_instance, const std::string& stored_ts,
                        std::shared_ptr<ByteSource> object,
                        int dimse_timeout, const std::string& move_originator_ae, std::uint16_t move_originator_id,
                        T_ASC_PresentationContextID cancel_pc, std::uint16_t cancel_message_id) {
  StoreSend out;
  // Values above 4 KiB stay in the stored object and are streamed when sent.
  const std::uint64_t size = object ? object->size() : 0;
  auto loaded = dicom::load_stored(std::move(object), 4096, ERM_autoDetect);
  if (!loaded) {
    log::warn("dimse: stored instance could not be read for a sub-operation: {}", loaded.error().message);
    return out;
  }
  DcmFileFormat& ff = **loaded;
  DcmDataset* ds = ff.getDataset();
  const DcmXfer target(offer.transfer_syntax.c_str());
  const E_TransferSyntax source = ds->getOriginalXfer();
  if (source != target.getXfer()) {
    // Transcoding happens in memory: bounded, and needs a registered codec
    // for compressed sources.
    if (size > kMaxConvertBytes) return out;
    if (ds->chooseRepresentation(target.getXfer(), nullptr).bad() || !ds->canWriteXfer(target.getXfer())) {
      log::info("dimse: cannot convert {} to {} for a sub-operation", stored_ts, offer.transfer_syntax);
      return out;
    }
  }

  T_DIMSE_C_StoreRQ rq{};
  rq.MessageID = assoc->nextMsgID++;
  OFStandard::strlcpy(rq.AffectedSOPClassUID, sop_class.c_str(), sizeof rq.AffectedSOPClassUID);
  OFStandard::strlcpy(rq.AffectedSOPInstanceUID, sop_instance.c_str(), sizeof rq.AffectedSOPInstanceUID);
  rq.Priority = DIMSE_PRIORITY_MEDIUM;
  rq.DataSetType = DIMSE_DATASET_PRESENT;
  if (!move_originator_ae.empty()) {
    OFStandard::strlcpy(rq.MoveOriginatorApplicationEntityTitle, move_originator_ae.c_str(),
                        sizeof rq.MoveOriginatorApplicationEntityTitle);
    rq.MoveOriginatorID = move_originator_id;
    rq.opts = O_STORE_MOVEORIGINATORAETITLE | O_STORE_MOVEORIGINATORID;
  }
  T_DIMSE_C_StoreRSP rsp{};
  DcmDataset* detail = nullptr;
  T_DIMSE_DetectedCancelParameters cancel{};
  cancel.cancelEncountered = OFFalse;
  OFCondition cond = DIMSE_storeUser(assoc, offer.id, &rq, nullptr, ds, nullptr, nullptr, DIMSE_NONBLOCKING,
                                     dimse_timeout, &rsp, &detail, cancel_pc != 0 ? &cancel : nullptr, 0);
  delete detail;
  if (cond.bad()) {
    log::info("dimse: C-STORE sub-operation failed: {}", cond.text());
    out.association_lost = true;
    return out;
  }
  out.sent = true;
  out.status = rsp.DimseStatus;
  if (cancel_pc != 0 && cancel.cancelEncountered && cancel.presId == cancel_pc &&
      cancel.req.MessageIDBeingRespondedTo == cancel_message_id) {
    out.cancelled = true;
  }
  return out;
}

StoreScu::~StoreScu() {
  release();
  if (net_) ASC_dropNetwork(&net_);
}

Status StoreScu::connect(const ServerContext& server, const Peer& peer,
                         const std::vector<std::pair<std::string, std::string>>& class_and_ts) {
  if (peer.hosts.empty() || peer.port == 0) return fail(Errc::not_found, "move destination has no address");
  // Cleartext only to a peer marked plaintext, at a private or loopback
  // address, and only while the plaintext listener is enabled (the same
  // conditions under which it may send to us in clear).
  const bool tls = !peer.allow_plaintext;
  if (!tls) {
    if (!server.config.dimse.plaintext_enabled)
      return fail(Errc::permission_denied, "cleartext C-MOVE refused: the plaintext listener is disabled");
    if (!is_loopback_or_private_ipv4(peer.hosts.front()))
      return fail(Errc::permission_denied,
                  "cleartext C-MOVE refused: " + peer.hosts.front() + " is not a loopback or private address");
  }
  if (tls && !server.client_tls) return fail(Errc::unavailable, "outbound TLS is not available");

  if (ASC_initializeNetwork(NET_REQUESTOR, 0, server.acse_timeout(), &net_).bad())
    return fail(Errc::io_error, "cannot initialise the outbound network");
  if (tls && ASC_setTransportLayer(net_, server.client_tls, 0).bad())
    return fail(Errc::internal, "cannot install the outbound TLS layer");

  T_ASC_Parameters* params = nullptr;
  if (ASC_createAssociationParameters(&params, server.max_pdu()).bad())
    return fail(Errc::internal, "cannot create association parameters");
  (void)ASC_setAPTitles(params, server.ae_title().c_str(), peer.ae_title.c_str(), nullptr);
  (void)ASC_setTransportLayerType(params, tls ? OFTrue : OFFalse);
  const std::string address = peer.hosts.front() + ":" + std::to_string(peer.port);
  (void)ASC_setPresentationAddresses(params, "localhost", address.c_str());

  // One context per (SOP class, stored transfer syntax), and an uncompressed
  // one per SOP class for destinations that decline the stored syntax.
  std::map<std::string, std::set<std::string>> by_class;
  for (const auto& [cls, ts] : class_and_ts) by_class[cls].insert(ts);
  int next_id = 1;
  auto add = [&](const std::string& cls, std::vector<const char*> ts) {
    if (next_id > 255) return;
    if (ASC_addPresentationContext(params, static_cast<T_ASC_PresentationContextID>(next_id), cls.c_str(), ts.data(),
                                   static_cast<int>(ts.size()))
            .good())
      next_id += 2;
  };
  for (const auto& [cls, syntaxes] : by_class) {
    for (const auto& ts : syntaxes) {
      if (!is_uncompressed(ts)) add(cls, {ts.c_str()});
    }
    add(cls, {uid::explicit_le, uid::implicit_le, uid::explicit_be});
  }
  if (next_id == 1) {
    ASC_destroyAssociationParameters(&params);
    return fail(Errc::invalid_argument, "nothing to propose to the move destination");
  }

  OFCondition cond = ASC_requestAssociation(net_, params, &assoc_);
  if (cond.bad()) {
    if (assoc_) {
      ASC_destroyAssociation(&assoc_);  // also frees params
    } else {
      ASC_destroyAssociationParameters(&params);
    }
    assoc_ = nullptr;
    return fail(Errc::unavailable, std::string("move destination did not accept the association: ") + cond.text());
  }

  // Over TLS the destination's certificate was verified against our CA (and
  // its CRL) by DCV_requireCertificate. Chaining to the CA is not enough: any
  // node's certificate does. It must be the destination's own, bound the
  // same way a calling peer's is: its SHA-256 pin, else CN == its AE title.
  // Checked before any C-STORE is sent.
  if (tls) {
    const unsigned long len = ASC_getPeerCertificateLength(assoc_);
    std::optional<CertIdentity> cert;
    if (len > 0 && len <= (1ul << 20)) {
      std::vector<unsigned char> der(len);
      const unsigned long got = ASC_getPeerCertificate(assoc_, der.data(), len);
      cert = read_certificate(der.data(), got);
    }
    const bool bound = cert && (peer.cert_sha256.empty() ? cert->common_name == peer.ae_title
                                                         : cert->sha256_hex == peer.cert_sha256);
    if (!bound) {
      abort();
      return fail(Errc::permission_denied, "move destination " + peer.ae_title +
                                               " presented a certificate not bound to it (" +
                                               (peer.cert_sha256.empty() ? "CN differs from its AE title"
                                                                         : "fingerprint differs from its pin") + ")");
    }
  }

  const int n = ASC_countPresentationContexts(assoc_->params);
  for (int i = 0; i < n; ++i) {
    T_ASC_PresentationContext pc;
    if (ASC_getPresentationContext(assoc_->params, i, &pc).bad()) continue;
    if (pc.resultReason != ASC_P_ACCEPTANCE) continue;
    offers_.push_back({pc.presentationContextID, pc.abstractSyntax, pc.acceptedTransferSyntax});
  }
  if (offers_.empty()) {
    abort();
    return fail(Errc::unsupported, "move destination accepted no presentation context");
  }
  return {};
}

void StoreScu::release() {
  if (!assoc_) return;
  if (ASC_releaseAssociation(assoc_).bad()) abort_association(assoc_);
  (void)ASC_destroyAssociation(&assoc_);
  assoc_ = nullptr;
}

void StoreScu::abort() {
  if (!assoc_) return;
  abort_association(assoc_);
  (void)ASC_destroyAssociation(&assoc_);
  assoc_ = nullptr;
}

} // namespace tresor::net::detail
