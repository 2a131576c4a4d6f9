// Process-wide DCMTK set-up (codecs, parser flags, log level). Must run before
// any thread uses DCMTK; idempotent.
#include <mutex>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcobject.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmdata/dcvr.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpeg/djencode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/dcmjpls/djencode.h>
#include <dcmtk/oflog/oflog.h>

#include "dicom/inspect.h"

namespace tresor::dicom {

void init_globals() {
  static std::once_flag once;
  std::call_once(once, [] {
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
    // Encoders for transcode() (web.h): JPEG lossless, JPEG-LS lossless and
    // RLE targets; lossy targets are refused there. Defaults keep the SOP
    // Instance UID for lossless encodings.
    DJEncoderRegistration::registerCodecs();
    DJLSEncoderRegistration::registerCodecs();
    DcmRLEEncoderRegistration::registerCodecs();

    // Pin the parser behaviour that the pre-scan (prescan.cpp) mirrors: strict
    // parsing, CP-246 UN sequences, VR from the data set, no silent repairs
    // that change how nesting is read.
    dcmIgnoreParsingErrors.set(OFFalse);
    dcmEnableCP246Support.set(OFTrue);
    dcmAutoDetectDatasetXfer.set(OFFalse);
    dcmAcceptUnexpectedImplicitEncoding.set(OFFalse);
    dcmPreferVRFromDataDictionary.set(OFFalse);
    dcmPreferLengthFieldSizeFromDataDictionary.set(OFFalse);
    dcmConvertVOILUTSequenceOWtoSQ.set(OFFalse);
    dcmReadImplPrivAttribMaxLengthAsSQ.set(OFFalse);
    dcmConvertUndefinedLengthOBOWtoSQ.set(OFFalse);
    dcmEnableUnknownVRConversion.set(OFFalse);
    dcmStopParsingAfterElement.set(DCM_UndefinedTagKey);

    // Parser warnings about hostile or sloppy input are expected and noisy;
    // the refusal reason reaches the caller as an Error.
    OFLog::getLogger("dcmtk.dcmdata").setLogLevel(OFLogger::ERROR_LOG_LEVEL);
  });
}

} // namespace tresor::dicom
