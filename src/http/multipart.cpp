#include "http/multipart.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>

namespace tresor::http {
namespace {

constexpr std::size_t kMaxHeaderLines = 64;
constexpr std::size_t kMaxPaddingLine = 1024;  // transport padding after a delimiter

bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 2046 bchars.
bool valid_boundary(std::string_view b) {
  if (b.empty() || b.size() > 70 || b.back() == ' ') return false;
  for (char c : b)
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string_view("'()+_,-./:=? ").find(c) == std::string_view::npos)
      return false;
  return true;
}

} // namespace

std::optional<std::string_view> MediaType::param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

std::optional<MediaType> parse_media_type(std::string_view text) {
  if (text.size() > 4096) return std::nullopt;
  MediaType mt;
  std::size_t i = 0;
  auto skip_ws = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  };
  auto token = [&]() -> std::string {
    std::size_t start = i;
    while (i < text.size() && is_tchar(text[i])) ++i;
    return std::string(text.substr(start, i - start));
  };
  skip_ws();
  std::string type = token();
  if (type.empty() || i >= text.size() || text[i] != '/') return std::nullopt;
  ++i;
  std::string sub = token();
  if (sub.empty()) return std::nullopt;
  mt.type = lower(type + "/" + sub);
  skip_ws();
  while (i < text.size()) {
    if (text[i] != ';') return std::nullopt;
    ++i;
    skip_ws();
    if (i >= text.size()) break;  // tolerate a trailing ';'
    std::string name = token();
    if (name.empty() || i >= text.size() || text[i] != '=') return std::nullopt;
    ++i;
    std::string value;
    if (i < text.size() && text[i] == '"') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        char c = text[i++];
        if (c == '\\' && i < text.size()) {
          value += text[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value += c;
        }
      }
      if (!closed) return std::nullopt;
    } else {
      // A token, leniently also with '/': DICOMweb clients (OHIF's default,
      // dcm4che) send type=application/dicom unquoted, which RFC 9110
      // would require to be quoted.
      std::size_t start = i;
      while (i < text.size() && (is_tchar(text[i]) || text[i] == '/')) ++i;
      value = std::string(text.substr(start, i - start));
      if (value.empty()) return std::nullopt;
    }
    mt.params.emplace_back(lower(name), std::move(value));
    if (mt.params.size() > 32) return std::nullopt;
    skip_ws();
  }
  return mt;
}

MultipartParser::MultipartParser(std::string boundary, MultipartLimits limits, PartSink& sink)
    : delimiter_("\r\n--" + boundary), limits_(limits), sink_(sink) {
  // A virtual CRLF lets the first delimiter (which may open the body) match
  // the same "\r\n--boundary" pattern as every later one.
  buf_ = "\r\n";
  if (!valid_boundary(boundary)) {
    state_ = State::failed;
    error_ = make_error(Errc::invalid_argument, "multipart boundary missing or invalid");
  }
}

Status MultipartParser::fail_with(Error error) {
  state_ = State::failed;
  error_ = std::move(error);
  buf_.clear();
  buf_.shrink_to_fit();
  return std::unexpected(error_);
}

Status MultipartParser::feed(std::string_view chunk) {
  if (state_ == State::failed) return std::unexpected(error_);
  if (state_ == State::epilogue) return {};
  buf_.append(chunk);
  return process(false);
}

Status MultipartParser::finish() {
  if (state_ == State::failed) return std::unexpected(error_);
  if (auto st = process(true); !st) return st;
  if (state_ != State::epilogue)
    return fail_with(make_error(Errc::invalid_argument, "multipart body ends before its closing delimiter"));
  return {};
}

Status MultipartParser::parse_headers(std::string_view block) {
  Fields headers;
  while (!block.empty()) {
    std::size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view{} : block.substr(eol + 2);
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return fail_with(make_error(Errc::invalid_argument, "multipart part header line without a name"));
    std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_tchar))
      return fail_with(make_error(Errc::invalid_argument, "multipart part header name is invalid"));
    if (headers.size() >= kMaxHeaderLines)
      return fail_with(make_error(Errc::too_large, "too many header lines in a multipart part"));
    headers.emplace_back(std::string(name), std::string(trim(line.substr(colon + 1))));
  }
  if (parts_ >= limits_.max_parts)
    return fail_with(make_error(Errc::too_large, "more than " + std::to_string(limits_.max_parts) + " parts"));
  ++parts_;
  if (auto st = sink_.on_begin(headers); !st) return fail_with(st.error());
  return {};
}

Status MultipartParser::process(bool final) {
  for (;;) {
    switch (state_) {
      case State::failed: return std::unexpected(error_);
      case State::epilogue: buf_.clear(); return {};
      case State::preamble: {
        std::size_t pos = buf_.find(delimiter_);
        if (pos == std::string::npos) {
          if (buf_.size() >= delimiter_.size()) buf_.erase(0, buf_.size() - (delimiter_.size() - 1));
          return {};
        }
        buf_.erase(0, pos + delimiter_.size());
        state_ = State::after_delimiter;
        break;
      }
      case State::after_delimiter: {
        if (buf_.size() < 2) return {};
        if (buf_.compare(0, 2, "--") == 0) {
          state_ = State::epilogue;
          break;
        }
        std::size_t eol = buf_.find("\r\n");
        if (eol == std::string::npos) {
          if (buf_.size() > kMaxPaddingLine)
            return fail_with(make_error(Errc::invalid_argument, "garbage after a multipart delimiter"));
          return {};
        }
        if (!std::all_of(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(eol),
                         [](char c) { return c == ' ' || c == '\t'; }))
          return fail_with(make_error(Errc::invalid_argument, "garbage after a multipart delimiter"));
        buf_.erase(0, eol + 2);
        state_ = State::headers;
        break;
      }
      case State::headers: {
        std::string_view block;
        std::size_t consumed = 0;
        if (buf_.size() >= 2 && buf_.compare(0, 2, "\r\n") == 0) {
          consumed = 2;  // no headers at all
        } else {
          std::size_t end = buf_.find("\r\n\r\n");
          if (end == std::string::npos) {
            // Hopeless only once the buffer could hold a whole allowed block and
            // its "\r\n\r\n": a block of max_header_bytes whose terminator has
            // not fully arrived yet is still fine (same result however the body
            // is split; found by fuzz_multipart, regressions/fuzz_multipart).
            if (buf_.size() >= limits_.max_header_bytes + 4)
              return fail_with(make_error(Errc::too_large, "multipart part headers too large"));
            return {};
          }
          if (end > limits_.max_header_bytes)
            return fail_with(make_error(Errc::too_large, "multipart part headers too large"));
          block = std::string_view(buf_).substr(0, end);
          consumed = end + 4;
        }
        if (auto st = parse_headers(block); !st) return st;
        buf_.erase(0, consumed);
        state_ = State::body;
        break;
      }
      case State::body: {
        std::size_t pos = buf_.find(delimiter_);
        if (pos == std::string::npos) {
          std::size_t keep = delimiter_.size() - 1;
          if (buf_.size() > keep) {
            std::size_t n = buf_.size() - keep;
            if (auto st = sink_.on_data(std::string_view(buf_).substr(0, n)); !st) return fail_with(st.error());
            buf_.erase(0, n);
          }
          return {};
        }
        if (pos > 0)
          if (auto st = sink_.on_data(std::string_view(buf_).substr(0, pos)); !st) return fail_with(st.error());
        if (auto st = sink_.on_end(); !st) return fail_with(st.error());
        buf_.erase(0, pos + delimiter_.size());
        state_ = State::after_delimiter;
        break;
      }
    }
    (void)final;
  }
}

std::string part_header(std::string_view boundary, std::string_view content_type, std::string_view content_location) {
  std::string out;
  out.reserve(boundary.size() + content_type.size() + content_location.size() + 64);
  out.append("--").append(boundary).append("\r\nContent-Type: ").append(content_type);
  if (!content_location.empty()) out.append("\r\nContent-Location: ").append(content_location);
  out.append("\r\n\r\n");
  return out;
}

std::string closing_delimiter(std::string_view boundary) { return "--" + std::string(boundary) + "--\r\n"; }

std::string make_boundary() {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    // RAND_bytes does not fail on a seeded Linux system; fall back to a fixed
    // but still unambiguous boundary rather than aborting a response.
    return "tresor-boundary-7f1c3e9a5b2d4f60";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : raw) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

} // namespace tresor::http
