// Fuzz target: DIMSE command sets (group 0000), read the way DCMTK's
// DIMSE_receiveCommand reads them for src/net: the PDV fragments are handed
// one by one to a DcmInputBufferStream and parsed as Implicit VR Little
// Endian into a DcmDataset. The fields src/net acts on (CommandField,
// MessageID, AffectedSOPClassUID, MoveDestination, ...) are then read and
// put through the same pure rules association.cpp applies
// (net::detail::classify_abstract_syntax, trim_ae, error_comment).
// First input byte: number of PDV fragments (1..4) the rest is split into.
// DCMTK itself is not instrumented: coverage feedback comes from our code
// only, ASan sees DCMTK's heap through its allocator interceptors.
#include <cstdint>
#include <string>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/oflog/oflog.h>

#include "dicom/inspect.h"
#include "fuzz_common.h"
#include "net/negotiation.h"

// Open finding (docs/robustness.md, regressions/fuzz_dimse_command/dcmtk_*):
// DCMTK allocates an element's declared length before reading it, so a
// length near 4 GiB in a 100-byte command costs a 4 GiB allocation (an OOM
// report, or a timeout while ASan maps shadow memory). Until that is bounded,
// allocations over 512 MiB fail here (new(nothrow) returns null, DCMTK
// answers EC_MemoryExhausted), so the target keeps exploring everything else.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1:max_allocation_size_mb=512"; }

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tresor::dicom::init_globals();
  OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tresor::net::detail;
  if (size < 1 || size > 65536) return -1;
  const std::size_t fragments = 1 + data[0] % 4;
  const std::uint8_t* body = data + 1;
  const std::size_t n = size - 1;
  const std::size_t step = n / fragments + 1;

  DcmDataset cmd;
  DcmInputBufferStream stream;
  cmd.transferInit();
  OFCondition cond = EC_Normal;
  for (std::size_t at = 0; at < n || at == 0; at += step) {
    const std::size_t len = std::min(step, n - at);
    stream.setBuffer(body + at, static_cast<offile_off_t>(len));
    if (at + len >= n) stream.setEos();
    cond = cmd.read(stream, EXS_LittleEndianImplicit, EGL_noChange, DCM_MaxReadLength);
    stream.releaseBuffer();
    if (cond != EC_StreamNotifyClient) break;
    if (at + len >= n) break;
  }
  cmd.transferEnd();
  if (cond.bad()) return 0;

  Uint16 command = 0, message_id = 0, priority = 0, data_set_type = 0;
  (void)cmd.findAndGetUint16(DCM_CommandField, command);
  (void)cmd.findAndGetUint16(DCM_MessageID, message_id);
  (void)cmd.findAndGetUint16(DCM_Priority, priority);
  (void)cmd.findAndGetUint16(DCM_CommandDataSetType, data_set_type);
  OFString sop_class, sop_instance, move_destination, originator, comment;
  (void)cmd.findAndGetOFString(DCM_AffectedSOPClassUID, sop_class);
  (void)cmd.findAndGetOFString(DCM_AffectedSOPInstanceUID, sop_instance);
  (void)cmd.findAndGetOFStringArray(DCM_MoveDestination, move_destination);
  (void)cmd.findAndGetOFStringArray(DCM_MoveOriginatorApplicationEntityTitle, originator);
  (void)cmd.findAndGetOFStringArray(DCM_ErrorComment, comment);

  const bool storage = dcmIsaStorageSOPClassUID(sop_class.c_str(), ESSC_All);
  const ContextKind kind = classify_abstract_syntax(sop_class.c_str(), storage);
  (void)operation_for(kind);
  (void)query_model_of(sop_class.c_str());
  (void)tresor::dicom::is_valid_uid(sop_instance.c_str());
  const std::string ae = trim_ae(std::string_view(move_destination.c_str(), move_destination.length()));
  TRESOR_FUZZ_CHECK(ae.size() <= move_destination.length());
  for (char c : ae) TRESOR_FUZZ_CHECK(c >= 0x20 && c < 0x7f && c != '\\');
  const std::string ec = error_comment(std::string_view(comment.c_str(), comment.length()));
  TRESOR_FUZZ_CHECK(ec.size() <= 64);
  return 0;
}
