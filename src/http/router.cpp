// Route table (see router.h). Matching is per path segment: a literal
// segment matches itself, "{name}" binds one non-empty segment, a final
// "{*name}" binds the remainder (one or more segments joined by '/'; "" for a
// trailing slash). Among the routes of one method that match, the most
// specific wins, compared segment by segment: literal > {name} > {*rest};
// equally specific routes: the first added wins.
#include "http/router.h"

#include <algorithm>

namespace tresor::http {

const char* to_string(Auth auth) noexcept {
  switch (auth) {
    case Auth::required: return "required";
    case Auth::page: return "page";
    case Auth::none: return "none";
  }
  return "required";
}
namespace {

enum class SegKind { literal = 0, param = 1, rest = 2 };

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> segments;
  if (path.empty() || path.front() != '/') return segments;
  path.remove_prefix(1);
  while (true) {
    std::size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

SegKind kind_of(std::string_view segment) {
  if (segment.size() >= 2 && segment.front() == '{' && segment.back() == '}') {
    return segment.size() >= 3 && segment[1] == '*' ? SegKind::rest : SegKind::param;
  }
  return SegKind::literal;
}

std::string_view name_of(std::string_view segment, SegKind kind) {
  return kind == SegKind::rest ? segment.substr(2, segment.size() - 3) : segment.substr(1, segment.size() - 2);
}

// Matches `path` segments against `pattern`; fills params and the per-segment
// kinds used to rank matches. False when it does not match.
bool match_pattern(std::string_view pattern, const std::vector<std::string_view>& path, Fields& params,
                   std::vector<SegKind>& rank) {
  std::vector<std::string_view> pat = split_path(pattern);
  params.clear();
  rank.clear();
  if (pat.empty() || path.empty()) return false;
  for (std::size_t i = 0; i < pat.size(); ++i) {
    SegKind kind = kind_of(pat[i]);
    rank.push_back(kind);
    if (kind == SegKind::rest) {
      if (i + 1 != pat.size() || i >= path.size()) return false;
      std::string rest;
      for (std::size_t j = i; j < path.size(); ++j) {
        if (j > i) rest.push_back('/');
        rest.append(path[j]);
      }
      params.emplace_back(std::string(name_of(pat[i], kind)), std::move(rest));
      return true;
    }
    if (i >= path.size()) return false;
    if (kind == SegKind::param) {
      if (path[i].empty()) return false;
      params.emplace_back(std::string(name_of(pat[i], kind)), std::string(path[i]));
    } else if (pat[i] != path[i]) {
      return false;
    }
  }
  return pat.size() == path.size();
}

std::string escape_cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out.push_back(' ');
    else out.push_back(c);
  }
  return out;
}

} // namespace

void Router::add(Route route) { routes_.push_back(std::move(route)); }

Router::Match Router::match(Method method, std::string_view path) const {
  Match result;
  std::vector<std::string_view> segments = split_path(path);
  std::vector<SegKind> best_rank;
  Fields params;
  std::vector<SegKind> rank;
  for (const Route& route : routes_) {
    if (!match_pattern(route.pattern, segments, params, rank)) continue;
    if (std::find(result.allowed.begin(), result.allowed.end(), route.method) == result.allowed.end()) {
      result.allowed.push_back(route.method);
    }
    if (route.method != method) continue;
    if (result.route == nullptr || rank < best_rank) {
      result.route = &route;
      result.params = params;
      best_rank = rank;
    }
  }
  return result;
}

std::string Router::markdown() const {
  std::string out = "| Method | Path | Auth | Permission | Summary |\n|---|---|---|---|---|\n";
  for (const Route& route : routes_) {
    out += "| ";
    out += to_string(route.method);
    out += " | `";
    out += escape_cell(route.pattern);
    out += "` | ";
    out += to_string(route.auth);
    out += " | ";
    if (route.auth == Auth::none) out += "-";
    else if (route.permission) out += to_string(*route.permission);
    else out += "any";
    out += " | ";
    out += escape_cell(route.summary);
    out += " |\n";
  }
  return out;
}

} // namespace tresor::http
