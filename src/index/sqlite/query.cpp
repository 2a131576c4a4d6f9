#include "index/sqlite/query.h"
#include <algorithm>
#include <limits>
#include <optional>
#include <string_view>

namespace tresor::index::sqlite {
namespace {

enum class Kind {
  text,         // LO, SH, CS, IS, US: equality or wildcard
  person,       // PN: equality or wildcard, ASCII case-insensitive (migration 004)
  uid,          // UI: equality or list
  date,         // DA: equality or range
  time,         // TM: prefix or range
  modalities,   // ModalitiesInStudy
  sop_classes,  // SOPClassesInStudy
  count,        // NumberOf...Related...: return only
  charset,      // SpecificCharacterSet of the entity: return only
  qr_level,     // QueryRetrieveLevel echoed back
  availability, // InstanceAvailability: always ONLINE
};

struct KeyDef {
  Tag tag;
  Level level;
  const char* column;
  Kind kind;
};

constexpr KeyDef kKeys[] = {
    {tags::PatientName, Level::patient, "p.name", Kind::person},
    {tags::PatientID, Level::patient, "p.patient_id", Kind::text},
    {tags::IssuerOfPatientID, Level::patient, "p.issuer", Kind::text},
    {tags::PatientBirthDate, Level::patient, "p.birth_date", Kind::date},
    {tags::PatientSex, Level::patient, "p.sex", Kind::text},
    {tags::NumberOfPatientRelatedStudies, Level::patient, "p.num_studies", Kind::count},
    {tags::NumberOfPatientRelatedSeries, Level::patient, "p.num_series", Kind::count},
    {tags::NumberOfPatientRelatedInstances, Level::patient, "p.num_instances", Kind::count},
    {tags::StudyInstanceUID, Level::study, "st.study_uid", Kind::uid},
    {tags::StudyDate, Level::study, "st.date", Kind::date},
    {tags::StudyTime, Level::study, "st.time", Kind::time},
    {tags::AccessionNumber, Level::study, "st.accession", Kind::text},
    {tags::StudyID, Level::study, "st.study_id", Kind::text},
    {tags::StudyDescription, Level::study, "st.description", Kind::text},
    {tags::ReferringPhysicianName, Level::study, "st.referring_physician", Kind::person},
    {tags::InstitutionName, Level::study, "st.institution", Kind::text},
    {tags::ModalitiesInStudy, Level::study, nullptr, Kind::modalities},
    {tags::SOPClassesInStudy, Level::study, nullptr, Kind::sop_classes},
    {tags::NumberOfStudyRelatedSeries, Level::study, "st.num_series", Kind::count},
    {tags::NumberOfStudyRelatedInstances, Level::study, "st.num_instances", Kind::count},
    {tags::SeriesInstanceUID, Level::series, "se.series_uid", Kind::uid},
    {tags::Modality, Level::series, "se.modality", Kind::text},
    {tags::SeriesNumber, Level::series, "se.number", Kind::text},
    {tags::SeriesDescription, Level::series, "se.description", Kind::text},
    {tags::BodyPartExamined, Level::series, "se.body_part", Kind::text},
    {tags::SeriesDate, Level::series, "se.date", Kind::date},
    {tags::NumberOfSeriesRelatedInstances, Level::series, "se.num_instances", Kind::count},
    {tags::SOPInstanceUID, Level::image, "i.sop_uid", Kind::uid},
    {tags::SOPClassUID, Level::image, "i.sop_class", Kind::uid},
    {tags::InstanceNumber, Level::image, "i.instance_number", Kind::text},
    {tags::TransferSyntaxUID, Level::image, "i.transfer_syntax", Kind::uid},
    {tags::Rows, Level::image, "i.rows", Kind::text},
    {tags::Columns, Level::image, "i.columns", Kind::text},
    {tags::NumberOfFrames, Level::image, "i.frames", Kind::text},
    {tags::SpecificCharacterSet, Level::patient, nullptr, Kind::charset},
    {tags::QueryRetrieveLevel, Level::patient, nullptr, Kind::qr_level},
    {tags::InstanceAvailability, Level::study, nullptr, Kind::availability},
};

const KeyDef* find_key(Tag tag) {
  for (const auto& k : kKeys)
    if (k.tag == tag) return &k;
  return nullptr;
}

int rank(Level l) { return static_cast<int>(l); }

const char* alias(Level l) {
  switch (l) {
    case Level::patient: return "p";
    case Level::study: return "st";
    case Level::series: return "se";
    case Level::image: return "i";
  }
  return "p";
}

// FROM clause joining the level's table to all its parents.
std::string from_clause(Level l) {
  switch (l) {
    case Level::patient: return " FROM patient p";
    case Level::study: return " FROM study st JOIN patient p ON p.id = st.patient_pk";
    case Level::series:
      return " FROM series se JOIN study st ON st.id = se.study_pk JOIN patient p ON p.id = st.patient_pk";
    case Level::image:
      return " FROM instance i JOIN series se ON se.id = i.series_pk JOIN study st ON st.id = se.study_pk"
             " JOIN patient p ON p.id = st.patient_pk";
  }
  return {};
}

class Builder {
public:
  std::vector<std::string> params;
  std::vector<std::string> where;
  std::size_t components = 0;
  std::vector<std::string> modality_preds;  // ModalitiesInStudy, on mq.modality

  // ModalitiesInStudy alone drives the query from the series_modality index
  // (cost follows the matching series); next to other keys it is a
  // correlated EXISTS probe per candidate study (cost follows those keys).
  void finish_modalities() {
    for (auto& pred : modality_preds) {
      if (where.empty())
        where.push_back("st.id IN (SELECT mq.study_pk FROM series mq WHERE " + pred + ")");
      else
        where.push_back("EXISTS (SELECT 1 FROM series mq WHERE mq.study_pk = st.id AND " + pred + ")");
    }
    modality_preds.clear();
  }

  std::string param(std::string value) {
    params.push_back(std::move(value));
    return "?" + std::to_string(params.size());
  }

  // Adds the predicate for one key; universal matches add nothing.
  Status add_match(const KeyDef& key, const std::string& value) {
    if (value.size() > kMaxQueryValueBytes) return std::unexpected(make_error(Errc::too_large, "query value too long"));
    switch (key.kind) {
      case Kind::text:
      case Kind::person:
      case Kind::uid:
      case Kind::date:
      case Kind::time: {
        auto p = value_predicate(key.kind, key.column, value);
        if (!p) return std::unexpected(p.error());
        if (*p) where.push_back(std::move(**p));
        return {};
      }
      case Kind::modalities: {
        auto p = value_predicate(Kind::text, "mq.modality", value);
        if (!p) return std::unexpected(p.error());
        if (*p) modality_preds.push_back(std::move(**p));
        return {};
      }
      case Kind::sop_classes: {
        auto p = value_predicate(Kind::uid, "cq.sop_class", value);
        if (!p) return std::unexpected(p.error());
        if (*p)
          where.push_back(
              "EXISTS (SELECT 1 FROM series sq JOIN instance cq ON cq.series_pk = sq.id WHERE sq.study_pk = st.id AND " +
              **p + ")");
        return {};
      }
      default: return {};  // return-only keys
    }
  }

private:
  static bool has_wildcard(std::string_view v) { return v.find_first_of("*?") != std::string_view::npos; }
  static bool all_stars(std::string_view v) { return !v.empty() && v.find_first_not_of('*') == std::string_view::npos; }

  // Smallest string greater than every string starting with `prefix`
  // (byte-wise), or nullopt if none exists.
  static std::optional<std::string> successor(std::string prefix) {
    while (!prefix.empty()) {
      auto& c = reinterpret_cast<unsigned char&>(prefix.back());
      if (c != 0xFF) {
        ++c;
        return prefix;
      }
      prefix.pop_back();
    }
    return std::nullopt;
  }

  static std::string to_glob(std::string_view v) {
    std::string g;
    g.reserve(v.size() + 8);
    for (char c : v) {
      if (c == '[') g += "[[]";
      else g += c;
    }
    return g;
  }

  // SQLite's NOCASE folds exactly the ASCII upper-case letters to lower case.
  static std::string fold(std::string v) {
    for (char& ch : v)
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    return v;
  }

  // `nocase`: the column is compared under NOCASE (served by a NOCASE index);
  // the prefix range is taken in folded space and the pattern compared with
  // lower(col), which folds the same ASCII letters.
  std::string wildcard_predicate(const char* col, const std::string& value, bool nocase = false) {
    const std::string v = nocase ? fold(value) : value;
    const std::string c = col;
    const std::string coll = nocase ? " COLLATE NOCASE" : "";
    const auto cut = v.find_first_of("*?");
    const std::string prefix = v.substr(0, cut);
    std::vector<std::string> parts;
    if (!prefix.empty()) {
      parts.push_back(c + " >= " + param(prefix) + coll);
      if (auto s = successor(prefix)) parts.push_back(c + " < " + param(*s) + coll);
    }
    if (prefix.empty() || !all_stars(std::string_view(v).substr(cut)))
      parts.push_back((nocase ? "lower(" + c + ")" : c) + " GLOB " + param(to_glob(v)));
    std::string out = "(";
    for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? " AND " : "") + parts[i];
    return out + ")";
  }

  std::string range_predicate(Kind kind, const char* col, const std::string& v) {
    const std::string c = col;
    const auto dash = v.find('-');
    std::string lo = v.substr(0, dash), hi = v.substr(dash + 1);
    // TM upper bounds cover the whole last unit given: '-1200' includes 120059.
    if (kind == Kind::time && !hi.empty()) hi += '~';
    if (!lo.empty() && !hi.empty()) {
      const std::string lo_param = param(lo);
      const std::string hi_param = param(hi);
      return "(" + c + " BETWEEN " + lo_param + " AND " + hi_param + ")";
    }
    if (!lo.empty()) return "(" + c + " >= " + param(lo) + ")";
    return "(" + c + " <> '' AND " + c + " <= " + param(hi) + ")";
  }

  // nullopt inside = universal match.
  Result<std::optional<std::string>> value_predicate(Kind kind, const char* col, const std::string& value) {
    std::vector<std::string> comps;
    std::size_t start = 0;
    for (;;) {
      const auto bs = value.find('\\', start);
      std::string comp = value.substr(start, bs == std::string::npos ? std::string::npos : bs - start);
      if (!comp.empty()) comps.push_back(std::move(comp));
      if (bs == std::string::npos) break;
      start = bs + 1;
    }
    components += comps.size();
    if (components > kMaxQueryValues) return std::unexpected(make_error(Errc::too_large, "too many query values"));
    if (comps.empty()) return std::optional<std::string>{};

    std::vector<std::string> exact, others;
    for (const auto& comp : comps) {
      if (all_stars(comp)) return std::optional<std::string>{};  // '*' matches everything
      const bool wild = kind != Kind::uid && has_wildcard(comp);
      const bool range = (kind == Kind::date || kind == Kind::time) && comp.find('-') != std::string::npos;
      if (range && comp == "-") return std::optional<std::string>{};
      if (wild) others.push_back(wildcard_predicate(col, comp, kind == Kind::person));
      else if (kind == Kind::person) others.push_back("(" + std::string(col) + " = " + param(comp) + " COLLATE NOCASE)");
      else if (range) others.push_back(range_predicate(kind, col, comp));
      else if (kind == Kind::time) others.push_back(range_predicate(kind, col, comp + "-" + comp));
      else exact.push_back(comp);
    }
    std::vector<std::string> alts;
    if (exact.size() == 1) {
      alts.push_back(std::string(col) + " = " + param(exact[0]));
    } else if (!exact.empty()) {
      std::string in = std::string(col) + " IN (";
      for (std::size_t i = 0; i < exact.size(); ++i) in += (i ? ", " : "") + param(exact[i]);
      alts.push_back(in + ")");
    }
    alts.insert(alts.end(), others.begin(), others.end());
    if (alts.size() == 1) return std::optional<std::string>{alts[0]};
    std::string out = "(";
    for (std::size_t i = 0; i < alts.size(); ++i) out += (i ? " OR " : "") + alts[i];
    return std::optional<std::string>{out + ")"};
  }
};

// The access scope as SQL. Its values are bound once (?N placeholders) and
// the predicate can be repeated for any alias of the study table, so the
// patient-level subqueries reuse the same parameters.
class ScopeSql {
public:
  static Result<ScopeSql> make(Builder& b, const Scope& scope) {
    const std::size_t n = scope.institutions.size() + scope.referring_physicians.size() + scope.labels.size();
    if (n > kMaxQueryValues) return std::unexpected(make_error(Errc::too_large, "scope has too many entries"));
    for (const auto* list : {&scope.institutions, &scope.referring_physicians, &scope.labels})
      for (const auto& v : *list)
        if (v.size() > kMaxQueryValueBytes) return std::unexpected(make_error(Errc::too_large, "scope value too long"));
    ScopeSql out;
    out.institutions_ = placeholders(b, scope.institutions);
    out.physicians_ = placeholders(b, scope.referring_physicians);
    out.labels_ = placeholders(b, scope.labels);
    return out;
  }

  // "Study `a` is in scope"; "0" for a scope admitting nothing.
  std::string predicate(const std::string& a) const {
    std::vector<std::string> alts;
    if (!institutions_.empty()) alts.push_back(a + ".institution IN (" + institutions_ + ")");
    if (!physicians_.empty()) alts.push_back(a + ".referring_physician IN (" + physicians_ + ")");
    if (!labels_.empty())
      alts.push_back(a + ".id IN (SELECT sl.study_pk FROM study_label sl WHERE sl.label IN (" + labels_ + "))");
    if (alts.empty()) return "0";
    std::string out = "(";
    for (std::size_t i = 0; i < alts.size(); ++i) out += (i ? " OR " : "") + alts[i];
    return out + ")";
  }

  // Visible studies of patient p that are in scope, as `FROM ... WHERE ...`.
  std::string patient_studies() const {
    return " FROM study sc WHERE sc.patient_pk = p.id AND sc.num_instances > 0 AND " + predicate("sc");
  }

private:
  // Empty values never admit anything (a study without InstitutionName is
  // not in a scope listing ""), so they are dropped.
  static std::string placeholders(Builder& b, const std::vector<std::string>& values) {
    std::string out;
    for (const auto& v : values) {
      if (v.empty()) continue;
      if (!out.empty()) out += ", ";
      out += b.param(v);
    }
    return out;
  }

  std::string institutions_, physicians_, labels_;
};

// Restricts the query to studies in scope (after add_matches). At PATIENT
// level a patient needs a visible study in scope: with no other condition
// the scope drives the query, otherwise it is a per-patient EXISTS probe.
void add_scope(Builder& b, const ScopeSql& scope, Level level) {
  if (level != Level::patient) {
    b.where.push_back(scope.predicate("st"));
  } else if (b.where.empty()) {
    b.where.push_back("p.id IN (SELECT sc.patient_pk FROM study sc WHERE sc.num_instances > 0 AND " +
                      scope.predicate("sc") + ")");
  } else {
    b.where.push_back("EXISTS (SELECT 1" + scope.patient_studies() + ")");
  }
}

Status validate(const QueryRequest& r) {
  if (r.model == QueryModel::study_root && r.level == Level::patient)
    return std::unexpected(make_error(Errc::invalid_argument, "PATIENT level is not part of the Study Root model"));
  if (r.keys.size() > kMaxQueryKeys) return std::unexpected(make_error(Errc::too_large, "too many query keys"));
  return {};
}

// `scope` set: the patient counters count only visible studies in scope.
std::string return_expression(const KeyDef& k, Level level, const ScopeSql* scope) {
  switch (k.kind) {
    case Kind::count:
      if (!scope || k.level != Level::patient) return k.column;
      if (k.tag == tags::NumberOfPatientRelatedStudies) return "(SELECT count(*)" + scope->patient_studies() + ")";
      if (k.tag == tags::NumberOfPatientRelatedSeries)
        return "(SELECT coalesce(sum(sc.num_series), 0)" + scope->patient_studies() + ")";
      return "(SELECT coalesce(sum(sc.num_instances), 0)" + scope->patient_studies() + ")";
    case Kind::modalities:
      return "(SELECT group_concat(m, '\\') FROM (SELECT DISTINCT mr.modality AS m FROM series mr"
             " WHERE mr.study_pk = st.id AND mr.modality <> '' ORDER BY 1))";
    case Kind::sop_classes:
      return "(SELECT group_concat(c, '\\') FROM (SELECT DISTINCT cr.sop_class AS c FROM series sr"
             " JOIN instance cr ON cr.series_pk = sr.id WHERE sr.study_pk = st.id ORDER BY 1))";
    case Kind::charset: return std::string(alias(level)) + ".charset";
    default: return k.column;
  }
}

// Matching predicates for all keys at or above `level`.
Status add_matches(Builder& b, const QueryRequest& r) {
  for (const auto& a : r.keys) {
    const KeyDef* k = find_key(a.tag);
    if (!k || rank(k->level) > rank(r.level) || a.value.empty()) continue;
    if (auto s = b.add_match(*k, a.value); !s) return s;
  }
  b.finish_modalities();
  return {};
}

std::string where_clause(const std::vector<std::string>& preds) {
  std::string w;
  for (std::size_t i = 0; i < preds.size(); ++i) w += (i ? " AND " : " WHERE ") + preds[i];
  return w;
}

std::int64_t clamp_limit(std::size_t limit) {
  constexpr auto max = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(limit, max));
}

} // namespace

Result<BuiltQuery> build_find(const QueryRequest& request, std::size_t limit, std::size_t offset) {
  if (auto s = validate(request); !s) return std::unexpected(s.error());
  BuiltQuery q;
  // The scope's parameters come first so the return expressions can use them.
  Builder b;
  std::optional<ScopeSql> scope;
  if (request.scope) {
    auto made = ScopeSql::make(b, *request.scope);
    if (!made) return std::unexpected(made.error());
    scope = std::move(*made);
  }
  std::vector<std::string> columns;
  auto add_output = [&](Tag tag) {
    BuiltQuery::Output out;
    out.tag = tag;
    const KeyDef* k = find_key(tag);
    if (!k || rank(k->level) > rank(request.level)) {
      // unknown, or below the level: returned empty
    } else if (k->kind == Kind::qr_level) {
      out.constant = to_string(request.level);
    } else if (k->kind == Kind::availability) {
      out.constant = "ONLINE";
    } else {
      out.column = static_cast<int>(columns.size());
      columns.push_back(return_expression(*k, request.level, scope ? &*scope : nullptr));
    }
    q.outputs.push_back(std::move(out));
  };
  for (const auto& a : request.keys) add_output(a.tag);

  // The unique keys of the level and the levels above it are always returned.
  std::vector<Tag> unique;
  if (request.model == QueryModel::patient_root) unique.push_back(tags::PatientID);
  if (rank(request.level) >= rank(Level::study)) unique.push_back(tags::StudyInstanceUID);
  if (rank(request.level) >= rank(Level::series)) unique.push_back(tags::SeriesInstanceUID);
  if (rank(request.level) >= rank(Level::image)) unique.push_back(tags::SOPInstanceUID);
  for (Tag t : unique) {
    const bool present = std::any_of(request.keys.begin(), request.keys.end(), [t](const Attr& a) { return a.tag == t; });
    if (!present) add_output(t);
  }

  if (auto s = add_matches(b, request); !s) return std::unexpected(s.error());
  if (scope) add_scope(b, *scope, request.level);
  // Entities without a stored instance are not visible (instances always are).
  if (request.level != Level::image)
    b.where.insert(b.where.begin(), std::string(alias(request.level)) + ".num_instances > 0");

  q.sql = "SELECT ";
  if (columns.empty()) q.sql += "1";
  for (std::size_t i = 0; i < columns.size(); ++i) q.sql += (i ? ", " : "") + columns[i];
  q.sql += from_clause(request.level);
  q.sql += where_clause(b.where);
  q.sql += " LIMIT ?" + std::to_string(b.params.size() + 1);
  if (offset > 0) q.sql += " OFFSET ?" + std::to_string(b.params.size() + 2);
  q.params = std::move(b.params);
  q.limit = clamp_limit(limit);
  q.offset = clamp_limit(offset);
  return q;
}

Result<BuiltQuery> build_locate(const QueryRequest& request, std::size_t limit) {
  if (auto s = validate(request); !s) return std::unexpected(s.error());
  Builder b;
  std::optional<ScopeSql> scope;
  if (request.scope) {
    auto made = ScopeSql::make(b, *request.scope);
    if (!made) return std::unexpected(made.error());
    scope = std::move(*made);
  }
  if (auto s = add_matches(b, request); !s) return std::unexpected(s.error());
  // Instances are located through their study, whatever the level.
  if (scope) add_scope(b, *scope, Level::image);
  BuiltQuery q;
  q.sql =
      "SELECT st.study_uid, se.series_uid, i.sop_class, i.sop_uid, i.transfer_syntax, p.patient_id, i.blob_key, i.size";
  q.sql += from_clause(Level::image);
  q.sql += where_clause(b.where);
  q.sql += " ORDER BY st.id, CAST(se.number AS INTEGER), se.id, CAST(i.instance_number AS INTEGER), i.id";
  q.sql += " LIMIT ?" + std::to_string(b.params.size() + 1);
  q.params = std::move(b.params);
  q.limit = clamp_limit(limit);
  return q;
}

} // namespace tresor::index::sqlite
