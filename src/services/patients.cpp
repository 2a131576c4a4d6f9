// Administrative correction of a patient's demographics (see services.h,
// PatientService): checked, applied to the patient row, audited with the old
// and new values.
#include <string>
#include <string_view>

#include "services/services.h"

namespace tresor::services {

namespace {

// No backslash (the DICOM value separator) and nothing outside printable ASCII.
bool plain_ascii(std::string_view v) {
  for (char c : v)
    if (c < 0x20 || c > 0x7E || c == '\\') return false;
  return true;
}

// PatientID / IssuerOfPatientID (LO): at most 64 characters.
bool valid_lo(std::string_view v) { return v.size() <= 64 && plain_ascii(v); }

// One alphabetic component group of a PN, in the default character repertoire:
// at most 64 characters and five components. Ideographic and phonetic groups
// (after '=') need another character set, which this action does not set.
Status check_name(std::string_view v) {
  if (v.size() > 64) return fail(Errc::invalid_argument, "PatientName is longer than 64 characters");
  if (!plain_ascii(v) || v.find('=') != std::string_view::npos)
    return fail(Errc::invalid_argument,
                "PatientName must be printable ASCII without '=' or '\\' (one alphabetic component group)");
  std::size_t carets = 0;
  for (char c : v) carets += c == '^';
  if (carets > 4) return fail(Errc::invalid_argument, "PatientName has more than five components");
  return {};
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// DA: YYYYMMDD (a real calendar date) or empty.
Status check_date(std::string_view v) {
  if (v.empty()) return {};
  auto bad = [] { return fail(Errc::invalid_argument, "PatientBirthDate must be YYYYMMDD or empty"); };
  if (v.size() != 8) return bad();
  for (char c : v)
    if (c < '0' || c > '9') return bad();
  auto num = [&](std::size_t at, std::size_t n) {
    int x = 0;
    for (std::size_t i = at; i < at + n; ++i) x = x * 10 + (v[i] - '0');
    return x;
  };
  const int y = num(0, 4), m = num(4, 2), d = num(6, 2);
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || m < 1 || m > 12 || d < 1) return bad();
  if (d > kDays[m - 1] + (m == 2 && leap(y) ? 1 : 0)) return bad();
  return {};
}

Status check_sex(std::string_view v) {
  if (v.empty() || v == "M" || v == "F" || v == "O") return {};
  return fail(Errc::invalid_argument, "PatientSex must be M, F, O or empty");
}

Status check(const PatientUpdate& u) {
  if (u.patient_id.empty() || !valid_lo(u.patient_id))
    return fail(Errc::invalid_argument, "PatientID must be 1..64 printable ASCII characters without '\\'");
  if (!valid_lo(u.issuer))
    return fail(Errc::invalid_argument, "IssuerOfPatientID must be at most 64 printable ASCII characters without '\\'");
  const auto& c = u.change;
  if (!c.name && !c.birth_date && !c.sex)
    return fail(Errc::invalid_argument, "nothing to change: give a name, a birth date or a sex");
  if (c.name)
    if (auto s = check_name(*c.name); !s) return s;
  if (c.birth_date)
    if (auto s = check_date(*c.birth_date); !s) return s;
  if (c.sex)
    if (auto s = check_sex(*c.sex); !s) return s;
  return {};
}

} // namespace

PatientService::PatientService(index::Index& index, audit::AuditSink& audit) : index_(index), audit_(audit) {}

Status PatientService::update(const Principal& principal, const PatientUpdate& u) {
  audit::Event e;
  e.type = audit::Type::admin;
  e.actor = principal.name;
  e.user = principal.user;
  e.source = principal.source;
  e.patient_id = u.patient_id;
  e.reason = "patient.update";
  e.details.emplace_back("action", "patient.update");
  if (!u.issuer.empty()) e.details.emplace_back("issuer", u.issuer);
  if (!principal.may(Operation::admin)) {
    e.outcome = audit::Outcome::denied;
    e.reason = "patient.update: admin permission required";
    audit_.record(e);
    return fail(Errc::permission_denied, "changing a patient's demographics requires the admin permission");
  }
  if (auto s = check(u); !s) {
    e.outcome = audit::Outcome::failure;
    e.reason = "patient.update: " + s.error().message;
    audit_.record(e);
    return s;
  }
  auto old = index_.update_patient(u.patient_id, u.issuer, u.change);
  if (!old) {
    e.outcome = audit::Outcome::failure;
    e.reason = "patient.update: " + old.error().message;
    audit_.record(e);
    return std::unexpected(old.error());
  }
  // The values go to the audit trail only.
  auto changed = [&](const char* what, const std::optional<std::string>& now, const std::string& before) {
    if (!now) return;
    e.details.emplace_back(std::string(what) + ".old", before);
    e.details.emplace_back(std::string(what) + ".new", *now);
  };
  changed("PatientName", u.change.name, old->name);
  changed("PatientBirthDate", u.change.birth_date, old->birth_date);
  changed("PatientSex", u.change.sex, old->sex);
  e.outcome = audit::Outcome::success;
  audit_.record(e);
  return {};
}

} // namespace tresor::services
