#include "dicom/dictionary.h"

#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcdicent.h>
#include <dcmtk/dcmdata/dcspchrs.h>
#include <dcmtk/dcmdata/dctag.h>

namespace tresor::dicom {

std::optional<Tag> tag_for_keyword(std::string_view keyword) {
  if (keyword.empty() || keyword.size() > 64) return std::nullopt;
  for (char c : keyword)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return std::nullopt;
  const std::string name(keyword);
  std::optional<Tag> out;
  const DcmDataDictionary& dict = dcmDataDict.rdlock();
  const DcmDictEntry* entry = dict.findEntry(name.c_str());
  if (entry != nullptr && !entry->isRepeating() && entry->getPrivateCreator() == nullptr)
    out = make_tag(entry->getGroup(), entry->getElement());
  dcmDataDict.rdunlock();
  return out;
}

std::string keyword_for(Tag tag) {
  DcmTag t(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xffff));
  const char* name = t.getTagName();
  if (name == nullptr || std::string_view(name) == DcmTag_ERROR_TagName) return {};
  return name;
}

std::string vr_for(Tag tag) {
  DcmTag t(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xffff));
  switch (t.getEVR()) {
    case EVR_xs: return "US";
    case EVR_ox: case EVR_px: return "OW";
    case EVR_lt: return "OB";
    case EVR_up: return "UL";
    case EVR_na: case EVR_UNKNOWN: case EVR_UNKNOWN2B: return "UN";
    default: break;
  }
  const char* vr = t.getVR().getValidVRName();
  return vr ? vr : "UN";
}

std::string to_utf8(std::string_view value, std::string_view charset, bool is_pn) {
  bool ascii = true;
  for (char c : value)
    if (static_cast<unsigned char>(c) >= 0x80 || c == 0x1b) {
      ascii = false;
      break;
    }
  if (ascii || charset.empty() || charset == "ISO_IR 192") return std::string(value);
  DcmSpecificCharacterSet converter;
  if (converter.selectCharacterSet(OFString(charset.data(), charset.size())).bad()) return std::string(value);
  OFString out;
  const OFString delimiters = is_pn ? OFString("\\^=") : OFString("\\");
  if (converter.convertString(OFString(value.data(), value.size()), out, delimiters).bad()) return std::string(value);
  return std::string(out.c_str(), out.length());
}

} // namespace tresor::dicom
