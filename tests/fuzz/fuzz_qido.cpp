// Fuzz target: the QIDO-RS query-string path, from raw bytes to SQL.
// Input: a query string ("PatientName=Doe*&StudyDate=20200101-&limit=5").
// It goes through http::parse_query (percent-decoding), then the way
// src/http/qido.cpp reads parameters (keyword or 8-hex-digit tag, UID lists
// with ',' turned into '\'), dicom::to_utf8 with a fuzzed character set,
// and finally index::Index::find on a small SQLite index (matching with
// wildcards, ranges and lists is translated to SQL there).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "dicom/dictionary.h"
#include "fuzz_common.h"
#include "http/http.h"
#include "index/index.h"

namespace {

using namespace tresor;

std::optional<Tag> parse_attribute(std::string_view name) {  // as in src/http/qido.cpp
  if (name.size() == 8 &&
      std::all_of(name.begin(), name.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
    Tag t = 0;
    std::from_chars(name.data(), name.data() + 8, t, 16);
    return t;
  }
  return dicom::tag_for_keyword(name);
}

index::Index& the_index() {
  static std::unique_ptr<index::SqliteIndex> idx = [] {
    auto opened = index::open_sqlite(fuzz::scratch_dir() / "index.db");
    if (!opened) {
      std::fprintf(stderr, "open_sqlite: %s\n", opened.error().message.c_str());
      std::abort();
    }
    const char* names[] = {"Doe^John", "M\xc3\xbcller^J\xc3\xbcrgen", "O'Brien^%_\\*?"};
    for (int i = 0; i < 3; ++i) {
      InstanceRecord r;
      r.specific_character_set = "ISO_IR 192";
      r.patient_id = "P" + std::to_string(i);
      r.patient_name = names[i];
      r.patient_birth_date = "1970010" + std::to_string(i + 1);
      r.study_uid = "1.2.3." + std::to_string(i);
      r.study_date = "2020010" + std::to_string(i + 1);
      r.study_time = "120000";
      r.accession_number = "A" + std::to_string(i);
      r.institution_name = "General";
      r.modality = i ? "CT" : "MR";
      r.series_uid = r.study_uid + ".1";
      r.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
      r.sop_instance_uid = r.series_uid + ".1";
      r.transfer_syntax_uid = "1.2.840.10008.1.2.1";
      index::BlobInfo blob{"k" + std::to_string(i), 100, "k" + std::to_string(i)};
      if (auto ins = (*opened)->insert(r, blob); !ins) {
        std::fprintf(stderr, "insert: %s\n", ins.error().message.c_str());
        std::abort();
      }
    }
    return std::move(*opened);
  }();
  return *idx;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return -1;  // the server caps the request target well below this
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto fields = http::parse_query(in);
  if (!fields) return 0;

  QueryRequest q;
  q.level = size && (data[0] & 1) ? Level::series : (size && (data[0] & 2) ? Level::image : Level::study);
  std::map<Tag, std::string> match;
  std::string charset;
  for (const auto& [name, value] : *fields) {
    if (name == "limit" || name == "offset" || name == "fuzzymatching" || name == "includefield") continue;
    if (name == "charset") {
      charset = value;
      continue;
    }
    auto tag = parse_attribute(name);
    if (!tag) continue;
    std::string v = value;
    if (dicom::vr_for(*tag) == "UI") std::replace(v.begin(), v.end(), ',', '\\');
    (void)dicom::keyword_for(*tag);
    (void)dicom::to_utf8(v, charset, dicom::vr_for(*tag) == "PN");
    auto& slot = match[*tag];
    slot = slot.empty() ? v : slot + "\\" + v;
    if (match.size() > 64) return 0;  // qido.cpp refuses more keys
  }
  for (const auto& [tag, value] : match) q.keys.push_back({tag, value});
  q.keys.push_back({0x0020000D, ""});
  if (auto rows = the_index().find(q, 50)) TRESOR_FUZZ_CHECK(rows->size() <= 50);
  return 0;
}
