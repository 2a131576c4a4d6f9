#include "http/dicomweb_common.h"

#include <algorithm>
#include <charconv>

#include "dicom/inspect.h"

namespace tresor::http::detail {

namespace {
// RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] );
// nullopt otherwise (found by tests/fuzz/fuzz_accept: std::stod took "2",
// "inf" and hex floats, so a q above 1 could outrank every other entry).
std::optional<double> parse_qvalue(std::string_view q) {
  if (q.empty() || (q[0] != '0' && q[0] != '1')) return std::nullopt;
  double v = q[0] == '1' ? 1.0 : 0.0;
  if (q.size() == 1) return v;
  if (q[1] != '.' || q.size() > 5) return std::nullopt;
  double scale = 0.1;
  for (char c : q.substr(2)) {
    if (c < '0' || c > '9' || (q[0] == '1' && c != '0')) return std::nullopt;
    v += (c - '0') * scale;
    scale /= 10;
  }
  return v;
}
} // namespace

std::vector<Acceptable> parse_accept(std::optional<std::string_view> header) {
  std::vector<Acceptable> out;
  if (!header || header->empty()) {
    out.push_back({MediaType{"*/*", {}}, 1.0});
    return out;
  }
  std::string_view rest = *header;
  // Split on commas outside quotes.
  while (!rest.empty() && out.size() < 64) {
    std::size_t i = 0;
    bool quoted = false;
    for (; i < rest.size(); ++i) {
      if (rest[i] == '"') quoted = !quoted;
      else if (rest[i] == '\\' && quoted) ++i;
      else if (rest[i] == ',' && !quoted) break;
    }
    std::string_view item = rest.substr(0, std::min(i, rest.size()));
    rest = i < rest.size() ? rest.substr(i + 1) : std::string_view{};
    auto mt = parse_media_type(item);
    if (!mt) continue;
    Acceptable a{std::move(*mt), 1.0};
    if (auto q = a.media.param("q")) {
      auto v = parse_qvalue(*q);
      if (!v) continue;  // q=2, q=nan, q=inf, q=0x1p-2: malformed entry, ignored
      a.q = *v;
    }
    if (a.q > 0) out.push_back(std::move(a));
  }
  std::stable_sort(out.begin(), out.end(), [](const Acceptable& x, const Acceptable& y) { return x.q > y.q; });
  return out;
}

bool accepts(const std::vector<Acceptable>& list, std::string_view type) {
  const std::string_view major = type.substr(0, type.find('/'));
  for (const Acceptable& a : list) {
    const std::string& t = a.media.type;
    if (t == type || t == "*/*") return true;
    if (t.size() == major.size() + 2 && t.compare(0, major.size(), major) == 0 && t.ends_with("/*")) return true;
  }
  return false;
}

QueryRequest locate_request(const Request& request) {
  QueryRequest q;
  q.model = QueryModel::study_root;
  q.level = Level::study;
  if (auto s = request.param("study"); !s.empty()) q.keys.push_back({tags::StudyInstanceUID, std::string(s)});
  if (auto s = request.param("series"); !s.empty()) {
    q.level = Level::series;
    q.keys.push_back({tags::SeriesInstanceUID, std::string(s)});
  }
  if (auto s = request.param("instance"); !s.empty()) {
    q.level = Level::image;
    q.keys.push_back({tags::SOPInstanceUID, std::string(s)});
  }
  return q;
}

std::string study_url(const Request& request, std::string_view study) {
  return request.origin + "/dicom-web/studies/" + std::string(study);
}
std::string series_url(const Request& request, std::string_view study, std::string_view series) {
  return study_url(request, study) + "/series/" + std::string(series);
}
std::string instance_url(const Request& request, std::string_view study, std::string_view series,
                         std::string_view instance) {
  return series_url(request, study, series) + "/instances/" + std::string(instance);
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 15];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // Validate one UTF-8 sequence; replace invalid bytes with U+FFFD.
    std::size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    bool ok = len != 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && len == 2 && c < 0xc2) ok = false;  // overlong
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  out += '"';
}

bool valid_uid_param(std::string_view uid) { return dicom::is_valid_uid(uid); }

} // namespace tresor::http::detail
