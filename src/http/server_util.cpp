// server_util.h: the Beast-free helpers of the HTTPS transport.
#include "http/server_util.h"

#include "http/multipart.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <iterator>

namespace tresor::http::detail {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Response error_with(int status, Errc code, std::string message) {
  Response r = error_response(make_error(code, std::move(message)));
  r.status = status;
  return r;
}
Response error_of(Errc code, std::string message) { return error_response(make_error(code, std::move(message))); }

Response login_redirect(const Request& req) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  auto encode = [](std::string_view s) {
    std::string out;
    for (unsigned char ch : s) {
      if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == '/') {
        out += static_cast<char>(ch);
      } else {
        out += '%';
        out += kHex[ch >> 4];
        out += kHex[ch & 15];
      }
    }
    return out;
  };
  std::string target = req.path;
  for (std::size_t i = 0; i < req.query.size(); ++i)
    target += (i == 0 ? "?" : "&") + encode(req.query[i].first) + "=" + encode(req.query[i].second);
  Response r;
  r.status = 303;
  r.set("Location", "/app/login.html?next=" + encode(target));
  r.set("Content-Type", "text/plain; charset=utf-8");
  r.body = "log in first\n";
  return r;
}

bool is_credential_param(std::string_view key) {
  static constexpr std::string_view kNames[] = {"access_token", "token", "api_key", "apikey", "auth",
                                                "password", "session", "jwt"};
  return std::any_of(std::begin(kNames), std::end(kNames), [&](std::string_view n) { return iequals(key, n); });
}

std::string_view find_cookie(const Fields& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (!iequals(key, "cookie")) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      std::size_t semi = rest.find(';');
      std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != name) continue;
      std::string_view v = trim(pair.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return {};
}

bool looks_like_browser(const Request& req) {
  for (const auto& [name, value] : req.headers) {
    if (iequals(name, "origin") || iequals(name, "x-requested-with") ||
        (name.size() > 10 && iequals(name.substr(0, 10), "sec-fetch-")))
      return true;
    if (iequals(name, "user-agent") && trim(value).starts_with("Mozilla/")) return true;
    if (iequals(name, "accept")) {
      std::string lowered;
      for (char c : value) lowered.push_back(lower(c));
      if (lowered.find("text/html") != std::string::npos) return true;
    }
  }
  return false;
}

namespace {

// "https://Host:443" -> "https://host"; lower-cased, default port elided.
std::string normal_origin(std::string_view origin) {
  std::string out;
  for (char c : trim(origin)) out.push_back(lower(c));
  while (!out.empty() && out.back() == '/') out.pop_back();
  if (out.starts_with("https://") && out.ends_with(":443")) out.resize(out.size() - 4);
  return out;
}

} // namespace

std::optional<Response> check_state_changing(const Request& req, bool file_body, bool has_body,
                                             std::string_view public_origin) {
  if (auto site = req.header("Sec-Fetch-Site")) {
    const std::string_view v = trim(*site);
    if (!iequals(v, "same-origin") && !iequals(v, "none"))
      return error_with(403, Errc::permission_denied, "cross-origin request refused");
  }
  if (auto origin = req.header("Origin")) {
    const std::string got = normal_origin(*origin);
    bool same = !public_origin.empty() && got == normal_origin(public_origin);
    if (auto host = req.header("Host"); host && !trim(*host).empty())
      same = same || got == normal_origin("https://" + std::string(trim(*host)));
    if (!same) return error_with(403, Errc::permission_denied, "cross-origin request refused");
  }
  auto type = req.header("Content-Type");
  if (!has_body && !type) return std::nullopt;
  auto media = parse_media_type(type.value_or(""));
  const char* want = file_body ? "multipart/related" : "application/json";
  if (!media || media->type != want) {
    return error_with(415, Errc::unsupported,
                      std::string("state-changing requests must have Content-Type: ") + want);
  }
  return std::nullopt;
}

bool valid_header_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}
bool valid_header_value(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}
bool reserved_header(std::string_view name) {
  return iequals(name, "server") || iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "connection") || (name.size() >= 15 && iequals(name.substr(0, 15), "access-control-"));
}

bool TempFile::create(const std::filesystem::path& dir) {
  std::string name = (dir / "tresor-upload-XXXXXX").string();
  fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return false;
  path = name;
  return true;
}

bool TempFile::write(const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

void TempFile::close_fd() {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void TempFile::discard() {
  close_fd();
  if (!path.empty()) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    path.clear();
  }
}

} // namespace tresor::http::detail
