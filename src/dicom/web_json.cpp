// DICOM JSON (PS3.18 F.2) written from DCMTK's element tree, and bulk data
// values addressed by path.
// Not DCMTK's own writeJson(): its bulk data hook only sees a tag (our URIs
// carry the item path), it neither converts character sets nor repairs
// invalid UTF-8, and it copies malformed IS/DS values into the output as
// numbers. Here every string is converted to UTF-8 (SpecificCharacterSet,
// per item), invalid bytes become U+FFFD, and IS/DS values that are not valid
// JSON numbers after normalisation are written as strings, so the output is
// always valid JSON.
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcvr.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include "dicom/web.h"
#include "dicom/web_internal.h"

namespace tresor::dicom {

namespace {

namespace fs = std::filesystem;
using detail::append_valid_utf8;
using Charset = detail::Utf8Converter;

// ---------------------------------------------------------------- strings

// JSON string literal of a valid UTF-8 string.
void append_json_string(std::string& out, std::string_view utf8) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char ch : utf8) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  return s;
}
std::string_view trim(std::string_view s) {
  s = trim_right(s);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char delim) {
  std::vector<std::string_view> parts;
  for (;;) {
    const auto pos = s.find(delim);
    parts.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) break;
    s.remove_prefix(pos + 1);
  }
  return parts;
}

void append_base64(std::string& out, const unsigned char* p, std::size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out.reserve(out.size() + (n + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t v = (std::uint32_t(p[i]) << 16) | (std::uint32_t(p[i + 1]) << 8) | p[i + 2];
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (i < n) {
    std::uint32_t v = std::uint32_t(p[i]) << 16;
    if (i + 1 < n) v |= std::uint32_t(p[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
}

// An IS/DS value as a JSON number ("+1" -> 1, ".5" -> 0.5, "5." -> 5,
// "007" -> 7), or nothing when the value is not a decimal number.
std::optional<std::string> json_number(std::string_view v) {
  std::string out;
  std::size_t i = 0;
  if (i < v.size() && (v[i] == '+' || v[i] == '-')) {
    if (v[i] == '-') out.push_back('-');
    ++i;
  }
  const std::size_t int_start = i;
  while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
  std::string_view int_part = v.substr(int_start, i - int_start);
  std::string_view frac_part;
  if (i < v.size() && v[i] == '.') {
    const std::size_t f = ++i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
    frac_part = v.substr(f, i - f);
  }
  if (int_part.empty() && frac_part.empty()) return std::nullopt;
  std::string_view exp_digits;
  char exp_sign = 0;
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '+' || v[i] == '-')) exp_sign = v[i++];
    const std::size_t e = i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
    exp_digits = v.substr(e, i - e);
    if (exp_digits.empty()) return std::nullopt;
  }
  if (i != v.size()) return std::nullopt;
  while (int_part.size() > 1 && int_part.front() == '0') int_part.remove_prefix(1);
  out += int_part.empty() ? std::string_view("0") : int_part;
  if (!frac_part.empty()) {
    out.push_back('.');
    out += frac_part;
  }
  if (!exp_digits.empty()) {
    out.push_back('e');
    if (exp_sign == '-') out.push_back('-');
    out += exp_digits;
  }
  return out;
}

template <class T> void append_integer(std::string& out, T v) {
  std::array<char, 32> buf{};
  auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out.append(buf.data(), r.ptr);
}

void append_float(std::string& out, double v, bool single) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    return;
  }
  std::array<char, 64> buf{};
  auto r = single ? std::to_chars(buf.data(), buf.data() + buf.size(), static_cast<float>(v))
                  : std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out.append(buf.data(), r.ptr);
}

void append_tag_hex(std::string& out, const DcmTagKey& t, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  const std::uint32_t v = (std::uint32_t(t.getGroup()) << 16) | t.getElement();
  for (int shift = 28; shift >= 0; shift -= 4) out.push_back(digits[(v >> shift) & 0xF]);
}

// ---------------------------------------------------------------- writer

enum class Kind { string, text, pn, number_string, binary_number, at, binary, sequence };

struct VrInfo {
  const char* name;
  Kind kind;
};

VrInfo classify(DcmElement& e) {
  const DcmEVR evr = e.getVR();
  switch (evr) {
    case EVR_AE: case EVR_AS: case EVR_CS: case EVR_DA: case EVR_DT: case EVR_LO: case EVR_SH:
    case EVR_TM: case EVR_UC: case EVR_UI:
      return {DcmVR(evr).getValidVRName(), Kind::string};
    case EVR_LT: case EVR_ST: case EVR_UT: case EVR_UR:
      return {DcmVR(evr).getValidVRName(), Kind::text};
    case EVR_PN: return {"PN", Kind::pn};
    case EVR_IS: case EVR_DS: return {DcmVR(evr).getValidVRName(), Kind::number_string};
    case EVR_US: case EVR_SS: case EVR_UL: case EVR_SL: case EVR_FL: case EVR_FD: case EVR_SV: case EVR_UV:
      return {DcmVR(evr).getValidVRName(), Kind::binary_number};
    case EVR_AT: return {"AT", Kind::at};
    case EVR_SQ: return {"SQ", Kind::sequence};
    case EVR_OB: case EVR_OD: case EVR_OF: case EVR_OL: case EVR_OV: case EVR_OW:
      return {DcmVR(evr).getValidVRName(), Kind::binary};
    default: break;
  }
  if (e.ident() == EVR_SQ) return {"SQ", Kind::sequence};
  // Internal VRs: OB-or-OW (Pixel Data, overlays, LUT data) and the like.
  if (e.ident() == EVR_PixelData || e.ident() == EVR_OverlayData || evr == EVR_ox || evr == EVR_px ||
      evr == EVR_lt) {
    const char* name = (e.ident() == EVR_OW || evr == EVR_lt) ? "OW" : "OB";
    if (e.getTag() == DCM_PixelData || e.ident() == EVR_PixelData) {
      // DCMTK tracks the VR it read in the tag.
      name = DcmVR(e.getTag().getEVR()).getValidVRName();
      if (std::strcmp(name, "OB") != 0 && std::strcmp(name, "OW") != 0) name = "OW";
    }
    return {name, Kind::binary};
  }
  if (evr == EVR_xs) return {"US", Kind::binary_number};
  if (evr == EVR_up) return {"UL", Kind::binary_number};
  return {"UN", Kind::binary};
}

class JsonWriter {
public:
  explicit JsonWriter(const JsonOptions& opt) : opt_(opt) {}

  // Appends `item` as a JSON object to `out`. `parent` is the character set
  // in force around it; `path` is the bulk data path prefix ("" at the top
  // level, "ggggeeee/i/" inside items).
  Status write_item(DcmItem& item, const Charset& parent, const std::string& path, bool top, std::string& out) {
    // Look the character set up before walking: find*() moves the list
    // cursor that nextInContainer() relies on for a linear walk.
    std::unique_ptr<Charset> own;
    DcmElement* cs = nullptr;
    if (item.findAndGetElement(DCM_SpecificCharacterSet, cs, OFFalse).good() && cs) {
      OFString raw;
      if (cs->getOFStringArray(raw, OFFalse).good())
        own = std::make_unique<Charset>(std::string_view(raw.c_str(), raw.length()));
    }
    const Charset& charset = own ? *own : parent;

    out.push_back('{');
    bool first = true;
    for (DcmObject* obj = item.nextInContainer(nullptr); obj; obj = item.nextInContainer(obj)) {
      auto* e = dynamic_cast<DcmElement*>(obj);
      if (!e) continue;
      const DcmTagKey key = e->getTag();
      if (key.getElement() == 0x0000) continue;                   // group lengths (retired)
      if (top && key.getGroup() == 0x0002) continue;               // meta header
      if (key == DCM_DataSetTrailingPadding || key.getGroup() == 0xFFFE) continue;
      std::string body;
      if (auto s = write_element(*e, charset, path, body); !s) return s;
      if (body.empty()) continue;  // bulk data left out
      if (!first) out.push_back(',');
      first = false;
      out.push_back('"');
      append_tag_hex(out, key, true);
      out += "\":";
      out += body;
    }
    out.push_back('}');
    return {};
  }

private:
  // Writes {"vr":..., ...} for `e` into `body`; leaves it empty when the
  // element is bulk data and no instance URL was given.
  Status write_element(DcmElement& e, const Charset& charset, const std::string& path, std::string& body) {
    const VrInfo vr = classify(e);
    const Uint32 length = e.getLength();
    body = "{\"vr\":\"";
    body += vr.name;
    body.push_back('"');

    if (vr.kind == Kind::sequence) {
      auto* seq = dynamic_cast<DcmSequenceOfItems*>(&e);
      if (!seq) return fail(Errc::corrupt, "malformed sequence");
      if (seq->card() == 0) {
        body.push_back('}');
        return {};
      }
      body += ",\"Value\":[";
      std::string item_path = path;
      append_tag_hex(item_path, e.getTag(), false);
      item_path.push_back('/');
      unsigned long index = 0;
      for (DcmObject* obj = seq->nextInContainer(nullptr); obj; obj = seq->nextInContainer(obj), ++index) {
        auto* item = dynamic_cast<DcmItem*>(obj);
        if (!item) continue;
        if (index) body.push_back(',');
        if (auto st = write_item(*item, charset, item_path + std::to_string(index) + "/", false, body); !st)
          return st;
      }
      body += "]}";
      return {};
    }

    const bool is_pixel_data = e.getTag() == DCM_PixelData;
    const bool encapsulated = is_pixel_data && e.getLengthField() == DCM_UndefinedLength;
    if (length == 0 && !encapsulated) {
      body.push_back('}');
      return {};
    }
    if (is_pixel_data || encapsulated || length > opt_.bulk_threshold) {
      if (opt_.instance_url.empty()) {
        body.clear();
        return {};
      }
      body += ",\"BulkDataURI\":";
      std::string uri;
      append_valid_utf8(uri, opt_.instance_url);
      uri += "/bulk/" + path;
      append_tag_hex(uri, e.getTag(), false);
      append_json_string(body, uri);
      body.push_back('}');
      return {};
    }

    switch (vr.kind) {
      case Kind::binary: return write_inline_binary(e, length, body);
      case Kind::binary_number: return write_binary_numbers(e, vr.name, body);
      case Kind::at: return write_tags(e, body);
      default: return write_strings(e, vr.kind, charset, body);
    }
  }

  Status write_inline_binary(DcmElement& e, Uint32 length, std::string& body) {
    std::string bytes(length, '\0');
    if (e.getPartialValue(bytes.data(), 0, length, nullptr, EBO_LittleEndian).bad())
      return fail(Errc::corrupt, "cannot read an element value");
    body += ",\"InlineBinary\":\"";
    append_base64(body, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    body += "\"}";
    return {};
  }

  Status write_binary_numbers(DcmElement& e, std::string_view vr, std::string& body) {
    const unsigned long vm = e.getVM();
    if (vm == 0) {
      body.push_back('}');
      return {};
    }
    body += ",\"Value\":[";
    OFCondition c = EC_Normal;
    for (unsigned long i = 0; i < vm && c.good(); ++i) {
      if (i) body.push_back(',');
      if (vr == "US") { Uint16 v = 0; c = e.getUint16(v, i); append_integer(body, v); }
      else if (vr == "SS") { Sint16 v = 0; c = e.getSint16(v, i); append_integer(body, v); }
      else if (vr == "UL") { Uint32 v = 0; c = e.getUint32(v, i); append_integer(body, v); }
      else if (vr == "SL") { Sint32 v = 0; c = e.getSint32(v, i); append_integer(body, v); }
      else if (vr == "SV") { Sint64 v = 0; c = e.getSint64(v, i); append_integer(body, v); }
      else if (vr == "UV") { Uint64 v = 0; c = e.getUint64(v, i); append_integer(body, v); }
      else if (vr == "FL") { Float32 v = 0; c = e.getFloat32(v, i); append_float(body, v, true); }
      else { Float64 v = 0; c = e.getFloat64(v, i); append_float(body, v, false); }
    }
    if (c.bad()) return fail(Errc::corrupt, "cannot read an element value");
    body += "]}";
    return {};
  }

  Status write_tags(DcmElement& e, std::string& body) {
    const unsigned long vm = e.getVM();
    if (vm == 0) {
      body.push_back('}');
      return {};
    }
    body += ",\"Value\":[";
    for (unsigned long i = 0; i < vm; ++i) {
      DcmTagKey t;
      if (e.getTagVal(t, i).bad()) return fail(Errc::corrupt, "cannot read an element value");
      if (i) body.push_back(',');
      body.push_back('"');
      append_tag_hex(body, t, true);
      body.push_back('"');
    }
    body += "]}";
    return {};
  }

  Status write_strings(DcmElement& e, Kind kind, const Charset& charset, std::string& body) {
    OFString raw_value;
    if (e.getOFStringArray(raw_value, OFFalse).bad()) return fail(Errc::corrupt, "cannot read an element value");
    e.compact();  // values read lazily from the file need not stay in memory
    const std::string_view raw(raw_value.c_str(), raw_value.length());

    // UTF-8 first, splitting afterwards: a multi-byte character of a legacy
    // character set may contain the byte '\'; UTF-8 never does.
    std::string utf8;
    if (e.isAffectedBySpecificCharacterSet()) {
      const char* delimiters = kind == Kind::pn ? "\\^=" : kind == Kind::text ? "" : "\\";
      charset.append(utf8, raw, delimiters);
    } else {
      append_valid_utf8(utf8, raw);
    }

    std::vector<std::string_view> values;
    if (kind == Kind::text) values.push_back(trim_right(utf8));
    else values = split(utf8, '\\');
    const bool keeps_leading = kind == Kind::text || kind == Kind::pn;
    if (values.size() == 1 && (keeps_leading ? trim_right(values[0]) : trim(values[0])).empty()) {
      body.push_back('}');
      return {};
    }

    body += ",\"Value\":[";
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) body.push_back(',');
      switch (kind) {
        case Kind::text: append_json_string(body, values[i]); break;
        case Kind::pn: write_person_name(trim_right(values[i]), body); break;
        case Kind::number_string: {
          const std::string_view v = trim(values[i]);
          if (v.empty()) body += "null";
          else if (auto n = json_number(v)) body += *n;
          else append_json_string(body, v);  // not a number: keep it readable
          break;
        }
        default: {
          const std::string_view v = trim(values[i]);
          if (v.empty()) body += "null";
          else append_json_string(body, v);
        }
      }
    }
    body += "]}";
    return {};
  }

  static void write_person_name(std::string_view v, std::string& body) {
    if (v.empty()) {
      body += "null";
      return;
    }
    static constexpr const char* kGroups[] = {"Alphabetic", "Ideographic", "Phonetic"};
    const auto groups = split(v, '=');
    body.push_back('{');
    bool first = true;
    for (std::size_t g = 0; g < groups.size() && g < 3; ++g) {
      const std::string_view value = trim_right(groups[g]);
      if (value.empty()) continue;
      if (!first) body.push_back(',');
      first = false;
      body.push_back('"');
      body += kGroups[g];
      body += "\":";
      append_json_string(body, value);
    }
    body.push_back('}');
  }

  const JsonOptions& opt_;
};

// ---------------------------------------------------------------- bulk paths

struct PathStep {
  DcmTagKey tag;
  unsigned long item = 0;  // valid for all but the last step
};

std::optional<DcmTagKey> parse_tag(std::string_view s) {
  if (s.size() != 8) return std::nullopt;
  std::uint32_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return DcmTagKey(std::uint16_t(v >> 16), std::uint16_t(v & 0xFFFF));
}

std::optional<std::vector<PathStep>> parse_path(std::string_view path) {
  constexpr std::size_t kMaxPathLength = 512;
  if (path.empty() || path.size() > kMaxPathLength) return std::nullopt;
  const auto parts = split(path, '/');
  if (parts.size() % 2 == 0) return std::nullopt;
  std::vector<PathStep> steps;
  for (std::size_t i = 0; i < parts.size(); i += 2) {
    auto tag = parse_tag(parts[i]);
    if (!tag) return std::nullopt;
    PathStep step{*tag, 0};
    if (i + 1 < parts.size()) {
      const std::string_view idx = parts[i + 1];
      if (idx.empty() || idx.size() > 9) return std::nullopt;
      const auto r = std::from_chars(idx.data(), idx.data() + idx.size(), step.item);
      if (r.ec != std::errc() || r.ptr != idx.data() + idx.size()) return std::nullopt;
    }
    steps.push_back(step);
  }
  return steps;
}

} // namespace

Result<std::string> to_dicom_json(std::shared_ptr<ByteSource> object, const JsonOptions& options) {
  return detail::guarded([&]() -> Result<std::string> {
    auto ff = detail::load_header(std::move(object));
    if (!ff) return std::unexpected(ff.error());
    std::string out;
    JsonWriter writer(options);
    const Charset ascii("");
    if (auto s = writer.write_item(*(*ff)->getDataset(), ascii, "", true, out); !s) return std::unexpected(s.error());
    return out;
  });
}

Result<std::string> bulk_value(std::shared_ptr<ByteSource> object, std::string_view path) {
  return detail::guarded([&]() -> Result<std::string> {
    const auto steps = parse_path(path);
    if (!steps) return fail(Errc::invalid_argument, "malformed bulk data path");
    auto ff = detail::load_header(std::move(object));
    if (!ff) return std::unexpected(ff.error());
    DcmDataset* ds = (*ff)->getDataset();
    const E_ByteOrder stored_order = DcmXfer(ds->getOriginalXfer()).getByteOrder();

    DcmItem* item = ds;
    for (std::size_t i = 0; i < steps->size(); ++i) {
      const PathStep& step = (*steps)[i];
      DcmElement* e = nullptr;
      if (item->findAndGetElement(step.tag, e, OFFalse).bad() || !e)
        return fail(Errc::not_found, "no such element");
      const bool last = i + 1 == steps->size();
      if (!last) {
        auto* seq = dynamic_cast<DcmSequenceOfItems*>(e);
        if (!seq || e->ident() != EVR_SQ) return fail(Errc::invalid_argument, "path step is not a sequence");
        if (step.item >= seq->card()) return fail(Errc::not_found, "no such item");
        item = seq->getItem(step.item);
        if (!item) return fail(Errc::not_found, "no such item");
        continue;
      }
      if (e->ident() == EVR_SQ || !e->isLeaf()) return fail(Errc::invalid_argument, "a sequence is not bulk data");
      if (e->getLengthField() == DCM_UndefinedLength)
        return fail(Errc::invalid_argument, "encapsulated pixel data: use frames");
      if (auto* px = dynamic_cast<DcmPixelData*>(e)) {
        E_TransferSyntax rep = EXS_Unknown;
        const DcmRepresentationParameter* param = nullptr;
        px->getOriginalRepresentationKey(rep, param);
        if (DcmXfer(rep).isEncapsulated()) return fail(Errc::invalid_argument, "encapsulated pixel data: use frames");
      }
      const Uint32 length = e->getLength();
      std::string bytes(length, '\0');
      if (length && e->getPartialValue(bytes.data(), 0, length, nullptr, stored_order).bad())
        return fail(Errc::corrupt, "cannot read the element value");
      return bytes;
    }
    return fail(Errc::invalid_argument, "malformed bulk data path");
  });
}

} // namespace tresor::dicom
