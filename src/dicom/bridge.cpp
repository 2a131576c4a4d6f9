// DCMTK identifier <-> protocol-neutral query model; see dcmtk_bridge.h.
#include "dicom/dcmtk_bridge.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmdata/dctag.h>
#include <dcmtk/dcmdata/dcvr.h>

namespace tresor::dicom {

namespace {

constexpr std::size_t kMaxValueBytes = 64 * 1024;
constexpr std::size_t kMaxKeys = 256;

std::string trim_trailing(const OFString& s) {
  std::string out(s.c_str(), s.length());
  while (!out.empty() && (out.back() == ' ' || out.back() == '\0')) out.pop_back();
  return out;
}

// VRs whose values are text or numbers with a string form; everything else
// (sequences, OB/OW/OF/OD/OL/OV, UN, unknown) is not a query key.
bool is_key_vr(DcmEVR vr) {
  switch (vr) {
    case EVR_AE: case EVR_AS: case EVR_AT: case EVR_CS: case EVR_DA: case EVR_DS: case EVR_DT:
    case EVR_FL: case EVR_FD: case EVR_IS: case EVR_LO: case EVR_LT: case EVR_PN: case EVR_SH:
    case EVR_SL: case EVR_SS: case EVR_ST: case EVR_TM: case EVR_UC: case EVR_UI: case EVR_UL:
    case EVR_UR: case EVR_US: case EVR_UT: case EVR_SV: case EVR_UV:
      return true;
    default:
      return false;
  }
}

Tag to_tag(const DcmTagKey& k) { return make_tag(k.getGroup(), k.getElement()); }

} // namespace

Result<QueryRequest> parse_query(DcmDataset& identifier, QueryModel model) {
  QueryRequest q;
  q.model = model;
  try {
    OFString level_text;
    if (identifier.findAndGetOFStringArray(DCM_QueryRetrieveLevel, level_text, OFFalse).bad())
      return fail(Errc::invalid_argument, "missing QueryRetrieveLevel");
    auto level = parse_level(std::string_view(level_text.c_str(), level_text.length()));
    if (!level) return fail(Errc::invalid_argument, "invalid QueryRetrieveLevel");
    q.level = *level;

    const unsigned long n = identifier.card();
    for (unsigned long i = 0; i < n; ++i) {
      DcmElement* e = identifier.getElement(i);
      if (!e) continue;
      const DcmTag& tag = e->getTag();
      if (tag == DCM_QueryRetrieveLevel) continue;
      if (tag.getElement() == 0x0000) continue;  // group lengths are no keys
      if (!e->isLeaf() || !is_key_vr(e->ident())) continue;
      if (q.keys.size() >= kMaxKeys) return fail(Errc::invalid_argument, "too many keys in the identifier");
      if (e->getLength() > kMaxValueBytes) return fail(Errc::invalid_argument, "key value too long");
      OFString value;
      if (e->getLength() > 0 && e->getOFStringArray(value).bad())
        return fail(Errc::invalid_argument, "unreadable key value");
      std::string v = trim_trailing(value);
      if (v.size() > kMaxValueBytes) return fail(Errc::invalid_argument, "key value too long");
      q.keys.push_back(Attr{to_tag(tag), std::move(v)});
    }
  } catch (const std::exception&) {
    return fail(Errc::invalid_argument, "unreadable identifier");
  }
  return q;
}

Result<void> build_response(const ResultRow& row, Level level, const std::string& retrieve_ae, DcmDataset& out) {
  try {
    out.clear();
    for (const Attr& a : row) {
      if (a.tag == tags::QueryRetrieveLevel) continue;
      if (a.tag == tags::RetrieveAETitle && !retrieve_ae.empty()) continue;
      const DcmTag tag(std::uint16_t(a.tag >> 16), std::uint16_t(a.tag & 0xFFFF));
      // Tags the dictionary does not know (e.g. private ones) or that have no
      // string form cannot be encoded with a trustworthy VR: leave them out.
      if (!is_key_vr(tag.getEVR())) continue;
      OFCondition c = out.putAndInsertOFStringArray(tag, OFString(a.value.data(), a.value.size()), OFTrue);
      if (c.bad())
        return fail(Errc::invalid_argument, "cannot encode attribute " + std::string(tag.toString().c_str()));
    }
    if (out.putAndInsertOFStringArray(DCM_QueryRetrieveLevel, to_string(level), OFTrue).bad())
      return fail(Errc::internal, "cannot encode QueryRetrieveLevel");
    if (!retrieve_ae.empty() && out.putAndInsertOFStringArray(DCM_RetrieveAETitle, retrieve_ae.c_str(), OFTrue).bad())
      return fail(Errc::invalid_argument, "cannot encode RetrieveAETitle");
  } catch (const std::exception&) {
    return fail(Errc::internal, "cannot build the response identifier");
  }
  return {};
}

} // namespace tresor::dicom
