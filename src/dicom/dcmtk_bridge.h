// Conversions between DCMTK data sets and the protocol-neutral model, for
// net/ (and later http/). Includes DCMTK headers: only dicom/ and net/ may
// include this file.
// Contract:
//  - parse_query(): reads a C-FIND / C-GET / C-MOVE identifier. The level comes
//    from QueryRetrieveLevel (0008,0052) (missing/invalid -> invalid_argument);
//    every other top-level element becomes an Attr (its string value, empty =
//    return key); sequences and binary VRs are ignored; SpecificCharacterSet is
//    kept. Values longer than 64 KiB or more than 256 keys -> invalid_argument.
//  - build_response(): a C-FIND response identifier holding each Attr of the
//    row with the dictionary VR, plus QueryRetrieveLevel, SpecificCharacterSet
//    (if given) and RetrieveAETitle (if given).
#pragma once
#include <string>
#include <dcmtk/dcmdata/dcdatset.h>
#include "core/error.h"
#include "core/model.h"

namespace tresor::dicom {

Result<QueryRequest> parse_query(DcmDataset& identifier, QueryModel model);

Result<void> build_response(const ResultRow& row, Level level, const std::string& retrieve_ae,
                            DcmDataset& out);

} // namespace tresor::dicom
