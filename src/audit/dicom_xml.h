// PS3.15 A.5 DICOM audit messages (the XML that leaves the machine, e.g. to an
// ATNA audit record repository over syslog). Contract: one <AuditMessage>
// element per record, valid against the PS3.15 A.5.1 schema: EventIdentification
// (EventID and EventTypeCode from A.5.3 for the record's Type, EventActionCode,
// EventDateTime, EventOutcomeIndicator 0/4/8/12), ActiveParticipant (the user or
// peer with UserIsRequestor, the archive itself, NetworkAccessPointID of the
// source), AuditSourceIdentification, and ParticipantObjectIdentification for
// the patient and the study (with the SOP class / instance counts in
// ParticipantObjectDescription) and for queries (the query keys, base64).
#pragma once
#include <string>

#include "audit/trail.h"

namespace tresor::audit {

struct XmlSource {
  std::string audit_source_id;  // e.g. the archive's AE title
  std::string enterprise_site;  // optional
  std::string archive_ae;       // the archive as a participant (UserID)
  std::string archive_host;     // its NetworkAccessPointID
};

std::string to_dicom_xml(const Record& record, const XmlSource& source);

} // namespace tresor::audit
