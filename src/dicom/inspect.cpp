// inspect_file(): size limit -> bounded pre-scan (prescan.cpp) -> DCMTK parse
// of the data set up to the Pixel Data, in the encoding the pre-scan used ->
// key extraction and UID checks -> in-place sanitising (zero preamble, Part-10
// rewrite of meta-less files). Nothing is modified unless the object passes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcistrmf.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcvr.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include "dicom/inspect.h"
#include "dicom/prescan.h"

namespace tresor::dicom {

namespace {

namespace fs = std::filesystem;
using detail::Encoding;
using detail::PrescanResult;

// Headers (everything before the top-level Pixel Data) up to this size are
// parsed from memory; larger ones are parsed from the file by DCMTK, which
// then leaves values over 4 KiB on disk.
constexpr std::uint64_t kMaxBufferedHeader = 8ull << 20;

class Fd {
public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

private:
  int fd_;
};

bool pread_all(int fd, void* dst, std::size_t n, std::uint64_t off) {
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= std::size_t(r);
    off += std::uint64_t(r);
  }
  return true;
}

bool write_all(int fd, const void* src, std::size_t n) {
  const auto* p = static_cast<const char*>(src);
  while (n > 0) {
    ssize_t r = ::write(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= std::size_t(r);
  }
  return true;
}

E_TransferSyntax to_xfer(Encoding e) {
  switch (e) {
    case Encoding::implicit_le: return EXS_LittleEndianImplicit;
    case Encoding::explicit_le: return EXS_LittleEndianExplicit;
    case Encoding::explicit_be: return EXS_BigEndianExplicit;
    case Encoding::deflated_le: return EXS_DeflatedLittleEndianExplicit;
  }
  return EXS_LittleEndianExplicit;
}

std::string trimmed(const OFString& s) {
  std::string out(s.c_str(), s.length());
  while (!out.empty() && (out.back() == ' ' || out.back() == '\0')) out.pop_back();
  return out;
}

// Transfer syntax -> data set encoding, as DCMTK understands the UID.
std::optional<Encoding> resolve_syntax(std::string_view uid) {
  const DcmXfer xfer(std::string(uid).c_str());
  if (xfer.getXfer() == EXS_Unknown) return std::nullopt;
  if (xfer.getStreamCompression() != ESC_none) {
    if (xfer.getStreamCompression() == ESC_zlib && xfer.isExplicitVR() && xfer.getByteOrder() == EBO_LittleEndian)
      return Encoding::deflated_le;
    return std::nullopt;
  }
  if (xfer.isImplicitVR()) {
    if (xfer.getByteOrder() != EBO_LittleEndian) return std::nullopt;
    return Encoding::implicit_le;
  }
  return xfer.getByteOrder() == EBO_BigEndian ? Encoding::explicit_be : Encoding::explicit_le;
}

// Parses the data set (not the meta header, which the pre-scan has read) up
// to, not including, the top-level Pixel Data with DCMTK, in exactly the
// encoding the pre-scan used: DCMTK never guesses, so both parsers see the
// same structure, whose nesting and lengths the pre-scan has bounded.
Status parse_dataset(const fs::path& path, int fd, const PrescanResult& ps, DcmDataset& ds) {
  const E_TransferSyntax xfer = to_xfer(ps.encoding);
  OFCondition cond;
  try {
    if (ps.encoding != Encoding::deflated_le && ps.header_end - ps.dataset_offset <= kMaxBufferedHeader) {
      std::string buf(ps.header_end - ps.dataset_offset, '\0');
      if (!pread_all(fd, buf.data(), buf.size(), ps.dataset_offset))
        return fail(Errc::io_error, "cannot read the object");
      DcmInputBufferStream in;
      in.setBuffer(buf.data(), static_cast<offile_off_t>(buf.size()));
      in.setEos();
      ds.transferInit();
      cond = ds.read(in, xfer, EGL_noChange, DCM_MaxReadLength);
      ds.transferEnd();
    } else {
      DcmInputFileStream in(OFFilename(path.c_str()), static_cast<offile_off_t>(ps.dataset_offset));
      cond = in.status();
      if (cond.good()) {
        ds.transferInit();
        cond = ds.readUntilTag(in, xfer, EGL_noChange, 4096, DCM_PixelData);
        ds.transferEnd();
      }
    }
  } catch (const std::exception&) {
    return fail(Errc::invalid_argument, "unparsable data set");
  }
  if (cond.bad()) return fail(Errc::invalid_argument, std::string("unparsable data set: ") + cond.text());
  return {};
}

struct Field {
  DcmTagKey key;
  std::string InstanceRecord::*member;
};

// Sorted by tag (extract() binary-searches it).
const Field kFields[] = {
    {DCM_SpecificCharacterSet, &InstanceRecord::specific_character_set},
    {DCM_SOPClassUID, &InstanceRecord::sop_class_uid},
    {DCM_SOPInstanceUID, &InstanceRecord::sop_instance_uid},
    {DCM_StudyDate, &InstanceRecord::study_date},
    {DCM_SeriesDate, &InstanceRecord::series_date},
    {DCM_StudyTime, &InstanceRecord::study_time},
    {DCM_AccessionNumber, &InstanceRecord::accession_number},
    {DCM_Modality, &InstanceRecord::modality},
    {DCM_InstitutionName, &InstanceRecord::institution_name},
    {DCM_ReferringPhysicianName, &InstanceRecord::referring_physician_name},
    {DCM_StudyDescription, &InstanceRecord::study_description},
    {DCM_SeriesDescription, &InstanceRecord::series_description},
    {DCM_PatientName, &InstanceRecord::patient_name},
    {DCM_PatientID, &InstanceRecord::patient_id},
    {DCM_IssuerOfPatientID, &InstanceRecord::issuer_of_patient_id},
    {DCM_PatientBirthDate, &InstanceRecord::patient_birth_date},
    {DCM_PatientSex, &InstanceRecord::patient_sex},
    {DCM_BodyPartExamined, &InstanceRecord::body_part_examined},
    {DCM_StudyInstanceUID, &InstanceRecord::study_uid},
    {DCM_SeriesInstanceUID, &InstanceRecord::series_uid},
    {DCM_StudyID, &InstanceRecord::study_id},
    {DCM_SeriesNumber, &InstanceRecord::series_number},
    {DCM_InstanceNumber, &InstanceRecord::instance_number},
    {DCM_NumberOfFrames, &InstanceRecord::number_of_frames},
    {DCM_Rows, &InstanceRecord::rows},
    {DCM_Columns, &InstanceRecord::columns},
};

// A data set whose top-level elements can be walked in one pass: DcmItem's
// getElement(i) and nextInContainer() restart from the first element each
// time, which makes a walk quadratic.
class HeaderDataset : public DcmDataset {
public:
  template <class F> void for_each_element(F&& f) {
    if (elementList->empty()) return;
    elementList->seek(ELP_first);
    do {
      if (auto* e = OFstatic_cast(DcmElement*, elementList->get())) f(*e);
    } while (elementList->seek(ELP_next));
  }
};

// One pass over the top-level elements; kFields is sorted by tag.
InstanceRecord extract(HeaderDataset& ds) {
  InstanceRecord r;
  OFString value;
  ds.for_each_element([&](DcmElement& e) {
    const DcmTagKey key = e.getTag();
    const Field* f = std::lower_bound(std::begin(kFields), std::end(kFields), key,
                                      [](const Field& a, const DcmTagKey& k) { return a.key < k; });
    if (f == std::end(kFields) || f->key != key) return;
    if (e.ident() == EVR_UN) {
      // A string attribute some system re-encoded as UN: its bytes are the
      // value as written in Implicit VR LE, i.e. the string itself.
      if (!DcmVR(DcmTag(key).getEVR()).isaString()) return;
      Uint8* raw = nullptr;
      if (e.getUint8Array(raw).good() && raw)
        r.*f->member = trimmed(OFString(reinterpret_cast<const char*>(raw), e.getLength()));
      return;
    }
    if (e.getOFStringArray(value).good()) r.*f->member = trimmed(value);
  });
  return r;
}

// The pixel geometry the data set declares (its header is parsed up to the
// Pixel Data), checked against what the pre-scan saw of the Pixel Data.
Status check_geometry(DcmDataset& ds, const PrescanResult& ps, const std::string& ts_uid) {
  if (!ps.has_pixel_data) return {};
  detail::DeclaredGeometry g;
  auto u16 = [&](const DcmTagKey& key, std::uint64_t& out) {
    Uint16 v = 0;
    if (ds.findAndGetUint16(key, v).good()) out = v;
  };
  u16(DCM_Rows, g.rows);
  u16(DCM_Columns, g.columns);
  u16(DCM_BitsAllocated, g.bits_allocated);
  if (ds.tagExistsWithValue(DCM_SamplesPerPixel)) {
    g.samples_per_pixel = 0;
    u16(DCM_SamplesPerPixel, g.samples_per_pixel);
  }
  if (ds.tagExistsWithValue(DCM_NumberOfFrames)) {
    Sint32 n = 0;
    if (ds.findAndGetSint32(DCM_NumberOfFrames, n).bad())
      return fail(Errc::invalid_argument, "pixel data: NumberOfFrames is not a number");
    g.number_of_frames = n;
  }
  OFString photometric;
  if (ds.findAndGetOFString(DCM_PhotometricInterpretation, photometric).good()) {
    const std::string pi = trimmed(photometric);
    g.subsampled_422 = g.samples_per_pixel == 3 && (pi == "YBR_FULL_422" || pi == "YBR_PARTIAL_422");
  }
  const DcmXfer xfer(ts_uid.c_str());
  const bool encapsulated = xfer.getXfer() != EXS_Unknown && xfer.isEncapsulated();
  const bool video = ts_uid.starts_with("1.2.840.10008.1.2.4.10");  // .100 - .108: MPEG-2, MPEG-4, HEVC
  return detail::check_pixel_geometry(ps, g, encapsulated, video);
}

Status check_uids(const InstanceRecord& r) {
  const std::pair<const std::string*, const char*> required[] = {
      {&r.sop_class_uid, "SOPClassUID"},
      {&r.sop_instance_uid, "SOPInstanceUID"},
      {&r.study_uid, "StudyInstanceUID"},
      {&r.series_uid, "SeriesInstanceUID"},
  };
  for (const auto& [value, name] : required)
    if (!is_valid_uid(*value)) return fail(Errc::invalid_argument, std::string("missing or invalid ") + name);
  return {};
}

Status zero_preamble(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd.get() < 0) return fail(Errc::io_error, "cannot open the object to clear its preamble");
  static const std::array<char, 128> zeros{};
  ssize_t w;
  do {
    w = ::pwrite(fd.get(), zeros.data(), zeros.size(), 0);
  } while (w < 0 && errno == EINTR);
  // No fsync: the file is a store temp file that BlobStore::commit() fsyncs
  // (through its final name) before anything is acknowledged.
  if (w != static_cast<ssize_t>(zeros.size())) return fail(Errc::io_error, "cannot clear the preamble");
  return {};
}

void put_element(std::string& out, std::uint16_t elem, const char vr[2], std::string value, char pad) {
  if (value.size() % 2) value.push_back(pad);
  out.push_back('\x02');
  out.push_back('\x00');
  out.push_back(char(elem & 0xFF));
  out.push_back(char(elem >> 8));
  out.append(vr, 2);
  const bool long_len = vr[0] == 'O' && vr[1] == 'B';
  const auto n = static_cast<std::uint32_t>(value.size());
  if (long_len) {
    out.append(2, '\0');
    for (int i = 0; i < 4; ++i) out.push_back(char((n >> (8 * i)) & 0xFF));
  } else {
    out.push_back(char(n & 0xFF));
    out.push_back(char((n >> 8) & 0xFF));
  }
  out += value;
}

// File meta information (group 0002, explicit VR LE) for a meta-less object.
std::string build_meta(const InstanceRecord& r, const std::string& ts) {
  std::string body;
  put_element(body, 0x0001, "OB", std::string("\x00\x01", 2), '\0');
  put_element(body, 0x0002, "UI", r.sop_class_uid, '\0');
  put_element(body, 0x0003, "UI", r.sop_instance_uid, '\0');
  put_element(body, 0x0010, "UI", ts, '\0');
  put_element(body, 0x0012, "UI", OFFIS_IMPLEMENTATION_CLASS_UID, '\0');
  put_element(body, 0x0013, "SH", OFFIS_DTK_IMPLEMENTATION_VERSION_NAME, ' ');
  std::string meta;
  std::string len(4, '\0');
  const auto n = static_cast<std::uint32_t>(body.size());
  for (int i = 0; i < 4; ++i) len[std::size_t(i)] = char((n >> (8 * i)) & 0xFF);
  put_element(meta, 0x0000, "UL", len, '\0');
  return meta + body;
}

// Writes preamble + "DICM" + meta + the original bytes to a temp file next to
// `path` and renames it over `path`. Not fsynced: `path` is a store temp file,
// made durable by BlobStore::commit() (a crash before that leaves garbage that
// recovery removes).
Result<std::uint64_t> rewrite_as_part10(const fs::path& path, int src_fd, std::uint64_t size, mode_t mode,
                                        const std::string& meta) {
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmpl = (dir / ("." + path.filename().string() + ".p10.XXXXXX")).string();
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  Fd out(::mkostemp(name.data(), O_CLOEXEC));
  if (out.get() < 0) return fail(Errc::io_error, "cannot create a temporary file to add the meta header");
  const std::string tmp_path(name.data());
  auto cleanup = [&] { ::unlink(tmp_path.c_str()); };

  std::string head(128, '\0');
  head += "DICM";
  head += meta;
  bool ok = write_all(out.get(), head.data(), head.size());
  std::vector<char> buf(256 * 1024);
  for (std::uint64_t off = 0; ok && off < size;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size - off));
    ok = pread_all(src_fd, buf.data(), n, off) && write_all(out.get(), buf.data(), n);
    off += n;
  }
  ok = ok && ::fchmod(out.get(), mode & 0777) == 0;
  if (!ok || ::close(out.release()) != 0) {
    cleanup();
    return fail(Errc::io_error, "cannot write the object with its meta header");
  }
  if (::rename(tmp_path.c_str(), path.c_str()) != 0) {
    cleanup();
    return fail(Errc::io_error, "cannot replace the object with its Part-10 form");
  }
  return static_cast<std::uint64_t>(head.size());
}

} // namespace

bool looks_like_dicom(const fs::path& file) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return true;  // unreadable: let ingest report why
  std::array<std::uint8_t, 136> head{};
  std::size_t got = 0;
  while (got < head.size()) {
    const ssize_t r = ::pread(fd.get(), head.data() + got, head.size() - got, static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += std::size_t(r);
  }
  if (got >= 132 && std::memcmp(head.data() + 128, "DICM", 4) == 0) return true;
  return detail::plausible_dataset_start(head.data(), got);
}

Result<Inspection> inspect_file(const fs::path& file, const Limits& limits) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return fail(Errc::io_error, "cannot open the object");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(Errc::io_error, "cannot stat the object");
  if (!S_ISREG(st.st_mode)) return fail(Errc::invalid_argument, "the object is not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > limits.max_object_bytes) return fail(Errc::too_large, "object exceeds the size limit");

  auto ps = detail::prescan(fd.get(), size, limits, &resolve_syntax);
  if (!ps) return std::unexpected(ps.error());
  if (!ps->meta_transfer_syntax.empty() && !is_valid_uid(ps->meta_transfer_syntax))
    return fail(Errc::invalid_argument, "invalid transfer syntax UID in the meta header");

  HeaderDataset ds;
  if (auto s = parse_dataset(file, fd.get(), *ps, ds); !s) return std::unexpected(s.error());

  Inspection out;
  out.record = extract(ds);
  if (auto s = check_uids(out.record); !s) return std::unexpected(s.error());
  if (ps->meta_has_sop_instance && ps->meta_sop_instance_uid != out.record.sop_instance_uid)
    return fail(Errc::invalid_argument, "MediaStorageSOPInstanceUID does not match SOPInstanceUID");
  out.record.transfer_syntax_uid =
      ps->meta_transfer_syntax.empty() ? detail::encoding_uid(ps->encoding) : ps->meta_transfer_syntax;
  if (auto s = check_geometry(ds, *ps, out.record.transfer_syntax_uid); !s) return std::unexpected(s.error());

  if (ps->has_meta) {
    if (ps->preamble_nonzero)
      if (auto s = zero_preamble(file); !s) return std::unexpected(s.error());
    out.dataset_offset = ps->dataset_offset;
  } else {
    auto off = rewrite_as_part10(file, fd.get(), size, st.st_mode,
                                 build_meta(out.record, out.record.transfer_syntax_uid));
    if (!off) return std::unexpected(off.error());
    out.dataset_offset = *off;
  }
  return out;
}

} // namespace tresor::dicom
