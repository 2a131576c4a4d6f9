// same_dataset(): see compare.h for the contract.
#include "dicom/compare.h"

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfcache.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcstack.h>
#include <dcmtk/dcmdata/dcvr.h>

#include "dicom/web_internal.h"

namespace tresor::dicom {

namespace fs = std::filesystem;

namespace {

constexpr Uint32 kChunk = 1u << 20;

struct Decoded {
  std::unique_ptr<DcmFileFormat> ff;
  std::uint64_t pixel_bytes = 0;  // bytes of the declared frames (0: no pixel data)
};

// Loads `object`, checks the declared pixel size against the cap and decodes
// encapsulated pixel data to Explicit VR Little Endian.
Result<Decoded> load_decoded(std::shared_ptr<ByteSource> object, std::uint64_t max_decoded_bytes) {
  auto ff = detail::load_header(std::move(object));
  if (!ff) return std::unexpected(ff.error());
  DcmDataset& ds = *(*ff)->getDataset();
  Decoded out;
  if (detail::number_of_frames(ds) > 0) {
    auto g = detail::read_pixel_geometry(ds);
    if (!g) return std::unexpected(g.error());
    std::uint64_t bits = 0;
    if (__builtin_mul_overflow(g->frame_bits(), std::uint64_t(g->number_of_frames), &bits) ||
        (bits + 7) / 8 > max_decoded_bytes)
      return fail(Errc::unsupported, "too large to compare");
    out.pixel_bytes = (bits + 7) / 8;
    const E_TransferSyntax xfer = ds.getOriginalXfer();
    if (detail::is_jpeg2000(xfer) && !DcmCodecList::canChangeCoding(xfer, EXS_LittleEndianExplicit)) {
      // OpenJPEG (j2k_dataset.cpp): Debian's DCMTK has no JPEG 2000 codec.
      if (auto s = detail::decode_j2k_pixel_data(ds, max_decoded_bytes); !s) return std::unexpected(s.error());
    } else if (DcmXfer(xfer).isEncapsulated()) {
      if (!DcmCodecList::canChangeCoding(xfer, EXS_LittleEndianExplicit))
        return fail(Errc::unsupported, "no decoder for the stored transfer syntax");
      if (auto s = detail::check_rle_fragments(ds); !s) return std::unexpected(s.error());
      if (ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad() ||
          !ds.canWriteXfer(EXS_LittleEndianExplicit))
        return fail(Errc::unsupported, "cannot decode the pixel data");
    }
  }
  out.ff = std::move(*ff);
  return out;
}

bool skipped(const DcmObject& o) {
  const DcmTagKey t = o.getTag();
  return t.getElement() == 0x0000 || t == DCM_DataSetTrailingPadding;
}

// The next object of a depth-first walk (sequences and items included) that
// takes part in the comparison, or nullptr at the end.
DcmObject* next_relevant(DcmDataset& ds, DcmStack& stack) {
  while (ds.nextObject(stack, OFTrue).good()) {
    DcmObject* o = stack.top();
    if (!skipped(*o)) return o;
    // A skipped element has no children: the walk just moves past it.
  }
  return nullptr;
}

std::string_view trim_padding(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  return s;
}

// Value bytes [offset, offset + n) in little endian.
bool read_le(DcmElement& e, Uint32 offset, std::string& buf, Uint32 n, DcmFileCache& cache) {
  buf.resize(n);
  return n == 0 || e.getPartialValue(buf.data(), offset, n, &cache, EBO_LittleEndian).good();
}

Result<bool> same_values(DcmElement& a, DcmElement& b, bool top_pixel_data, std::uint64_t pixel_bytes) {
  Uint32 la = a.getLength(), lb = b.getLength();
  const bool is_string = DcmVR(a.ident()).isaString() && DcmVR(b.ident()).isaString();
  if (top_pixel_data) {
    // Declared frames only; what follows them is padding.
    if (la < pixel_bytes || lb < pixel_bytes) return false;
    la = lb = Uint32(pixel_bytes);
  } else if (is_string) {
    if (std::max(la, lb) > 64u * kChunk) return fail(Errc::unsupported, "too large to compare");
    std::string va, vb;
    DcmFileCache ca, cb;
    if (!read_le(a, 0, va, la, ca) || !read_le(b, 0, vb, lb, cb)) return fail(Errc::corrupt, "cannot read a value");
    return trim_padding(va) == trim_padding(vb);
  } else if (la != lb) {
    return false;
  }
  std::string va, vb;
  DcmFileCache ca, cb;
  for (Uint32 off = 0; off < la;) {
    const Uint32 n = std::min(kChunk, la - off);
    // getPartialValue wants even offsets and lengths for OW; frames are even
    // except 8-bit data, which is OB or read byte-wise.
    const Uint32 even = (n & 1u) && off + n + 1 <= std::min(a.getLength(), b.getLength()) ? n + 1 : n;
    if (!read_le(a, off, va, even, ca) || !read_le(b, off, vb, even, cb))
      return fail(Errc::corrupt, "cannot read a value");
    if (std::string_view(va).substr(0, n) != std::string_view(vb).substr(0, n)) return false;
    off += n;
  }
  return true;
}

Result<bool> compare(Decoded& da, Decoded& db) {
  DcmDataset& a = *da.ff->getDataset();
  DcmDataset& b = *db.ff->getDataset();
  if (da.pixel_bytes != db.pixel_bytes) return false;
  DcmStack sa, sb;
  for (;;) {
    DcmObject* oa = next_relevant(a, sa);
    DcmObject* ob = next_relevant(b, sb);
    if (!oa || !ob) return oa == ob;
    if (oa->getTag() != ob->getTag() || sa.card() != sb.card()) return false;
    const bool seq_a = oa->ident() == EVR_SQ, seq_b = ob->ident() == EVR_SQ;
    const bool item_a = oa->ident() == EVR_item, item_b = ob->ident() == EVR_item;
    if (seq_a != seq_b || item_a != item_b) return false;
    if (seq_a) {
      if (static_cast<DcmSequenceOfItems*>(oa)->card() != static_cast<DcmSequenceOfItems*>(ob)->card()) return false;
      continue;
    }
    if (item_a) continue;
    auto* ea = dynamic_cast<DcmElement*>(oa);
    auto* eb = dynamic_cast<DcmElement*>(ob);
    if (!ea || !eb) return false;
    // Top level: the walk's stack holds the data set and the element.
    const bool top_pixel = oa->getTag() == DCM_PixelData && sa.card() == 2;
    auto same = same_values(*ea, *eb, top_pixel, da.pixel_bytes);
    if (!same) return std::unexpected(same.error());
    if (!*same) return false;
  }
}

} // namespace

Result<bool> same_dataset(std::shared_ptr<ByteSource> a, std::shared_ptr<ByteSource> b,
                          std::uint64_t max_decoded_bytes) {
  return detail::guarded([&]() -> Result<bool> {
    auto da = load_decoded(std::move(a), max_decoded_bytes);
    if (!da) return std::unexpected(da.error());
    auto db = load_decoded(std::move(b), max_decoded_bytes);
    if (!db) return std::unexpected(db.error());
    return compare(*da, *db);
  });
}

} // namespace tresor::dicom
