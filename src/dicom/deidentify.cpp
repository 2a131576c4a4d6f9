// PS3.15 Annex E de-identification (contract in deidentify.h; the table in
// deidentify_table.cpp).
#include "dicom/deidentify.h"

#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <set>
#include <unordered_map>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcdicent.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include "dicom/deidentify_table.h"
#include "dicom/source_stream.h"

namespace tresor::dicom {

namespace {

constexpr int kMaxDepth = 64;
constexpr std::size_t kMinWord = 3;  // shorter identifying words are not scrubbed from text

// ---- keyed derivations ----

std::array<unsigned char, 32> hmac(std::string_view key, std::string_view label, std::string_view data) {
  std::string msg;
  msg.reserve(label.size() + 1 + data.size());
  msg.append(label).push_back('\0');
  msg.append(data);
  std::array<unsigned char, 32> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), out.data(), &len);
  return out;
}

// Decimal form of a big-endian unsigned integer (repeated division by 10).
std::string decimal(std::array<unsigned char, 16> n) {
  std::string digits;
  for (;;) {
    bool zero = true;
    unsigned rem = 0;
    for (auto& b : n) {
      const unsigned cur = (rem << 8) | b;
      b = static_cast<unsigned char>(cur / 10);
      rem = cur % 10;
      if (b) zero = false;
    }
    digits.push_back(static_cast<char>('0' + rem));
    if (zero) break;
  }
  std::reverse(digits.begin(), digits.end());
  return digits;
}

// ---- profile ----

struct OptionWord {
  std::string_view word;
  bool DeidProfile::*flag;
  const char* code;
  const char* meaning;
};
constexpr std::array kOptionWords = {
    OptionWord{"retain-dates", &DeidProfile::retain_dates, "113107",
               "Retain Longitudinal Temporal Information Modified Dates Option"},
    OptionWord{"retain-patient-chars", &DeidProfile::retain_patient_chars, "113108",
               "Retain Patient Characteristics Option"},
    OptionWord{"retain-device", &DeidProfile::retain_device, "113109", "Retain Device Identity Option"},
    OptionWord{"clean-descriptors", &DeidProfile::clean_descriptors, "113105", "Clean Descriptors Option"},
    OptionWord{"clean-sc", &DeidProfile::clean_structured_content, "113104", "Clean Structured Content Option"},
};

// ---- the table, resolved through DCMTK's dictionary ----

using TagMap = std::unordered_map<std::uint32_t, const deid::Entry*>;

std::uint32_t tag_id(const DcmTagKey& k) { return (std::uint32_t(k.getGroup()) << 16) | k.getElement(); }

const TagMap& tag_map() {
  static const TagMap map = [] {
    TagMap m;
    const DcmDataDictionary& dict = dcmDataDict.rdlock();
    for (const deid::Entry& e : deid::table()) {
      const std::string name(e.keyword);
      const DcmDictEntry* d = dict.findEntry(name.c_str());
      if (!d) d = dict.findEntry(("RETIRED_" + name).c_str());
      if (d) m.emplace(tag_id(d->getKey()), &e);
    }
    dcmDataDict.rdunlock();
    return m;
  }();
  return map;
}

// UI attributes whose value names a class, syntax or scheme, never an instance.
bool is_class_uid_tag(const DcmTagKey& k) {
  static const std::set<std::uint32_t> tags = {
      tag_id(DCM_SOPClassUID),           tag_id(DCM_ReferencedSOPClassUID),
      tag_id(DCM_MediaStorageSOPClassUID), tag_id(DCM_AffectedSOPClassUID),
      tag_id(DCM_RequestedSOPClassUID),  tag_id(DCM_ReferencedSOPClassUIDInFile),
      tag_id(DCM_TransferSyntaxUID),     tag_id(DCM_ReferencedTransferSyntaxUIDInFile),
      tag_id(DCM_CodingSchemeUID),       tag_id(DCM_ContextUID),
      tag_id(DCM_MappingResourceUID),    tag_id(DCM_RelatedGeneralSOPClassUID),
      tag_id(DCM_OriginalSpecializedSOPClassUID), tag_id(DCM_ImplementationClassUID),
  };
  return tags.contains(tag_id(k));
}

bool is_text_vr(DcmEVR vr) {
  switch (vr) {
    case EVR_PN: case EVR_LO: case EVR_SH: case EVR_ST: case EVR_LT: case EVR_UT: case EVR_UC: return true;
    default: return false;
  }
}
bool is_string_vr(DcmEVR vr) {
  switch (vr) {
    case EVR_AE: case EVR_AS: case EVR_CS: case EVR_DA: case EVR_DS: case EVR_DT: case EVR_IS: case EVR_LO:
    case EVR_LT: case EVR_PN: case EVR_SH: case EVR_ST: case EVR_TM: case EVR_UC: case EVR_UI: case EVR_UR:
    case EVR_UT: return true;
    default: return false;
  }
}
bool is_numeric_vr(DcmEVR vr) {
  switch (vr) {
    case EVR_DS: case EVR_IS: case EVR_FD: case EVR_FL: case EVR_SL: case EVR_SS: case EVR_UL: case EVR_US: return true;
    default: return false;
  }
}

std::string dummy_for(DcmEVR vr) {
  switch (vr) {
    case EVR_DA: return "19000101";
    case EVR_DT: return "19000101000000";
    case EVR_TM: return "000000";
    case EVR_AS: return "000Y";
    case EVR_DS: case EVR_IS: return "0";
    case EVR_UR: return "";
    default: return "ANONYMIZED";
  }
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> split(std::string_view s, std::string_view seps) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (seps.find(c) != std::string_view::npos) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

enum class Eff { remove, empty, dummy, keep, uid, shift, clean, recurse };

Eff effective(const deid::Entry& e, const DeidProfile& p) {
  using deid::Option;
  switch (e.option) {
    case Option::dates: if (p.retain_dates) return Eff::shift; break;
    case Option::patient: if (p.retain_patient_chars) return Eff::keep; break;
    case Option::device: if (p.retain_device) return Eff::keep; break;
    case Option::descriptors: if (p.clean_descriptors) return Eff::clean; break;
    case Option::structured: if (p.clean_structured_content) return Eff::clean; break;
    case Option::none: break;
  }
  switch (e.action) {
    case deid::Action::X: return Eff::remove;
    case deid::Action::Z: case deid::Action::XZ: return Eff::empty;
    case deid::Action::D: case deid::Action::XD: return Eff::dummy;
    case deid::Action::K: return Eff::keep;
    case deid::Action::U: return Eff::uid;
    case deid::Action::XZU: return Eff::recurse;
  }
  return Eff::remove;
}

class Walker {
public:
  Walker(const DeidRequest& req, std::string patient_id, std::vector<std::string> words)
      : req_(req), shift_(date_shift_days(req.key, patient_id)), words_(std::move(words)) {}

  Status item(DcmItem& item, int depth) {
    if (depth > kMaxDepth) return fail(Errc::invalid_argument, "sequences nested too deeply");
    const std::set<std::uint32_t> kept_private = private_to_keep(item);
    for (unsigned long i = 0; i < item.card();) {
      DcmElement* e = item.getElement(i);
      if (!e) {
        ++i;
        continue;
      }
      const DcmTagKey key = e->getTag();
      const std::uint16_t g = key.getGroup();
      const bool drop = (g & 1) ? !kept_private.contains(tag_id(key))
                                : ((g >= 0x5000 && g <= 0x50FF) || (g >= 0x6000 && g <= 0x60FF));
      if (drop) {
        delete item.remove(i);
        continue;
      }
      if (e->getVR() == EVR_UN) {
        // A public attribute sent as UN (explicit VR with an unknown VR):
        // read it with its dictionary VR so the profile sees its value; what
        // cannot be read that way (a sequence, or no dictionary entry) goes.
        if (!retype_unknown(item, i)) {
          delete item.remove(i);
          continue;
        }
        e = item.getElement(i);
      }
      auto it = tag_map().find(tag_id(key));
      const Eff eff = it == tag_map().end() ? Eff::keep : effective(*it->second, req_.profile);
      if (eff == Eff::remove) {
        delete item.remove(i);
        continue;
      }
      if (auto s = element(*e, eff, it != tag_map().end(), depth); !s) return s;
      ++i;
    }
    return {};
  }

private:
  // Private data elements of this item on the safe list with a numeric VR,
  // and the creator elements of their blocks.
  static std::set<std::uint32_t> private_to_keep(DcmItem& item) {
    std::set<std::uint32_t> keep;
    std::unordered_map<std::uint32_t, std::string> creators;  // (group, block) -> creator
    for (unsigned long i = 0; i < item.card(); ++i) {
      DcmElement* e = item.getElement(i);
      const DcmTagKey k = e->getTag();
      if ((k.getGroup() & 1) && k.getElement() >= 0x10 && k.getElement() <= 0xFF) {
        OFString v;
        e->getOFStringArray(v);
        creators[(std::uint32_t(k.getGroup()) << 8) | k.getElement()] = v.c_str();
      }
    }
    for (unsigned long i = 0; i < item.card(); ++i) {
      DcmElement* e = item.getElement(i);
      const DcmTagKey k = e->getTag();
      if (!(k.getGroup() & 1) || k.getElement() < 0x1000 || !is_numeric_vr(e->getVR())) continue;
      const std::uint32_t block = (std::uint32_t(k.getGroup()) << 8) | (k.getElement() >> 8);
      auto c = creators.find(block);
      if (c == creators.end()) continue;
      for (const deid::SafePrivate& sp : deid::safe_private()) {
        if (sp.creator == c->second && sp.group == k.getGroup() && sp.element == (k.getElement() & 0xFF)) {
          keep.insert(tag_id(k));
          keep.insert((std::uint32_t(k.getGroup()) << 16) | (k.getElement() >> 8));
        }
      }
    }
    return keep;
  }

  // Replaces the UN element at `i` by one of its dictionary VR (strings
  // only; binary values stay UN). False when it cannot be read.
  static bool retype_unknown(DcmItem& item, unsigned long i) {
    DcmElement* e = item.getElement(i);
    const DcmTagKey key = e->getTag();
    DcmTag typed(key);
    const DcmEVR vr = typed.getEVR();
    if (vr == EVR_UN || vr == EVR_SQ || vr == EVR_UNKNOWN) return false;
    if (!is_string_vr(vr)) return true;
    Uint8* bytes = nullptr;
    if (e->getUint8Array(bytes).bad()) return false;
    std::string value(reinterpret_cast<const char*>(bytes ? bytes : reinterpret_cast<Uint8*>(const_cast<char*>(""))),
                      bytes ? e->getLength() : 0);
    while (!value.empty() && (value.back() == '\0' || value.back() == ' ')) value.pop_back();
    delete item.remove(i);
    return item.putAndInsertString(typed, value.c_str()).good();
  }

  Status element(DcmElement& e, Eff eff, bool listed, int depth) {
    if (e.ident() == EVR_SQ) {
      auto& sq = static_cast<DcmSequenceOfItems&>(e);
      if (eff == Eff::empty) return ok(sq.clear());
      for (unsigned long j = 0; j < sq.card(); ++j)
        if (auto s = item(*sq.getItem(j), depth + 1); !s) return s;
      return {};
    }
    const DcmEVR vr = e.getVR();
    if (eff == Eff::empty) return ok(e.clear());
    if (!is_string_vr(vr)) {
      // Binary values (pixel data, LUTs, numbers): a dummy is no value.
      if (eff == Eff::dummy) return ok(e.clear());
      return {};
    }
    if (eff == Eff::dummy) {
      if (vr == EVR_UI) return map_uids(e);
      if (req_.profile.retain_dates && (vr == EVR_DA || vr == EVR_DT)) return shift(e);
      return ok(e.putString(dummy_for(vr).c_str()));
    }
    if (vr == EVR_UI) {
      if (eff == Eff::keep && listed) return {};  // Retain Device Identity keeps DeviceUID
      if (is_class_uid_tag(e.getTag())) return {};
      return map_uids(e);
    }
    if ((vr == EVR_DA || vr == EVR_DT) && req_.profile.retain_dates) return shift(e);
    if (is_text_vr(vr)) return scrub(e);
    return {};
  }

  static Status ok(OFCondition c) {
    if (c.bad()) return fail(Errc::invalid_argument, std::string("cannot change an attribute: ") + c.text());
    return {};
  }

  Status map_uids(DcmElement& e) {
    OFString value;
    e.getOFStringArray(value);
    std::string out;
    for (const std::string& uid : split(value.c_str(), "\\")) {
      if (!out.empty()) out += '\\';
      out += dcmFindNameOfUID(uid.c_str(), nullptr) ? uid : map_uid(req_.key, uid);
    }
    return ok(e.putString(out.c_str()));
  }

  Status shift(DcmElement& e) {
    OFString value;
    e.getOFStringArray(value);
    std::string out;
    bool first = true;
    for (const std::string& v : split(value.c_str(), "\\")) {
      if (!first) out += '\\';
      first = false;
      if (e.getVR() == EVR_DA) {
        out += shift_date(v, shift_);
      } else if (v.size() >= 8) {  // DT: the date part moves, the rest stays
        const std::string d = shift_date(v.substr(0, 8), shift_);
        if (!d.empty()) out += d + v.substr(8);
      }
    }
    return ok(e.putString(out.c_str()));
  }

  // Replaces every identifying word of the object found (as a whole word) in a text value.
  Status scrub(DcmElement& e) {
    if (words_.empty()) return {};
    OFString value;
    e.getOFStringArray(value, OFFalse);
    std::string text = value.c_str();
    const std::string up = upper(text);
    bool changed = false;
    auto alnum = [&](std::size_t i) { return i < up.size() && std::isalnum(static_cast<unsigned char>(up[i])); };
    for (const std::string& w : words_) {
      for (std::size_t pos = up.find(w); pos != std::string::npos; pos = up.find(w, pos + 1)) {
        // whole words only: "ODA" is not in "TODAY"
        if ((pos > 0 && alnum(pos - 1)) || alnum(pos + w.size())) continue;
        std::fill(text.begin() + static_cast<std::ptrdiff_t>(pos),
                  text.begin() + static_cast<std::ptrdiff_t>(pos + w.size()), 'X');
        changed = true;
      }
    }
    if (!changed) return {};
    return ok(e.putString(text.c_str()));
  }

  const DeidRequest& req_;
  int shift_;
  std::vector<std::string> words_;
};

std::string get(DcmItem& ds, const DcmTagKey& key) {
  OFString v;
  if (ds.findAndGetOFStringArray(key, v).bad()) return {};
  return v.c_str();
}

// The object's own identifying words (upper case, longest first): what the
// safety net removes from every text value that remains.
std::vector<std::string> identifying_words(DcmItem& ds) {
  std::set<std::string> words;
  const DcmTagKey name_tags[] = {DCM_PatientName, DCM_OtherPatientNames, DCM_PatientBirthName,
                                 DCM_PatientMotherBirthName, DCM_ReferringPhysicianName,
                                 DCM_PerformingPhysicianName, DCM_OperatorsName, DCM_NameOfPhysiciansReadingStudy,
                                 DCM_InstitutionName, DCM_InstitutionAddress, DCM_InstitutionalDepartmentName,
                                 DCM_PatientAddress};
  for (const DcmTagKey& k : name_tags)
    for (const std::string& w : split(get(ds, k), "^=\\ ,.-"))
      if (w.size() >= kMinWord) words.insert(upper(w));
  const DcmTagKey whole_tags[] = {DCM_PatientID, DCM_RETIRED_OtherPatientIDs, DCM_PatientBirthDate,
                                  DCM_AccessionNumber, DCM_StudyInstanceUID, DCM_SeriesInstanceUID,
                                  DCM_SOPInstanceUID, DCM_InstitutionName, DCM_PatientTelephoneNumbers};
  for (const DcmTagKey& k : whole_tags)
    for (const std::string& w : split(get(ds, k), "\\"))
      if (w.size() >= kMinWord) words.insert(upper(w));
  std::vector<std::string> out(words.begin(), words.end());
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

bool starts_with_any(const std::string& uid, std::initializer_list<const char*> prefixes) {
  for (const char* p : prefixes)
    if (uid == p || uid.starts_with(std::string(p) + ".")) return true;
  return false;
}

// Why the object may carry identities where the profile cannot reach (its
// pixels or an encapsulated document), or "" when it may be exported.
std::string burned_in_risk(DcmItem& ds, const DeidProfile& profile) {
  const std::string burned = upper(get(ds, DCM_BurnedInAnnotation));
  if (burned == "YES") return "BurnedInAnnotation is YES";
  const std::string cls = get(ds, DCM_SOPClassUID);
  const std::string modality = upper(get(ds, DCM_Modality));
  if (starts_with_any(cls, {"1.2.840.10008.5.1.4.1.1.104.1", "1.2.840.10008.5.1.4.1.1.104.2"}))
    return "encapsulated document (its content is not de-identified)";
  if (burned != "NO") {
    if (starts_with_any(cls, {"1.2.840.10008.5.1.4.1.1.7"}) || modality == "SC" || ds.tagExists(DCM_ConversionType))
      return "secondary capture without BurnedInAnnotation NO";
    if (starts_with_any(cls, {"1.2.840.10008.5.1.4.1.1.6", "1.2.840.10008.5.1.4.1.1.3"}) || modality == "US")
      return "ultrasound without BurnedInAnnotation NO";
    if (starts_with_any(cls, {"1.2.840.10008.5.1.4.1.1.77.1"}) || modality == "XC" || modality == "ES" ||
        modality == "DOC")
      return "visible light, video or scanned document without BurnedInAnnotation NO";
  }
  if (!profile.clean_structured_content && ds.tagExists(DCM_ContentSequence))
    return "structured content needs the clean-sc option";
  return {};
}

Status mark(DcmDataset& ds, const DeidProfile& profile) {
  auto check = [](OFCondition c) -> Status {
    if (c.bad()) return fail(Errc::io_error, std::string("cannot mark the object de-identified: ") + c.text());
    return {};
  };
  if (auto s = check(ds.putAndInsertString(DCM_PatientIdentityRemoved, "YES")); !s) return s;
  if (auto s = check(ds.putAndInsertString(DCM_LongitudinalTemporalInformationModified,
                                           profile.retain_dates ? "MODIFIED" : "REMOVED"));
      !s)
    return s;
  std::string method = "Tresor PS3.15 E.1 basic";
  for (const OptionWord& w : kOptionWords)
    if (profile.*(w.flag)) method += "\\" + std::string(w.word);
  if (auto s = check(ds.putAndInsertString(DCM_DeidentificationMethod, method.c_str())); !s) return s;
  delete ds.remove(DCM_DeidentificationMethodCodeSequence);
  auto add_code = [&](const char* code, const char* meaning) -> Status {
    DcmItem* item = nullptr;
    if (auto s = check(ds.findOrCreateSequenceItem(DCM_DeidentificationMethodCodeSequence, item, -2)); !s) return s;
    if (auto s = check(item->putAndInsertString(DCM_CodeValue, code)); !s) return s;
    if (auto s = check(item->putAndInsertString(DCM_CodingSchemeDesignator, "DCM")); !s) return s;
    return check(item->putAndInsertString(DCM_CodeMeaning, meaning));
  };
  if (auto s = add_code("113100", "Basic Application Confidentiality Profile"); !s) return s;
  for (const OptionWord& w : kOptionWords)
    if (profile.*(w.flag))
      if (auto s = add_code(w.code, w.meaning); !s) return s;
  return {};
}

} // namespace

Result<DeidProfile> parse_profile(std::string_view text) {
  DeidProfile p;
  bool basic = false;
  for (const std::string& word : split(text, ",")) {
    if (word == "basic") {
      basic = true;
      continue;
    }
    auto it = std::find_if(kOptionWords.begin(), kOptionWords.end(),
                           [&](const OptionWord& w) { return w.word == word; });
    if (it == kOptionWords.end())
      return fail(Errc::invalid_argument,
                  "unknown profile option '" + word +
                      "' (use basic,retain-dates,retain-patient-chars,retain-device,clean-descriptors,clean-sc)");
    p.*(it->flag) = true;
  }
  if (!basic) return fail(Errc::invalid_argument, "the profile must include 'basic'");
  return p;
}

std::string to_string(const DeidProfile& profile) {
  std::string out = "basic";
  for (const OptionWord& w : kOptionWords)
    if (profile.*(w.flag)) out += "," + std::string(w.word);
  return out;
}

std::string project_key(std::string_view root, std::string_view project) {
  const auto h = hmac(root, "tresor-deid-project", project);
  return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

std::string map_uid(std::string_view key, std::string_view uid) {
  const auto h = hmac(key, "uid", uid);
  std::array<unsigned char, 16> n{};
  std::copy_n(h.begin(), n.size(), n.begin());
  return "2.25." + decimal(n);
}

std::string pseudonym(std::string_view key, std::string_view patient_id) {
  const auto h = hmac(key, "patient", patient_id);
  std::string out = "PSN";
  char buf[3];
  for (std::size_t i = 0; i < 8; ++i) {
    std::snprintf(buf, sizeof buf, "%02X", h[i]);
    out += buf;
  }
  return out;
}

int date_shift_days(std::string_view key, std::string_view patient_id) {
  const auto h = hmac(key, "date-shift", patient_id);
  const std::uint32_t v = (std::uint32_t(h[0]) << 24) | (std::uint32_t(h[1]) << 16) | (std::uint32_t(h[2]) << 8) | h[3];
  return 1 + static_cast<int>(v % 3652u);
}

std::string shift_date(std::string_view da, int days) {
  if (da.size() != 8 || !std::all_of(da.begin(), da.end(), [](char c) { return c >= '0' && c <= '9'; })) return {};
  const int y = std::stoi(std::string(da.substr(0, 4)));
  const unsigned m = static_cast<unsigned>(std::stoi(std::string(da.substr(4, 2))));
  const unsigned d = static_cast<unsigned>(std::stoi(std::string(da.substr(6, 2))));
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
  if (!ymd.ok()) return {};
  const std::chrono::year_month_day out{std::chrono::sys_days{ymd} - std::chrono::days{days}};
  if (int(out.year()) < 1) return {};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d%02u%02u", int(out.year()), unsigned(out.month()), unsigned(out.day()));
  return buf;
}

Result<DeidOutcome> deidentify(std::shared_ptr<ByteSource> in, const std::filesystem::path& out,
                               const DeidRequest& request) {
  auto loaded = load_stored(std::move(in), 4096, ERM_autoDetect);
  if (!loaded) return std::unexpected(loaded.error());
  DcmFileFormat& ff = **loaded;
  DcmDataset& ds = *ff.getDataset();

  DeidOutcome outcome;
  outcome.patient_id = get(ds, DCM_PatientID);
  outcome.sop_class_uid = get(ds, DCM_SOPClassUID);
  outcome.pseudonym = pseudonym(request.key, outcome.patient_id);
  if (!request.allow_burned_in) {
    if (std::string why = burned_in_risk(ds, request.profile); !why.empty()) {
      outcome.left_out = true;
      outcome.reason = std::move(why);
      return outcome;
    }
  }
  Walker walker(request, outcome.patient_id, identifying_words(ds));
  if (auto s = walker.item(ds, 0); !s) return std::unexpected(s.error());
  if (ds.putAndInsertString(DCM_PatientID, outcome.pseudonym.c_str()).bad() ||
      ds.putAndInsertString(DCM_PatientName, outcome.pseudonym.c_str()).bad())
    return fail(Errc::io_error, "cannot set the pseudonym");
  if (auto s = mark(ds, request.profile); !s) return std::unexpected(s.error());
  outcome.study_uid = get(ds, DCM_StudyInstanceUID);
  outcome.series_uid = get(ds, DCM_SeriesInstanceUID);
  outcome.sop_instance_uid = get(ds, DCM_SOPInstanceUID);

  E_TransferSyntax xfer = ds.getOriginalXfer();
  if (xfer == EXS_Unknown) xfer = EXS_LittleEndianExplicit;
  ff.getMetaInfo()->clear();
  const OFCondition c = ff.saveFile(out.c_str(), xfer, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0,
                                    EWM_createNewMeta);
  if (c.bad()) {
    std::error_code ec;
    std::filesystem::remove(out, ec);
    return fail(Errc::io_error, std::string("cannot write the de-identified object: ") + c.text());
  }
  return outcome;
}

} // namespace tresor::dicom
