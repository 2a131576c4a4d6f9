// Conversion of DICOM strings to UTF-8 (PS3.5 6.1, PS3.3 C.12.1.1.2).
// Single character sets (ISO_IR 100, GB18030, ...) go through DCMTK's
// DcmSpecificCharacterSet. Code extensions (ISO 2022 escape sequences) are
// decoded here: DCMTK 3.6.7 as built by Debian converts with glibc iconv and
// refuses every "ISO 2022 IR nnn" term. Each escape-delimited run is handed
// to glibc iconv in an equivalent encoding (JIS X 0208/0212 as EUC-JP, KS X
// 1001 as EUC-KR, GB 2312 as EUC-CN, ISO 8859 upper halves as ISO-8859-n).
// Output is always valid UTF-8: bytes that cannot be decoded become U+FFFD.
#include <iconv.h>

#include <cerrno>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcspchrs.h>

#include "dicom/web_internal.h"

namespace tresor::dicom::detail {

namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

// What a graphic set (G0 or G1) currently holds.
enum class Set { none, ascii, jisx0201_roman, jisx0201_katakana, jisx0208, jisx0212, single_byte, ksx1001, gb2312 };

struct Designation {
  const char* term;        // defined term in SpecificCharacterSet
  std::string_view escape; // bytes after ESC
  int graphic;             // 0 = G0, 1 = G1
  Set set;
  const char* iconv_name;  // for single_byte sets
};

// PS3.3 Table C.12-3 / C.12-4.
const Designation kDesignations[] = {
    {"ISO 2022 IR 6", "(B", 0, Set::ascii, nullptr},
    {"ISO 2022 IR 13", ")I", 1, Set::jisx0201_katakana, nullptr},
    {"ISO 2022 IR 13", "(J", 0, Set::jisx0201_roman, nullptr},
    {"ISO 2022 IR 100", "-A", 1, Set::single_byte, "ISO-8859-1"},
    {"ISO 2022 IR 101", "-B", 1, Set::single_byte, "ISO-8859-2"},
    {"ISO 2022 IR 109", "-C", 1, Set::single_byte, "ISO-8859-3"},
    {"ISO 2022 IR 110", "-D", 1, Set::single_byte, "ISO-8859-4"},
    {"ISO 2022 IR 144", "-L", 1, Set::single_byte, "ISO-8859-5"},
    {"ISO 2022 IR 127", "-G", 1, Set::single_byte, "ISO-8859-6"},
    {"ISO 2022 IR 126", "-F", 1, Set::single_byte, "ISO-8859-7"},
    {"ISO 2022 IR 138", "-H", 1, Set::single_byte, "ISO-8859-8"},
    {"ISO 2022 IR 148", "-M", 1, Set::single_byte, "ISO-8859-9"},
    {"ISO 2022 IR 203", "-b", 1, Set::single_byte, "ISO-8859-15"},
    {"ISO 2022 IR 166", "-T", 1, Set::single_byte, "TIS-620"},
    {"ISO 2022 IR 87", "$B", 0, Set::jisx0208, nullptr},
    {"ISO 2022 IR 159", "$(D", 0, Set::jisx0212, nullptr},
    {"ISO 2022 IR 149", "$)C", 1, Set::ksx1001, nullptr},
    {"ISO 2022 IR 58", "$)A", 1, Set::gb2312, nullptr},
};

struct State {
  Set g0 = Set::ascii;
  Set g1 = Set::none;
  const char* g1_iconv = nullptr;
};

} // namespace

void append_valid_utf8(std::string& out, std::string_view in) {
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t n = in.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      out.push_back(char(c));
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    bool ok = len != 0 && i + len <= n && s[i + 1] >= lo && s[i + 1] <= hi;
    for (std::size_t k = 2; ok && k < len; ++k) ok = s[i + k] >= 0x80 && s[i + k] <= 0xBF;
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out += kReplacement;
      ++i;
    }
  }
}

// ISO 2022 decoder for one SpecificCharacterSet value list.
class Iso2022 {
public:
  explicit Iso2022(const std::vector<std::string>& terms) {
    // The first value selects the initial designations; empty = ISO-IR 6.
    const std::string& first = terms.empty() ? std::string() : terms[0];
    for (const auto& d : kDesignations) {
      if (first != d.term) continue;
      if (d.graphic == 0) initial_.g0 = d.set;
      else if (d.set == Set::single_byte || d.set == Set::jisx0201_katakana || d.set == Set::ksx1001 ||
               d.set == Set::gb2312) {
        initial_.g1 = d.set;
        initial_.g1_iconv = d.iconv_name;
      }
    }
  }
  ~Iso2022() {
    for (auto& [name, cd] : converters_)
      if (cd != reinterpret_cast<iconv_t>(-1)) iconv_close(cd);
  }
  Iso2022(const Iso2022&) = delete;
  Iso2022& operator=(const Iso2022&) = delete;

  void decode(std::string& out, std::string_view in, std::string_view delimiters) {
    State st = initial_;
    const auto* s = reinterpret_cast<const unsigned char*>(in.data());
    const std::size_t n = in.size();
    std::size_t i = 0;
    while (i < n) {
      const unsigned char c = s[i];
      if (c == 0x1B) {  // ESC: designation
        const Designation* match = nullptr;
        for (const auto& d : kDesignations)
          if (in.substr(i + 1, d.escape.size()) == d.escape) {
            match = &d;
            break;
          }
        if (!match) {
          emit_direct(out, kReplacement);
          ++i;
          continue;
        }
        if (match->graphic == 0) {
          st.g0 = match->set;
        } else {
          st.g1 = match->set;
          st.g1_iconv = match->iconv_name;
        }
        i += 1 + match->escape.size();
        continue;
      }
      if (c < 0x80) {
        const bool two_byte = st.g0 == Set::jisx0208 || st.g0 == Set::jisx0212;
        if (!two_byte || c < 0x21 || c == 0x7F) {
          // Delimiters (and CR, LF, FF, HT) switch back to the initial sets.
          if (c == '\r' || c == '\n' || c == '\f' || c == '\t' || delimiters.find(char(c)) != std::string_view::npos)
            st = initial_;
          emit_direct(out, std::string_view(reinterpret_cast<const char*>(s + i), 1));
          ++i;
          continue;
        }
        if (i + 1 >= n || s[i + 1] < 0x21 || s[i + 1] > 0x7E) {
          emit_direct(out, kReplacement);
          ++i;
          continue;
        }
        std::string euc;
        if (st.g0 == Set::jisx0212) euc.push_back(char(0x8F));
        euc.push_back(char(c | 0x80));
        euc.push_back(char(s[i + 1] | 0x80));
        emit_run(out, "EUC-JP", euc);
        i += 2;
        continue;
      }
      switch (st.g1) {
        case Set::jisx0201_katakana:
          if (c >= 0xA1 && c <= 0xDF) {
            const unsigned cp = 0xFF61 + (c - 0xA1);  // half-width katakana
            const char utf8[] = {char(0xE0 | (cp >> 12)), char(0x80 | ((cp >> 6) & 0x3F)), char(0x80 | (cp & 0x3F))};
            emit_direct(out, std::string_view(utf8, 3));
          } else {
            emit_direct(out, kReplacement);
          }
          ++i;
          break;
        case Set::single_byte:
          emit_run(out, st.g1_iconv, std::string_view(reinterpret_cast<const char*>(s + i), 1));
          ++i;
          break;
        case Set::ksx1001:
        case Set::gb2312:
          if (i + 1 < n && s[i + 1] >= 0xA1 && s[i + 1] <= 0xFE) {
            emit_run(out, st.g1 == Set::ksx1001 ? "EUC-KR" : "GB2312",
                     std::string_view(reinterpret_cast<const char*>(s + i), 2));
            i += 2;
          } else {
            emit_direct(out, kReplacement);
            ++i;
          }
          break;
        default:
          emit_direct(out, kReplacement);
          ++i;
      }
    }
    flush(out);
  }

private:
  void emit_direct(std::string& out, std::string_view utf8) {
    flush(out);
    out += utf8;
  }
  void emit_run(std::string& out, const char* charset, std::string_view bytes) {
    if (run_charset_ != charset) {
      flush(out);
      run_charset_ = charset;
    }
    run_ += bytes;
  }
  void flush(std::string& out) {
    if (run_.empty()) return;
    iconv_t cd = converter(run_charset_);
    std::size_t pos = 0;
    char buf[256];
    while (pos < run_.size()) {
      if (cd == reinterpret_cast<iconv_t>(-1)) {
        out += kReplacement;
        ++pos;
        continue;
      }
      char* src = run_.data() + pos;
      std::size_t src_left = run_.size() - pos;
      char* dst = buf;
      std::size_t dst_left = sizeof buf;
      const std::size_t r = iconv(cd, &src, &src_left, &dst, &dst_left);
      append_valid_utf8(out, std::string_view(buf, std::size_t(dst - buf)));
      pos = run_.size() - src_left;
      if (r == std::size_t(-1) && errno != E2BIG) {
        // Undecodable sequence: replace one byte and go on.
        iconv(cd, nullptr, nullptr, nullptr, nullptr);
        out += kReplacement;
        ++pos;
      }
    }
    run_.clear();
  }
  iconv_t converter(const char* charset) {
    auto it = converters_.find(charset);
    if (it == converters_.end()) it = converters_.emplace(charset, iconv_open("UTF-8", charset)).first;
    return it->second;
  }

  State initial_;
  std::string run_;
  const char* run_charset_ = nullptr;
  std::map<std::string, iconv_t> converters_;
};

Utf8Converter::Utf8Converter(std::string_view specific_character_set) {
  std::vector<std::string> terms;
  std::string_view rest = specific_character_set;
  for (;;) {
    const auto pos = rest.find('\\');
    terms.emplace_back(trim_spaces(rest.substr(0, pos)));
    if (pos == std::string_view::npos) break;
    rest.remove_prefix(pos + 1);
  }
  bool code_extensions = terms.size() > 1;
  for (const auto& t : terms) code_extensions = code_extensions || t.starts_with("ISO 2022");
  if (code_extensions) {
    iso2022_ = std::make_unique<Iso2022>(terms);
    return;
  }
  const std::string& term = terms[0];
  if (term.empty() || term == "ISO_IR 6" || term == "ISO_IR 192") return;  // ASCII / UTF-8: only repaired
  if (!DcmSpecificCharacterSet::isConversionAvailable()) return;
  auto conv = std::make_unique<DcmSpecificCharacterSet>();
  if (conv->selectCharacterSet(OFString(term.c_str())).good()) dcmtk_ = std::move(conv);
}

Utf8Converter::~Utf8Converter() = default;

void Utf8Converter::append(std::string& out, std::string_view raw, const char* delimiters) const {
  if (iso2022_) {
    iso2022_->decode(out, raw, delimiters);
    return;
  }
  if (dcmtk_) {
    OFString converted;
    if (dcmtk_->convertString(raw.data(), raw.size(), converted, delimiters).good()) {
      append_valid_utf8(out, std::string_view(converted.c_str(), converted.length()));
      return;
    }
  }
  append_valid_utf8(out, raw);
}

} // namespace tresor::dicom::detail
