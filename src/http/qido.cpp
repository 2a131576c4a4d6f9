// QIDO-RS (PS3.18 10.6): search for studies, series and instances.
// Contract:
//  - matching keys by keyword ("PatientName") or tag ("00100010"); values use
//    DICOM matching (wildcards '*' '?', DA/TM ranges, UID lists with ',' or
//    '\'); repeated keys are OR-ed; sequence keys ("a.b") and unknown
//    attributes -> 400 with the reason;
//  - includefield (comma-separated keywords/tags, or "all"), limit, offset;
//    fuzzymatching=true is accepted and answered with a Warning (only literal
//    matching is done); any other parameter name is an attribute;
//  - the principal's scope and the result cap apply through QueryService
//    (a truncated page carries Warning: 299 and the client pages with offset);
//    the index pages itself (SQL LIMIT/OFFSET), so a page costs its own rows;
//    offset > services::kMaxPageOffset (100,000) -> 400 with the reason;
//  - the answer is application/dicom+json (UTF-8, converted from each row's
//    SpecificCharacterSet), each object with RetrieveURL (0008,1190); [] when
//    nothing matches.
#include <algorithm>
#include <charconv>
#include <map>

#include "dicom/dictionary.h"
#include "http/dicomweb_common.h"

namespace tresor::http {
namespace {

using detail::append_json_string;

constexpr Tag kRetrieveURL = 0x00081190;

const std::vector<Tag>& study_defaults() {
  static const std::vector<Tag> v = {tags::StudyDate,        tags::StudyTime,         tags::AccessionNumber,
                                     tags::ModalitiesInStudy, tags::ReferringPhysicianName, tags::PatientName,
                                     tags::PatientID,        tags::PatientBirthDate,  tags::PatientSex,
                                     tags::StudyInstanceUID, tags::StudyID,           tags::StudyDescription,
                                     tags::NumberOfStudyRelatedSeries, tags::NumberOfStudyRelatedInstances};
  return v;
}
const std::vector<Tag>& series_defaults() {
  static const std::vector<Tag> v = {tags::Modality,     tags::SeriesDescription, tags::SeriesInstanceUID,
                                     tags::SeriesNumber, tags::SeriesDate,        tags::BodyPartExamined,
                                     tags::NumberOfSeriesRelatedInstances};
  return v;
}
const std::vector<Tag>& instance_defaults() {
  static const std::vector<Tag> v = {tags::SOPClassUID, tags::SOPInstanceUID, tags::InstanceNumber,
                                     tags::Rows,        tags::Columns,        tags::NumberOfFrames};
  return v;
}
const std::vector<Tag>& extra_all() {
  static const std::vector<Tag> v = {tags::InstitutionName, tags::IssuerOfPatientID, tags::SOPClassesInStudy};
  return v;
}

std::optional<Tag> parse_attribute(std::string_view name) {
  if (name.size() == 8 && std::all_of(name.begin(), name.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
    Tag t = 0;
    std::from_chars(name.data(), name.data() + 8, t, 16);
    return t;
  }
  return dicom::tag_for_keyword(name);
}

bool is_number_vr(std::string_view vr) {
  return vr == "IS" || vr == "DS" || vr == "US" || vr == "UL" || vr == "SS" || vr == "SL" || vr == "FL" ||
         vr == "FD" || vr == "SV" || vr == "UV";
}

// A DICOM number string as a JSON number, or nullopt when it is not one.
std::optional<std::string> json_number(std::string_view v) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty() || v.size() > 32) return std::nullopt;
  double d = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc{} || p != v.data() + v.size()) return std::nullopt;
  std::string s(v);
  if (s.front() == '+') s.erase(0, 1);
  // JSON forbids leading zeros and a bare leading/trailing '.'.
  std::size_t digits = (s.front() == '-') ? 1 : 0;
  while (s.size() > digits + 1 && s[digits] == '0' && std::isdigit(static_cast<unsigned char>(s[digits + 1])))
    s.erase(digits, 1);
  if (s.size() > digits && s[digits] == '.') s.insert(digits, "0");
  if (s.back() == '.') s.pop_back();
  if (auto e = s.find_first_of("eE"); e != std::string::npos && e > 0 && s[e - 1] == '.') s.erase(e - 1, 1);
  return s;
}

std::vector<std::string_view> split_values(std::string_view v) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t bs = v.find('\\', start);
    out.push_back(v.substr(start, bs == std::string_view::npos ? std::string_view::npos : bs - start));
    if (bs == std::string_view::npos) break;
    start = bs + 1;
  }
  return out;
}

void append_attribute(std::string& out, Tag tag, std::string_view value, std::string_view charset) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const std::string vr = tag == kRetrieveURL ? "UR" : dicom::vr_for(tag);
  out += '"';
  for (int shift = 28; shift >= 0; shift -= 4) out += kHex[(tag >> shift) & 15];
  out += "\":{\"vr\":\"";
  out += vr;
  out += '"';
  if (!value.empty()) {
    std::string converted;
    const bool pn = vr == "PN";
    if (vr == "PN" || vr == "LO" || vr == "SH" || vr == "LT" || vr == "ST" || vr == "UT" || vr == "UC") {
      converted = dicom::to_utf8(value, charset, pn);
      value = converted;
    }
    std::string values;
    for (std::string_view item : split_values(value)) {
      if (!values.empty()) values += ',';
      if (pn) {
        if (item.empty()) {
          values += "null";
          continue;
        }
        static const char* kGroups[] = {"Alphabetic", "Ideographic", "Phonetic"};
        values += '{';
        std::size_t start = 0;
        bool first = true;
        for (int g = 0; g < 3; ++g) {
          std::size_t eq = item.find('=', start);
          std::string_view part = item.substr(start, eq == std::string_view::npos ? std::string_view::npos : eq - start);
          if (!part.empty()) {
            if (!first) values += ',';
            first = false;
            values += '"';
            values += kGroups[g];
            values += "\":";
            append_json_string(values, part);
          }
          if (eq == std::string_view::npos) break;
          start = eq + 1;
        }
        values += '}';
      } else if (is_number_vr(vr)) {
        auto n = json_number(item);
        values += n ? *n : "null";
      } else {
        append_json_string(values, item);
      }
    }
    out += ",\"Value\":[";
    out += values;
    out += ']';
  }
  out += '}';
}

// Attributes left out of an answer when they have no value, instead of being
// encoded without "Value" (PS3.18 F.2.5). These are the server-computed lists
// of a study (ModalitiesInStudy: no series of the study has a Modality;
// SOPClassesInStudy) whose absence says the same thing, and which viewers
// read as arrays without checking: OHIF 3.13.2's getModalities() reads
// ModalitiesInStudy.Value.length, and one study without a Modality broke
// its whole study list. An empty "Value": [] is not valid DICOM JSON (F.2.5),
// so the attribute is omitted. Every other attribute keeps F.2.5's encoding.
bool omitted_when_empty(Tag tag) { return tag == tags::ModalitiesInStudy || tag == tags::SOPClassesInStudy; }

Response qido(Request& req, const Deps& d, Level level) {
  const auto accept = detail::parse_accept(req.header("Accept"));
  if (!detail::accepts(accept, "application/dicom+json") && !detail::accepts(accept, "application/json"))
    return error_response(make_error(Errc::unsupported, "QIDO-RS answers application/dicom+json only"));

  std::string_view study = req.param("study"), series = req.param("series");
  if ((!study.empty() && !detail::valid_uid_param(study)) || (!series.empty() && !detail::valid_uid_param(series)))
    return error_response(make_error(Errc::invalid_argument, "malformed UID in the path"));

  std::size_t limit = 0, offset = 0;
  bool fuzzy = false, include_all = false;
  std::vector<Tag> include;
  std::map<Tag, std::string> match;  // tag -> '\'-joined values
  for (const auto& [name, value] : req.query) {
    auto number = [&](std::size_t& out) {
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
      return ec == std::errc{} && p == value.data() + value.size();
    };
    if (name == "limit") {
      if (!number(limit)) return error_response(make_error(Errc::invalid_argument, "limit must be a non-negative integer"));
    } else if (name == "offset") {
      if (!number(offset)) return error_response(make_error(Errc::invalid_argument, "offset must be a non-negative integer"));
    } else if (name == "fuzzymatching") {
      if (value != "true" && value != "false")
        return error_response(make_error(Errc::invalid_argument, "fuzzymatching must be true or false"));
      fuzzy = value == "true";
    } else if (name == "includefield") {
      std::string_view rest = value;
      while (!rest.empty()) {
        std::size_t comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        if (item.empty()) continue;
        if (item == "all") {
          include_all = true;
          continue;
        }
        if (item.find('.') != std::string_view::npos)
          return error_response(make_error(Errc::invalid_argument, "sequence attributes in includefield are not supported"));
        auto tag = parse_attribute(item);
        if (!tag) return error_response(make_error(Errc::invalid_argument, "unknown attribute in includefield: " + std::string(item)));
        if (include.size() < 256) include.push_back(*tag);
      }
    } else {
      if (name.find('.') != std::string::npos)
        return error_response(make_error(Errc::invalid_argument, "sequence matching is not supported: " + name));
      auto tag = parse_attribute(name);
      if (!tag) return error_response(make_error(Errc::invalid_argument, "unknown query parameter or attribute: " + name));
      std::string v = value;
      if (dicom::vr_for(*tag) == "UI") std::replace(v.begin(), v.end(), ',', '\\');
      auto& slot = match[*tag];
      slot = slot.empty() ? v : slot + "\\" + v;
      if (match.size() > 64) return error_response(make_error(Errc::too_large, "too many matching keys"));
    }
  }
  // Path parameters fix the upper levels.
  if (!study.empty()) match[tags::StudyInstanceUID] = std::string(study);
  if (!series.empty()) match[tags::SeriesInstanceUID] = std::string(series);

  std::vector<Tag> returned;
  auto add = [&](Tag t) {
    if (std::find(returned.begin(), returned.end(), t) == returned.end()) returned.push_back(t);
  };
  const bool under_study = !study.empty();
  if (level == Level::study || !under_study || include_all)
    for (Tag t : study_defaults()) add(t);
  if (level == Level::series || level == Level::image) for (Tag t : series_defaults()) add(t);
  if (level == Level::image) for (Tag t : instance_defaults()) add(t);
  add(tags::StudyInstanceUID);
  if (level != Level::study) add(tags::SeriesInstanceUID);
  if (include_all) for (Tag t : extra_all()) add(t);
  for (Tag t : include) add(t);
  for (const auto& [t, v] : match) add(t);
  add(tags::SpecificCharacterSet);

  QueryRequest q;
  q.model = QueryModel::study_root;
  q.level = level;
  for (Tag t : returned) {
    auto it = match.find(t);
    q.keys.push_back({t, it == match.end() ? std::string() : it->second});
  }
  auto page = d.query.find_page(req.principal(), q, offset, limit);
  if (!page) return error_response(page.error());

  std::string body = "[";
  for (const ResultRow& row : page->rows) {
    std::string charset, study_uid, series_uid;
    std::vector<const Attr*> attrs;
    for (const Attr& a : row) {
      if (a.tag == tags::SpecificCharacterSet) charset = a.value;
      if (a.tag == tags::StudyInstanceUID) study_uid = a.value;
      if (a.tag == tags::SeriesInstanceUID) series_uid = a.value;
      if (a.tag == tags::SpecificCharacterSet || a.tag == tags::QueryRetrieveLevel) continue;
      if (a.value.empty() && omitted_when_empty(a.tag)) continue;
      attrs.push_back(&a);
    }
    std::sort(attrs.begin(), attrs.end(), [](const Attr* x, const Attr* y) { return x->tag < y->tag; });
    std::string url = level == Level::study ? detail::study_url(req, study_uid)
                                            : detail::series_url(req, study_uid, series_uid);
    if (level == Level::image) {
      std::string sop;
      for (const Attr* a : attrs)
        if (a->tag == tags::SOPInstanceUID) sop = a->value;
      url = detail::instance_url(req, study_uid, series_uid, sop);
    }
    if (body.size() > 1) body += ',';
    body += '{';
    bool first = true, url_done = false;
    for (const Attr* a : attrs) {
      if (!url_done && a->tag > kRetrieveURL) {
        if (!first) body += ',';
        append_attribute(body, kRetrieveURL, url, {});
        first = false;
        url_done = true;
      }
      if (!first) body += ',';
      first = false;
      append_attribute(body, a->tag, a->value, charset);
    }
    if (!url_done) {
      if (!first) body += ',';
      append_attribute(body, kRetrieveURL, url, {});
    }
    body += '}';
  }
  body += ']';
  Response r = json(200, std::move(body), "application/dicom+json");
  if (page->truncated)
    r.set("Warning", "299 tresor \"The number of results exceeded the maximum supported by the server. "
                     "Additional results can be requested.\"");
  if (fuzzy) r.set("Warning", "299 tresor \"The fuzzymatching parameter is not supported. Only literal matching has been performed.\"");
  return r;
}

} // namespace

void add_qido_routes(Router& router, const std::shared_ptr<const Deps>& deps) {
  struct R {
    const char* pattern;
    Level level;
    const char* summary;
  };
  const R routes[] = {
      {"/dicom-web/studies", Level::study, "QIDO-RS: search for studies"},
      {"/dicom-web/series", Level::series, "QIDO-RS: search for series in every study"},
      {"/dicom-web/instances", Level::image, "QIDO-RS: search for instances in every study"},
      {"/dicom-web/studies/{study}/series", Level::series, "QIDO-RS: search for the series of a study"},
      {"/dicom-web/studies/{study}/instances", Level::image, "QIDO-RS: search for the instances of a study"},
      {"/dicom-web/studies/{study}/series/{series}/instances", Level::image,
       "QIDO-RS: search for the instances of a series"},
  };
  for (const R& r : routes) {
    Route route;
    route.method = Method::get;
    route.pattern = r.pattern;
    route.permission = Operation::find;
    route.summary = r.summary;
    Level level = r.level;
    route.handler = [deps, level](Request& req) { return qido(req, *deps, level); };
    router.add(std::move(route));
  }
}

} // namespace tresor::http
