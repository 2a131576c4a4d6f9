// Transfer syntax conversion of a stored object for WADO-RS / WADO-URI
// retrieval. The stored object is only read (through its ByteSource); the copy is written next to `out`
// under a temporary name and renamed into place, so a failed conversion
// leaves no partial file behind.
// JPEG 2000 objects are decoded with OpenJPEG (j2k_dataset.cpp), Debian's
// DCMTK having no codec for them.
// Lossy targets are refused unless the object is already stored in that
// syntax: lossy re-encoding would change the pixel values (and DCMTK then
// assigns a new SOP Instance UID), which is not a retrieval of the stored
// instance.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <vector>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include "dicom/inspect.h"
#include "dicom/web.h"
#include "dicom/web_internal.h"

namespace tresor::dicom {

namespace fs = std::filesystem;

namespace {

// A temporary file next to `out`, removed unless committed.
class TempOut {
public:
  explicit TempOut(const fs::path& out) : out_(out) {
    fs::path dir = out.parent_path();
    if (dir.empty()) dir = ".";
    std::string tmpl = (dir / ("." + out.filename().string() + ".tc.XXXXXX")).string();
    std::vector<char> name(tmpl.begin(), tmpl.end());
    name.push_back('\0');
    const int fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      path_ = name.data();
    }
  }
  ~TempOut() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove(path_, ec);
    }
  }
  TempOut(const TempOut&) = delete;
  TempOut& operator=(const TempOut&) = delete;
  bool ok() const { return !path_.empty(); }
  const fs::path& path() const { return path_; }
  Status commit() {
    std::error_code ec;
    fs::rename(path_, out_, ec);
    if (ec) return fail(Errc::io_error, "cannot move the converted object into place");
    path_.clear();
    return {};
  }

private:
  fs::path out_;
  fs::path path_;
};

// Copies the whole source into `file` (1 MiB at a time).
Status copy_source(ByteSource& in, const fs::path& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return fail(Errc::io_error, "cannot open the output file");
  std::vector<std::byte> buf(1u << 20);
  std::uint64_t off = 0;
  Status st;
  while (st && off < in.size()) {
    auto got = in.read_at(off, buf);
    if (!got) {
      st = std::unexpected(got.error());
      break;
    }
    if (*got == 0) {
      st = fail(Errc::corrupt, "stored object shorter than its size");
      break;
    }
    for (std::size_t done = 0; done < *got;) {
      const ssize_t n = ::write(fd, buf.data() + done, *got - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        st = fail(Errc::io_error, "cannot write the output file");
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    off += *got;
  }
  if (::close(fd) != 0 && st) st = fail(Errc::io_error, "cannot write the output file");
  return st;
}

} // namespace

Status transcode(std::shared_ptr<ByteSource> in, const fs::path& out, std::string_view transfer_syntax_uid) {
  return detail::guarded([&]() -> Status {
    if (!is_valid_uid(transfer_syntax_uid)) return fail(Errc::invalid_argument, "malformed transfer syntax UID");
    const std::string target_uid(transfer_syntax_uid);
    const DcmXfer target(target_uid.c_str());
    if (target.getXfer() == EXS_Unknown) return fail(Errc::unsupported, "unknown transfer syntax");

    if (!in) return fail(Errc::not_found, "no such stored object");
    auto ff = detail::load_header(in);
    if (!ff) return std::unexpected(ff.error());
    DcmDataset& ds = *(*ff)->getDataset();
    E_TransferSyntax stored = ds.getOriginalXfer();

    TempOut tmp(out);
    if (!tmp.ok()) return fail(Errc::io_error, "cannot create the output file");

    if (detail::stored_syntax_uid(**ff) == target_uid || stored == target.getXfer()) {
      if (auto s = copy_source(*in, tmp.path()); !s) return s;
      return tmp.commit();
    }

    const bool has_pixels = detail::number_of_frames(ds) > 0;
    if (has_pixels && detail::is_jpeg2000(stored) && !DcmCodecList::canChangeCoding(stored, EXS_LittleEndianExplicit)) {
      // OpenJPEG (j2k_dataset.cpp): the pixel data becomes native, and is
      // converted from there like any native object.
      if (target.isEncapsulated() && target.isLossy())
        return fail(Errc::unsupported, "lossy conversion of a stored object is not offered");
      if (auto s = detail::decode_j2k_pixel_data(ds, detail::kMaxJ2kWorkingBytes); !s) return std::unexpected(s.error());
      stored = EXS_LittleEndianExplicit;
    }
    if (has_pixels) {
      if (target.isEncapsulated() && target.isLossy())
        return fail(Errc::unsupported, "lossy conversion of a stored object is not offered");
      if (DcmXfer(stored).isEncapsulated() && !DcmCodecList::canChangeCoding(stored, EXS_LittleEndianExplicit))
        return fail(Errc::unsupported, "no decoder for the stored transfer syntax");
      if (target.isEncapsulated() && !DcmCodecList::canChangeCoding(EXS_LittleEndianExplicit, target.getXfer()))
        return fail(Errc::unsupported, "no encoder for the requested transfer syntax");
      if (auto s = detail::check_rle_fragments(ds); !s) return std::unexpected(s.error());
    }

    if ((*ff)->loadAllDataIntoMemory().bad()) return fail(Errc::corrupt, "cannot read the stored object");
    if (ds.chooseRepresentation(target.getXfer(), nullptr).bad() || !ds.canWriteXfer(target.getXfer()))
      return fail(Errc::unsupported, "cannot convert to the requested transfer syntax");
    const OFCondition c = (*ff)->saveFile(OFFilename(tmp.path().c_str()), target.getXfer(), EET_UndefinedLength,
                                          EGL_recalcGL, EPD_noChange, 0, 0, EWM_updateMeta);
    if (c.bad()) return fail(Errc::io_error, std::string("cannot write the converted object: ") + c.text());
    return tmp.commit();
  });
}

} // namespace tresor::dicom
