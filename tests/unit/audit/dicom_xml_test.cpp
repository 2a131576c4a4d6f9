// PS3.15 A.5 audit messages: every event type becomes an <AuditMessage> that
// validates against the A.5.1 schema (xmllint --relaxng, RELAX NG XML form of
// the standard's schema in tests/unit/audit/data) with the A.5.3 codes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "audit/dicom_xml.h"

using namespace tresor;
namespace fs = std::filesystem;

namespace {

const fs::path kSchema = fs::path(TRESOR_TEST_DATA).parent_path() / "unit" / "audit" / "data" / "audit-message.rng";

audit::XmlSource source() { return {"TRESOR_A", "Hospital", "TRESOR_A", "pacs.example.org"}; }

audit::Record record(audit::Type type, audit::Outcome outcome = audit::Outcome::success) {
  audit::Record r;
  r.seq = 7;
  r.time = "2026-12-07T21:52:19.123Z";
  r.hash = std::string(64, 'a');
  r.event.type = type;
  r.event.outcome = outcome;
  r.event.actor = "VIEWER";
  r.event.user = "alice";
  r.event.source = "10.1.2.3";
  r.event.patient_id = "PAT<&>1";
  r.event.study_uid = "1.2.3.4";
  return r;
}

// xmllint's verdict on `xml` against the schema ("" = valid).
std::string validate(const std::string& xml) {
  static int n = 0;
  const fs::path file = fs::temp_directory_path() / ("tresor-xml-" + std::to_string(::getpid()) + "-" + std::to_string(++n) + ".xml");
  const fs::path out = file.string() + ".out";
  { std::ofstream(file) << xml; }
  const std::string cmd = "xmllint --noout --relaxng '" + kSchema.string() + "' '" + file.string() + "' >'" +
                          out.string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(file);
  fs::remove(out);
  return rc == 0 ? std::string() : text + "\n" + xml;
}

bool has(const std::string& xml, const std::string& part) { return xml.find(part) != std::string::npos; }

} // namespace

TEST(DicomAuditXml, TheSchemaValidatorIsThereAndRejectsAnInvalidMessage) {
  ASSERT_EQ(std::system("xmllint --version >/dev/null 2>&1"), 0) << "xmllint (libxml2-utils) is needed";
  ASSERT_TRUE(fs::exists(kSchema)) << kSchema;
  EXPECT_NE(validate("<AuditMessage><EventIdentification/></AuditMessage>"), "");
  EXPECT_NE(validate("<AuditMessage>"), "");  // not even well-formed
}

TEST(DicomAuditXml, EveryEventTypeGivesAValidMessageWithItsEventId) {
  const std::pair<audit::Type, const char*> expected[] = {
      {audit::Type::association, "110108"},          {audit::Type::store, "110104"},
      {audit::Type::query, "110112"},                {audit::Type::retrieve, "110102"},
      {audit::Type::move, "110102"},                 {audit::Type::commitment, "110103"},
      {audit::Type::quarantine, "110110"},           {audit::Type::security_alert, "110113"},
      {audit::Type::admin, "110113"},                {audit::Type::application_activity, "110100"},
      {audit::Type::audit_log_used, "110101"},       {audit::Type::authentication, "110114"},
      {audit::Type::access, "110103"},               {audit::Type::data_export, "110106"},
      {audit::Type::deletion, "110105"},             {audit::Type::patient_record, "110110"},
  };
  static_assert(std::size(expected) == static_cast<std::size_t>(audit::Type::patient_record) + 1);
  for (const auto& [type, id] : expected) {
    for (auto outcome : {audit::Outcome::success, audit::Outcome::failure, audit::Outcome::denied}) {
      auto r = record(type, outcome);
      r.event.reason = "why <it> failed & more";
      r.event.details = {{"instances", "40"}, {"action", "x"}};
      const std::string xml = audit::to_dicom_xml(r, source());
      SCOPED_TRACE(std::string(audit::to_string(type)) + "/" + audit::to_string(outcome));
      EXPECT_EQ(validate(xml), "");
      // A refused association is a Security Alert (Node Authentication), an accepted one a Network Entry.
      const std::string want =
          type == audit::Type::association && outcome != audit::Outcome::success ? "110113" : id;
      EXPECT_TRUE(has(xml, "<EventID csd-code=\"" + want + "\" codeSystemName=\"DCM\"")) << xml;
      EXPECT_TRUE(has(xml, "EventDateTime=\"2026-12-07T21:52:19.123Z\"")) << xml;
      EXPECT_TRUE(has(xml, std::string("EventOutcomeIndicator=\"") +
                               (outcome == audit::Outcome::success ? "0" : outcome == audit::Outcome::denied ? "4" : "8")))
          << xml;
      EXPECT_TRUE(has(xml, "<AuditSourceIdentification AuditEnterpriseSiteID=\"Hospital\" AuditSourceID=\"TRESOR_A\""))
          << xml;
      EXPECT_FALSE(has(xml, "PAT<&>1")) << "unescaped: " << xml;
    }
  }
}

TEST(DicomAuditXml, AViewerAccessNamesTheUserThePatientAndTheStudyWithItsInstanceCount) {
  auto r = record(audit::Type::access);
  r.event.details = {{"instances", "40"}, {"requests", "41"}};
  const std::string xml = audit::to_dicom_xml(r, source());
  EXPECT_EQ(validate(xml), "");
  EXPECT_TRUE(has(xml, R"(<ActiveParticipant UserID="alice" AlternativeUserID="AE=VIEWER" UserIsRequestor="true" NetworkAccessPointID="10.1.2.3" NetworkAccessPointTypeCode="2"/>)")) << xml;
  EXPECT_TRUE(has(xml, R"(ParticipantObjectID="1.2.3.4" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="3")")) << xml;
  EXPECT_TRUE(has(xml, R"(<ParticipantObjectIDTypeCode csd-code="110180" codeSystemName="DCM" originalText="Study Instance UID"/>)")) << xml;
  EXPECT_TRUE(has(xml, R"(NumberOfInstances="40")")) << xml;
  EXPECT_TRUE(has(xml, R"(ParticipantObjectID="PAT&lt;&amp;&gt;1" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1")")) << xml;
  EXPECT_TRUE(has(xml, R"(<ParticipantObjectIDTypeCode csd-code="2" codeSystemName="RFC-3881" originalText="Patient Number"/>)")) << xml;
}

TEST(DicomAuditXml, AQueryCarriesItsKeysInBase64AndTheRolesOfBothEnds) {
  auto r = record(audit::Type::query);
  r.event.details = {{"level", "STUDY"}, {"(0010,0010)", "DOE^<JANE>"}};
  const std::string xml = audit::to_dicom_xml(r, source());
  EXPECT_EQ(validate(xml), "");
  EXPECT_TRUE(has(xml, "<ParticipantObjectQuery>")) << xml;
  EXPECT_FALSE(has(xml, "JANE")) << "query keys must be base64: " << xml;
  EXPECT_TRUE(has(xml, R"(csd-code="110153" codeSystemName="DCM" originalText="Source Role ID")")) << xml;
  EXPECT_TRUE(has(xml, R"(csd-code="110152" codeSystemName="DCM" originalText="Destination Role ID")")) << xml;
  EXPECT_TRUE(has(xml, R"(csd-code="110181" codeSystemName="DCM" originalText="SOP Class UID")")) << xml;
}

TEST(DicomAuditXml, EventTypeCodesFollowTheAction) {
  auto start = record(audit::Type::application_activity);
  start.event.reason = "Application Start";
  EXPECT_TRUE(has(audit::to_dicom_xml(start, source()), R"(<EventTypeCode csd-code="110120")"));
  start.event.reason = "Application Stop";
  EXPECT_TRUE(has(audit::to_dicom_xml(start, source()), R"(<EventTypeCode csd-code="110121")"));
  auto login = record(audit::Type::authentication);
  login.event.reason = "login";
  EXPECT_TRUE(has(audit::to_dicom_xml(login, source()), R"(<EventTypeCode csd-code="110122")"));
  login.event.reason = "logout";
  EXPECT_TRUE(has(audit::to_dicom_xml(login, source()), R"(<EventTypeCode csd-code="110123")"));
  auto admin = record(audit::Type::admin);
  EXPECT_TRUE(has(audit::to_dicom_xml(admin, source()), R"(<EventTypeCode csd-code="110129")"));
  auto refused = record(audit::Type::association, audit::Outcome::denied);
  EXPECT_TRUE(has(audit::to_dicom_xml(refused, source()), R"(<EventID csd-code="110113")"));
  EXPECT_TRUE(has(audit::to_dicom_xml(refused, source()), R"(<EventTypeCode csd-code="110126")"));
  auto transferred = record(audit::Type::retrieve);
  transferred.event.details = {{"sub_operations", "3"}, {"completed", "3"}};
  const std::string xml = audit::to_dicom_xml(transferred, source());
  EXPECT_EQ(validate(xml), "");
  EXPECT_TRUE(has(xml, R"(<EventID csd-code="110104")")) << xml;
  EXPECT_TRUE(has(xml, R"(EventActionCode="R")")) << xml;
  auto deleted = record(audit::Type::deletion);
  EXPECT_TRUE(has(audit::to_dicom_xml(deleted, source()), R"(EventActionCode="D")"));
}
