// PS3.15 A.5 audit messages (dicom_xml.h). The mapping of Tresor's event
// types to A.5.3 messages is tabled in docs/conformance.md ("Audit messages").
// Codes: EventID CID 400, EventTypeCode CID 401/403, RoleIDCode CID 402,
// ParticipantObjectIDTypeCode CID 404 and RFC 3881; element order as the
// A.5.1 schema requires.
#include "audit/dicom_xml.h"

#include <string_view>
#include <vector>

#include "audit/trail_codec.h"

namespace tresor::audit {
namespace {

struct Code {
  const char* code;
  const char* system;
  const char* meaning;
};

constexpr Code kApplicationActivity{"110100", "DCM", "Application Activity"};
constexpr Code kAuditLogUsed{"110101", "DCM", "Audit Log Used"};
constexpr Code kBeginTransferring{"110102", "DCM", "Begin Transferring DICOM Instances"};
constexpr Code kInstancesAccessed{"110103", "DCM", "DICOM Instances Accessed"};
constexpr Code kInstancesTransferred{"110104", "DCM", "DICOM Instances Transferred"};
constexpr Code kStudyDeleted{"110105", "DCM", "DICOM Study Deleted"};
constexpr Code kExport{"110106", "DCM", "Export"};
constexpr Code kImport{"110107", "DCM", "Import"};
constexpr Code kNetworkEntry{"110108", "DCM", "Network Entry"};
constexpr Code kPatientRecord{"110110", "DCM", "Patient Record"};
constexpr Code kQuery{"110112", "DCM", "Query"};
constexpr Code kSecurityAlert{"110113", "DCM", "Security Alert"};
constexpr Code kUserAuthentication{"110114", "DCM", "User Authentication"};

constexpr Code kApplicationStart{"110120", "DCM", "Application Start"};
constexpr Code kApplicationStop{"110121", "DCM", "Application Stop"};
constexpr Code kLogin{"110122", "DCM", "Login"};
constexpr Code kLogout{"110123", "DCM", "Logout"};
constexpr Code kAttach{"110124", "DCM", "Attach"};
constexpr Code kNodeAuthentication{"110126", "DCM", "Node Authentication"};
constexpr Code kSecurityConfiguration{"110129", "DCM", "Security Configuration"};
constexpr Code kRestrictedFunction{"110132", "DCM", "Use of Restricted Function"};

constexpr Code kApplication{"110150", "DCM", "Application"};
constexpr Code kApplicationLauncher{"110151", "DCM", "Application Launcher"};
constexpr Code kDestination{"110152", "DCM", "Destination Role ID"};
constexpr Code kSource{"110153", "DCM", "Source Role ID"};
constexpr Code kDestinationMedia{"110154", "DCM", "Destination Media"};
constexpr Code kSourceMedia{"110155", "DCM", "Source Media"};

constexpr Code kStudyInstanceUid{"110180", "DCM", "Study Instance UID"};
constexpr Code kSopClassUid{"110181", "DCM", "SOP Class UID"};
constexpr Code kNodeId{"110182", "DCM", "Node ID"};
constexpr Code kPatientNumber{"2", "RFC-3881", "Patient Number"};
constexpr Code kUri{"12", "RFC-3881", "URI"};

constexpr const char* kStudyRootFind = "1.2.840.10008.5.1.4.1.2.2.1";

std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') out += ' ';  // not allowed in XML 1.0
        else out += static_cast<char>(c);
    }
  }
  return out;
}

std::string code_element(const char* element, const Code& c) {
  return std::string("<") + element + " csd-code=\"" + c.code + "\" codeSystemName=\"" + c.system +
         "\" originalText=\"" + c.meaning + "\"/>";
}

std::string detail(const Event& e, std::string_view key) {
  for (const auto& [k, v] : e.details)
    if (k == key) return v;
  return {};
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t start = 0; start < s.size();) {
    std::size_t end = s.find('\\', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool is_ipv4_or_6(const std::string& s) {
  if (s.empty()) return false;
  bool digits_dots = true;
  for (char c : s) digits_dots = digits_dots && ((c >= '0' && c <= '9') || c == '.');
  return digits_dots || s.find(':') != std::string::npos;
}

struct Participant {
  std::string user_id, alternative, user_name, access_point;
  bool requestor = false;
  const Code* role = nullptr;
};

std::string participant_xml(const Participant& p) {
  std::string x = "<ActiveParticipant UserID=\"" + esc(p.user_id.empty() ? "unknown" : p.user_id) + "\"";
  if (!p.alternative.empty()) x += " AlternativeUserID=\"" + esc(p.alternative) + "\"";
  if (!p.user_name.empty()) x += " UserName=\"" + esc(p.user_name) + "\"";
  x += std::string(" UserIsRequestor=\"") + (p.requestor ? "true" : "false") + "\"";
  if (!p.access_point.empty())
    x += " NetworkAccessPointID=\"" + esc(p.access_point) + "\" NetworkAccessPointTypeCode=\"" +
         (is_ipv4_or_6(p.access_point) ? "2" : "1") + "\"";
  if (p.role == nullptr) return x + "/>";
  return x + ">" + code_element("RoleIDCode", *p.role) + "</ActiveParticipant>";
}

struct Object {
  std::string id;
  const char* type = "2";   // 1 person, 2 system object
  const char* role = "3";   // 1 patient, 3 report, 13 security resource, 24 query
  const char* life_cycle = nullptr;
  const Code* id_type = nullptr;
  std::string name;          // ParticipantObjectName, or:
  std::string query;         // ParticipantObjectQuery (base64)
  std::vector<std::pair<std::string, std::string>> details;  // ParticipantObjectDetail (value base64'd here)
  std::string description;   // inner XML of ParticipantObjectDescription
};

std::string object_xml(const Object& o) {
  std::string x = "<ParticipantObjectIdentification ParticipantObjectID=\"" + esc(o.id) +
                  "\" ParticipantObjectTypeCode=\"" + o.type + "\" ParticipantObjectTypeCodeRole=\"" + o.role + "\"";
  if (o.life_cycle) x += std::string(" ParticipantObjectDataLifeCycle=\"") + o.life_cycle + "\"";
  x += ">" + code_element("ParticipantObjectIDTypeCode", *o.id_type);
  if (!o.query.empty()) x += "<ParticipantObjectQuery>" + o.query + "</ParticipantObjectQuery>";
  else x += "<ParticipantObjectName>" + esc(o.name.empty() ? o.id : o.name) + "</ParticipantObjectName>";
  for (const auto& [k, v] : o.details)
    x += "<ParticipantObjectDetail type=\"" + esc(k) + "\" value=\"" + codec::base64(v) + "\"/>";
  if (!o.description.empty()) x += "<ParticipantObjectDescription>" + o.description + "</ParticipantObjectDescription>";
  return x + "</ParticipantObjectIdentification>";
}

struct Message {
  const Code* id = nullptr;
  const Code* type = nullptr;
  const char* action = "E";
  std::vector<Participant> participants;
  std::vector<Object> objects;
};

const char* outcome_indicator(Outcome o) {
  switch (o) {
    case Outcome::success: return "0";
    case Outcome::denied: return "4";   // minor failure: refused, e.g. a wrong password
    case Outcome::failure: return "8";  // serious failure: the action was terminated
  }
  return "8";
}

bool local(const Event& e) { return e.source.empty() || e.source == "local"; }

// The requesting user or peer.
Participant requestor(const Event& e, const Code* role) {
  Participant p;
  p.user_id = e.user.empty() ? e.actor : e.user;
  if (!e.user.empty() && !e.actor.empty() && e.actor != e.user) p.alternative = "AE=" + e.actor;
  p.access_point = local(e) ? "" : e.source;
  p.requestor = true;
  p.role = role;
  return p;
}

Participant archive(const XmlSource& s, const Code* role) {
  Participant p;
  p.user_id = s.archive_ae.empty() ? s.audit_source_id : s.archive_ae;
  p.access_point = s.archive_host;
  p.requestor = false;
  p.role = role;
  return p;
}

// The patient(s) and study(ies) the event names; `instances` (if any) goes in
// the study's description.
void add_patient_and_studies(const Event& e, Message& m, const std::string& instances, const char* life_cycle) {
  for (const std::string& study : split(e.study_uid)) {
    Object o;
    o.id = study;
    o.type = "2";
    o.role = "3";
    o.life_cycle = life_cycle;
    o.id_type = &kStudyInstanceUid;
    std::string desc;
    if (!instances.empty() && split(e.study_uid).size() == 1) {
      const std::string sop_class = detail(e, "sop_class_uid");
      desc += "<SOPClass";
      if (!sop_class.empty()) desc += " UID=\"" + esc(sop_class) + "\"";
      desc += " NumberOfInstances=\"" + esc(instances) + "\">";
      if (!e.sop_uid.empty()) desc += "<Instance UID=\"" + esc(e.sop_uid) + "\"/>";
      desc += "</SOPClass>";
    }
    if (!e.series_uid.empty()) o.details.emplace_back("SeriesInstanceUID", e.series_uid);
    o.description = desc;
    m.objects.push_back(std::move(o));
  }
  for (const std::string& pid : split(e.patient_id)) {
    Object o;
    o.id = pid;
    o.type = "1";
    o.role = "1";
    o.id_type = &kPatientNumber;
    m.objects.push_back(std::move(o));
  }
}

std::string number_of_instances(const Event& e) {
  for (const char* key : {"instances", "completed", "sub_operations", "count"}) {
    const std::string v = detail(e, key);
    if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos) return v;
  }
  return e.sop_uid.empty() ? std::string() : std::string("1");
}

// A Security Alert's subject: the node or the setting concerned.
Object alert_subject(const Event& e, const XmlSource& s) {
  Object o;
  o.type = "2";
  o.role = "13";  // Security Resource
  o.id_type = local(e) ? &kUri : &kNodeId;
  o.id = local(e) ? "tresor:" + (s.archive_ae.empty() ? s.audit_source_id : s.archive_ae) : e.source;
  const std::string action = detail(e, "action");
  o.name = action.empty() ? o.id : action;
  if (!e.reason.empty()) o.details.emplace_back("Alert Description", e.reason);
  return o;
}

Message build(const Record& r, const XmlSource& s) {
  const Event& e = r.event;
  Message m;
  const bool http = detail(e, "protocol") == "http";
  switch (e.type) {
    case Type::association:
      if (e.outcome == Outcome::success) {
        m.id = &kNetworkEntry;
        m.type = &kAttach;
        m.participants = {requestor(e, &kSource), archive(s, &kDestination)};
      } else if (http) {  // a failed HTTP authentication
        m.id = &kUserAuthentication;
        m.type = &kLogin;
        m.participants = {requestor(e, nullptr), archive(s, nullptr)};
      } else {
        m.id = &kSecurityAlert;
        m.type = &kNodeAuthentication;
        m.participants = {requestor(e, nullptr), archive(s, nullptr)};
        m.objects.push_back(alert_subject(e, s));
      }
      break;
    case Type::store:
      if (local(e) || e.actor == "system") {  // tresor import
        m.id = &kImport;
        m.action = "C";
        m.participants = {requestor(e, nullptr), archive(s, &kDestination)};
        m.participants.push_back(Participant{"local files", "", "", "", false, &kSourceMedia});
      } else {
        m.id = &kInstancesTransferred;
        m.action = "C";
        m.participants = {requestor(e, &kSource), archive(s, &kDestination)};
      }
      add_patient_and_studies(e, m, number_of_instances(e), "2");
      break;
    case Type::query: {
      m.id = &kQuery;
      m.participants = {requestor(e, &kSource), archive(s, &kDestination)};
      Object q;
      q.id = detail(e, "sop_class_uid").empty() ? kStudyRootFind : detail(e, "sop_class_uid");
      q.type = "2";
      q.role = "24";  // Query
      q.id_type = &kSopClassUid;
      std::string keys;
      for (const auto& [k, v] : e.details) keys += k + "=" + v + "\n";
      q.query = codec::base64(keys);
      q.details.emplace_back("TransferSyntax", "1.2.840.10008.1.2");
      m.objects.push_back(std::move(q));
      for (const std::string& pid : split(e.patient_id)) {
        Object o;
        o.id = pid;
        o.type = "1";
        o.role = "1";
        o.id_type = &kPatientNumber;
        m.objects.push_back(std::move(o));
      }
      break;
    }
    case Type::retrieve:
    case Type::move: {
      // The located request is the beginning of the transfer; the record
      // with the sub-operation counts is its completion.
      const bool done = !detail(e, "sub_operations").empty();
      m.id = done ? &kInstancesTransferred : &kBeginTransferring;
      m.action = done ? "R" : "E";
      Participant dest = requestor(e, &kDestination);
      const std::string move_dest = detail(e, "destination");
      if (e.type == Type::move && !move_dest.empty()) {
        m.participants = {archive(s, &kSource), Participant{move_dest, "", "", "", false, &kDestination}};
        dest.role = nullptr;  // the C-MOVE requestor is neither source nor destination
        m.participants.push_back(dest);
      } else {
        m.participants = {archive(s, &kSource), dest};
      }
      add_patient_and_studies(e, m, number_of_instances(e), "6");
      break;
    }
    case Type::access:
    case Type::commitment:
      m.id = &kInstancesAccessed;
      m.action = "R";
      m.participants = {requestor(e, nullptr), archive(s, nullptr)};
      add_patient_and_studies(e, m, number_of_instances(e), "6");
      break;
    case Type::quarantine: {
      const std::string action = detail(e, "action");
      m.id = &kPatientRecord;
      m.action = action == "released" ? "U" : action == "dropped" ? "D" : "C";
      m.participants = {requestor(e, nullptr), archive(s, nullptr)};
      add_patient_and_studies(e, m, e.sop_uid.empty() ? "" : "1", action == "dropped" ? "14" : "2");
      break;
    }
    case Type::security_alert:
      m.id = &kSecurityAlert;
      m.type = &kNodeAuthentication;
      if (detail(e, "available_bytes").size() > 0) m.type = &kRestrictedFunction;  // audit disk nearly full
      m.participants = {requestor(e, nullptr), archive(s, nullptr)};
      m.objects.push_back(alert_subject(e, s));
      break;
    case Type::admin:
      m.id = &kSecurityAlert;
      m.type = &kSecurityConfiguration;
      m.participants = {requestor(e, nullptr), archive(s, nullptr)};
      m.objects.push_back(alert_subject(e, s));
      add_patient_and_studies(e, m, "", nullptr);
      break;
    case Type::application_activity: {
      m.id = &kApplicationActivity;
      m.type = e.reason.find("Stop") != std::string::npos || e.reason.find("stop") != std::string::npos
                   ? &kApplicationStop
                   : &kApplicationStart;
      Participant app = archive(s, &kApplication);
      app.alternative = detail(e, "pid");
      m.participants = {app};
      if (!e.user.empty()) m.participants.push_back(Participant{e.user, "", "", "", true, &kApplicationLauncher});
      break;
    }
    case Type::audit_log_used: {
      m.id = &kAuditLogUsed;
      m.action = "R";
      m.participants = {requestor(e, nullptr), archive(s, nullptr)};
      Object log;
      log.id = "tresor:" + (s.archive_ae.empty() ? s.audit_source_id : s.archive_ae) + ":audit";
      log.type = "2";
      log.role = "13";
      log.id_type = &kUri;
      log.name = "Security Audit Log";
      m.objects.push_back(std::move(log));
      break;
    }
    case Type::authentication:
      m.id = &kUserAuthentication;
      m.type = e.reason.find("logout") != std::string::npos ? &kLogout : &kLogin;
      m.participants = {requestor(e, nullptr), archive(s, nullptr)};
      break;
    case Type::data_export: {
      m.id = &kExport;
      m.action = "R";
      m.participants = {requestor(e, nullptr), archive(s, &kSource)};
      const std::string media = detail(e, "destination").empty() ? detail(e, "to") : detail(e, "destination");
      m.participants.push_back(Participant{media.empty() ? "export" : media, "", "", "", false, &kDestinationMedia});
      add_patient_and_studies(e, m, number_of_instances(e), "10");
      break;
    }
    case Type::deletion:
      m.id = &kStudyDeleted;
      m.action = "D";
      m.participants = {requestor(e, nullptr), archive(s, nullptr)};
      add_patient_and_studies(e, m, number_of_instances(e), "15");
      break;
    case Type::patient_record:
      m.id = &kPatientRecord;
      m.action = detail(e, "action").find("re-identif") != std::string::npos ? "R" : "U";
      m.participants = {requestor(e, nullptr), archive(s, nullptr)};
      add_patient_and_studies(e, m, "", "3");
      break;
  }
  return m;
}

} // namespace

std::string to_dicom_xml(const Record& record, const XmlSource& source) {
  const Message m = build(record, source);
  const Event& e = record.event;
  std::string x = "<AuditMessage><EventIdentification EventActionCode=\"";
  x += m.action;
  x += "\" EventDateTime=\"" + esc(record.time) + "\" EventOutcomeIndicator=\"" + outcome_indicator(e.outcome) + "\">";
  x += code_element("EventID", *m.id);
  if (m.type) x += code_element("EventTypeCode", *m.type);
  if (e.outcome != Outcome::success && !e.reason.empty())
    x += "<EventOutcomeDescription>" + esc(e.reason) + "</EventOutcomeDescription>";
  x += "</EventIdentification>";
  for (const Participant& p : m.participants) x += participant_xml(p);
  x += "<AuditSourceIdentification";
  if (!source.enterprise_site.empty()) x += " AuditEnterpriseSiteID=\"" + esc(source.enterprise_site) + "\"";
  x += " AuditSourceID=\"" + esc(source.audit_source_id.empty() ? "TRESOR" : source.audit_source_id) +
       "\"><AuditSourceTypeCode csd-code=\"4\"/></AuditSourceIdentification>";
  for (const Object& o : m.objects) x += object_xml(o);
  x += "</AuditMessage>";
  return x;
}

} // namespace tresor::audit
