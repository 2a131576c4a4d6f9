// parse_retention_rule (config.h): one [retention] policies entry,
// "NAME: N years [modality=XX] [sop_class=UID]".
#include <algorithm>
#include <charconv>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"

namespace tresor::config {
namespace {

bool name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

bool valid_modality(std::string_view v) {  // CS, the usual 1..16 upper-case letters / digits
  if (v.empty() || v.size() > 16) return false;
  for (char c : v)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

bool valid_uid(std::string_view v) {
  if (v.empty() || v.size() > 64 || v.front() == '.' || v.back() == '.') return false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == '.') {
      if (v[i + 1] == '.') return false;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

} // namespace

Result<RetentionRule> parse_retention_rule(std::string_view text) {
  const std::string shown = "\"" + std::string(text.substr(0, 80)) + "\"";
  auto bad = [&](const std::string& why) {
    return fail(Errc::invalid_argument,
                shown + ": " + why + " (expected \"NAME: N years [modality=XX] [sop_class=UID]\")");
  };
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return bad("no ':' after the name");
  RetentionRule rule;
  rule.name = std::string(text.substr(0, colon));
  if (rule.name.empty() || rule.name.size() > 64 || !std::ranges::all_of(rule.name, name_char))
    return bad("the name must be 1..64 characters of [A-Za-z0-9_.-]");
  std::istringstream in{std::string(text.substr(colon + 1))};
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  if (words.size() < 2) return bad("no age");
  const std::string& n = words[0];
  auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), rule.years);
  if (ec != std::errc{} || end != n.data() + n.size() || rule.years < 1 || rule.years > 200)
    return bad("the age must be a whole number of years, 1..200");
  if (words[1] != "years" && words[1] != "year") return bad("the age is counted in years");
  for (std::size_t i = 2; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.starts_with("modality=") && rule.modality.empty()) {
      rule.modality = w.substr(9);
      if (!valid_modality(rule.modality)) return bad("modality must be a DICOM Modality code such as CT");
    } else if (w.starts_with("sop_class=") && rule.sop_class.empty()) {
      rule.sop_class = w.substr(10);
      if (!valid_uid(rule.sop_class)) return bad("sop_class must be a SOP Class UID");
    } else {
      return bad("unexpected \"" + w.substr(0, 40) + "\"");
    }
  }
  return rule;
}

} // namespace tresor::config
