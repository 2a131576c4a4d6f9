#include "audit/report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

namespace tresor::audit {
namespace {

bool list_has(std::string_view list, std::string_view id) {
  if (id.empty()) return false;
  for (std::size_t start = 0; start <= list.size();) {
    const std::size_t end = std::min(list.find('\\', start), list.size());
    if (list.substr(start, end - start) == id) return true;
    start = end + 1;
  }
  return false;
}

std::string detail_of(const Event& e, std::string_view key) {
  for (const auto& [k, v] : e.details)
    if (k == key) return v;
  return {};
}

// The kinds of event a "who saw what" report lists, and their names.
const char* kind(Type t) {
  switch (t) {
    case Type::query: return "query";
    case Type::retrieve: return "retrieve";
    case Type::move: return "move (sent to another node)";
    case Type::access: return "viewer session";
    case Type::data_export: return "export";
    case Type::deletion: return "deletion";
    case Type::patient_record: return "patient record change";
    case Type::audit_log_used: return "audit trail read";
    default: return nullptr;
  }
}

bool concerns(const Event& e, const std::string& patient) {
  if (list_has(e.patient_id, patient)) return true;
  return e.type == Type::query && list_has(detail_of(e, "result_patients"), patient);
}

bool admitted(const Event& e, const StudyFilter& admit) {
  if (!admit) return true;
  if (e.study_uid.empty()) return false;
  for (std::size_t start = 0; start <= e.study_uid.size();) {
    const std::size_t end = std::min(e.study_uid.find('\\', start), e.study_uid.size());
    if (!admit(e.study_uid.substr(start, end - start))) return false;
    start = end + 1;
  }
  return true;
}

ReportEntry entry_of(const Record& r) {
  const Event& e = r.event;
  ReportEntry out;
  out.seq = r.seq;
  out.time = r.time;
  out.type = e.type;
  out.outcome = e.outcome;
  out.what = kind(e.type);
  out.actor = e.actor;
  out.user = e.user;
  out.source = e.source;
  out.study_uid = e.study_uid;
  for (const char* key : {"instances", "matches", "count", "objects"}) {
    out.count = detail_of(e, key);
    if (!out.count.empty()) break;
  }
  std::vector<std::string> parts;
  for (const char* key : {"level", "destination", "action", "reason", "project", "profile"}) {
    std::string v = detail_of(e, key);
    if (!v.empty() && v.size() <= 200) parts.push_back(std::string(key) + " " + v);
  }
  if (e.outcome != Outcome::success && !e.reason.empty()) parts.push_back(e.reason.substr(0, 200));
  for (std::size_t i = 0; i < parts.size(); ++i) out.detail += (i ? "; " : "") + parts[i];
  return out;
}

void account(std::vector<ReportParty>& parties, const ReportEntry& e) {
  if (e.outcome != Outcome::success) return;
  auto it = std::ranges::find_if(parties, [&](const ReportParty& p) {
    return p.actor == e.actor && p.user == e.user && p.source == e.source;
  });
  if (it == parties.end()) {
    parties.push_back(ReportParty{e.actor, e.user, e.source, {}, e.time, e.time});
    it = parties.end() - 1;
  }
  ++it->accesses[e.what];
  it->last = e.time;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string period(const ReportQuery& q) {
  if (q.since.empty() && q.until.empty()) return "whole audit trail";
  return (q.since.empty() ? std::string("start of the trail") : q.since) + " to " +
         (q.until.empty() ? std::string("now") : q.until);
}

std::string who(const std::string& actor, const std::string& user) {
  if (user.empty() || user == actor) return actor;
  return user + " (via " + actor + ")";
}

} // namespace

bool valid_time_bound(std::string_view t) noexcept {
  return t.size() <= 40 && std::ranges::all_of(t, [](char c) {
           return (c >= '0' && c <= '9') || c == '-' || c == ':' || c == '.' || c == 'T' || c == 'Z';
         });
}

Result<Report> build_report(TrailReader& reader, const ReportQuery& query, const Requester& requester,
                            AuditSink& audit, const Clock& clock, const StudyFilter& admit, std::size_t max_entries) {
  Report report;
  report.query = query;
  report.generated = to_rfc3339(clock.now());
  Status status;
  if (query.patient_id.empty()) {
    status = fail(Errc::invalid_argument, "a patient ID is required");
  } else if (!valid_time_bound(query.since) || !valid_time_bound(query.until)) {
    status = fail(Errc::invalid_argument, "since and until must be RFC 3339 UTC times such as 2026-11-28T00:00:00Z");
  } else {
    for (;;) {
      auto next = reader.next();
      if (!next) {
        status = std::unexpected(next.error());
        break;
      }
      if (!*next) break;
      ++report.records_read;
      const Record& r = **next;
      if (!kind(r.event.type) || !concerns(r.event, query.patient_id)) continue;
      if (!query.since.empty() && r.time < query.since) continue;
      if (!query.until.empty() && r.time >= query.until) continue;
      if (!admitted(r.event, admit)) continue;
      if (report.entries.size() >= max_entries) {
        report.truncated = true;
        continue;
      }
      report.entries.push_back(entry_of(r));
      account(report.parties, report.entries.back());
    }
  }

  Event used;
  used.type = Type::audit_log_used;
  used.outcome = status ? Outcome::success : Outcome::failure;
  used.actor = requester.actor;
  used.user = requester.user;
  used.source = requester.source;
  used.patient_id = query.patient_id;
  used.reason = status ? "who-saw-what report" : status.error().message;
  used.details.emplace_back("action", "audit.report");
  if (!query.since.empty()) used.details.emplace_back("since", query.since);
  if (!query.until.empty()) used.details.emplace_back("until", query.until);
  used.details.emplace_back("entries", std::to_string(report.entries.size()));
  if (admit) used.details.emplace_back("scoped", "true");
  audit.record(used);
  if (!status) return std::unexpected(status.error());
  return report;
}

std::string report_json(const Report& r) {
  using nlohmann::json;
  json entries = json::array();
  for (const ReportEntry& e : r.entries) {
    json o{{"seq", e.seq},     {"time", e.time},       {"type", to_string(e.type)}, {"outcome", to_string(e.outcome)},
           {"what", e.what},   {"actor", e.actor},     {"user", e.user},            {"source", e.source},
           {"study_uid", e.study_uid}, {"count", e.count}, {"detail", e.detail}};
    entries.push_back(std::move(o));
  }
  json parties = json::array();
  for (const ReportParty& p : r.parties)
    parties.push_back(json{{"actor", p.actor}, {"user", p.user}, {"source", p.source}, {"accesses", p.accesses},
                           {"first", p.first}, {"last", p.last}});
  json out{{"patient_id", r.query.patient_id},
           {"since", r.query.since},
           {"until", r.query.until},
           {"generated", r.generated},
           {"records_read", r.records_read},
           {"truncated", r.truncated},
           {"parties", parties},
           {"entries", entries}};
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string report_text(const Report& r) {
  std::ostringstream out;
  out << "Accesses to the data of patient " << r.query.patient_id << " (" << period(r.query) << ")\n"
      << "generated " << r.generated << " from " << r.records_read << " audit records\n\n";
  out << "Who (" << r.parties.size() << "):\n";
  for (const ReportParty& p : r.parties) {
    out << "  " << who(p.actor, p.user) << " from " << (p.source.empty() ? "-" : p.source) << ":";
    bool first = true;
    for (const auto& [what, n] : p.accesses) {
      out << (first ? " " : ", ") << n << " x " << what;
      first = false;
    }
    out << " (" << p.first << " .. " << p.last << ")\n";
  }
  out << "\nEvents (" << r.entries.size() << (r.truncated ? ", truncated" : "") << "):\n";
  for (const ReportEntry& e : r.entries) {
    out << e.time << "  #" << e.seq << "  " << e.what;
    if (e.outcome != Outcome::success) out << " [" << to_string(e.outcome) << "]";
    out << "  by " << who(e.actor, e.user) << " from " << (e.source.empty() ? "-" : e.source);
    if (!e.count.empty()) out << "  count " << e.count;
    if (!e.study_uid.empty()) out << "  study " << e.study_uid;
    if (!e.detail.empty()) out << "  (" << e.detail << ")";
    out << '\n';
  }
  return out.str();
}

std::string report_html(const Report& r) {
  const std::string title = "Access report: patient " + html_escape(r.query.patient_id) + ", " + html_escape(period(r.query));
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" << title << "</title>\n"
      << "<style>\n"
         "body{font:11pt/1.4 system-ui,sans-serif;margin:2em;color:#111}\n"
         "h1{font-size:16pt;margin:0 0 .3em}h2{font-size:13pt;margin:1.5em 0 .4em}\n"
         "table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:.25em .4em;text-align:left;"
         "vertical-align:top;font-size:9.5pt}th{background:#eee}\n"
         "td.uid{word-break:break-all;font-family:monospace;font-size:8.5pt}\n"
         ".meta{color:#444}.refused{color:#8a1c1c}\n"
         "@media print{body{margin:0}@page{size:A4 landscape;margin:1.5cm}thead{display:table-header-group}"
         "tr{break-inside:avoid}}\n"
         "</style></head><body>\n";
  out << "<h1>" << title << "</h1>\n";
  out << "<p class=\"meta\">Every access to this patient's data recorded in the tamper-evident audit trail of the "
         "archive: queries that returned the patient, retrievals, viewer sessions, transfers, exports, deletions, "
         "changes to the patient record and reads of the audit trail about the patient. Generated "
      << html_escape(r.generated) << " from " << r.records_read << " audit records."
      << (r.truncated ? " <strong>The list is truncated.</strong>" : "") << "</p>\n";
  out << "<h2>Who accessed the data</h2>\n<table><thead><tr><th>Who</th><th>From</th><th>Accesses</th><th>First</th>"
         "<th>Last</th></tr></thead><tbody>\n";
  for (const ReportParty& p : r.parties) {
    out << "<tr><td>" << html_escape(who(p.actor, p.user)) << "</td><td>" << html_escape(p.source) << "</td><td>";
    bool first = true;
    for (const auto& [what, n] : p.accesses) {
      out << (first ? "" : "<br>") << n << " &times; " << html_escape(what);
      first = false;
    }
    out << "</td><td>" << html_escape(p.first) << "</td><td>" << html_escape(p.last) << "</td></tr>\n";
  }
  if (r.parties.empty()) out << "<tr><td colspan=\"5\">No access recorded in this period.</td></tr>\n";
  out << "</tbody></table>\n<h2>Events</h2>\n<table><thead><tr><th>Time (UTC)</th><th>What</th><th>Who</th>"
         "<th>From</th><th>Count</th><th>Study</th><th>Details</th><th>Record</th></tr></thead><tbody>\n";
  for (const ReportEntry& e : r.entries) {
    const bool ok = e.outcome == Outcome::success;
    out << "<tr" << (ok ? "" : " class=\"refused\"") << "><td>" << html_escape(e.time) << "</td><td>"
        << html_escape(e.what) << (ok ? "" : std::string(" (") + to_string(e.outcome) + ")") << "</td><td>"
        << html_escape(who(e.actor, e.user)) << "</td><td>" << html_escape(e.source) << "</td><td>"
        << html_escape(e.count) << "</td><td class=\"uid\">" << html_escape(e.study_uid) << "</td><td>"
        << html_escape(e.detail) << "</td><td>" << e.seq << "</td></tr>\n";
  }
  if (r.entries.empty()) out << "<tr><td colspan=\"8\">No event recorded in this period.</td></tr>\n";
  out << "</tbody></table>\n</body></html>\n";
  return out.str();
}

} // namespace tresor::audit
