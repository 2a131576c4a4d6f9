// Bounded pre-scan of a DICOM file; see prescan.h for the contract.
#include "dicom/prescan.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tresor::dicom::detail {

namespace {

constexpr std::uint32_t kUndefined = 0xFFFFFFFFu;
constexpr std::uint64_t kNoEnd = std::numeric_limits<std::uint64_t>::max();
constexpr std::size_t kBufSize = 64 * 1024;

constexpr std::uint32_t kItem = 0xFFFEE000u;
constexpr std::uint32_t kItemDelim = 0xFFFEE00Du;
constexpr std::uint32_t kSeqDelim = 0xFFFEE0DDu;
constexpr std::uint32_t kPixelData = 0x7FE00010u;

inline std::uint16_t le16(const std::uint8_t* p) { return std::uint16_t(p[0] | (p[1] << 8)); }
inline std::uint16_t be16(const std::uint8_t* p) { return std::uint16_t((p[0] << 8) | p[1]); }
inline std::uint32_t le32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8) | (std::uint32_t(p[2]) << 16) | (std::uint32_t(p[3]) << 24);
}
inline std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
}

// (FFFE,E000), (FFFE,E00D) or (FFFE,E0DD), read as a little endian 32-bit word.
inline bool is_item_or_delimiter(std::uint32_t word) {
  return word == 0xE000FFFEu || word == 0xE00DFFFEu || word == 0xE0DDFFFEu;
}

// (60xx,3000) Overlay Data: DCMTK never reads it as a sequence.
inline bool is_overlay_data(std::uint32_t tag) { return (tag & 0xFFE1FFFFu) == 0x60003000u; }

inline bool is_upper(std::uint8_t c) { return c >= 'A' && c <= 'Z'; }

constexpr std::uint16_t vr_code(char a, char b) { return std::uint16_t((std::uint8_t(a) << 8) | std::uint8_t(b)); }

// Explicit VR: does the VR use the 12-byte header (2 reserved bytes + 32-bit
// length)? Mirrors DCMTK's DcmVR: the standard long VRs, DCMTK's internal "ox"
// and "lt", and any unknown VR made of two upper-case letters ("future" VRs).
bool uses_long_length(std::uint8_t a, std::uint8_t b) {
  switch (vr_code(char(a), char(b))) {
    case vr_code('O', 'B'): case vr_code('O', 'D'): case vr_code('O', 'F'): case vr_code('O', 'L'):
    case vr_code('O', 'V'): case vr_code('O', 'W'): case vr_code('S', 'Q'): case vr_code('S', 'V'):
    case vr_code('U', 'C'): case vr_code('U', 'N'): case vr_code('U', 'R'): case vr_code('U', 'T'):
    case vr_code('U', 'V'): case vr_code('o', 'x'): case vr_code('l', 't'):
      return true;
    case vr_code('A', 'E'): case vr_code('A', 'S'): case vr_code('A', 'T'): case vr_code('C', 'S'):
    case vr_code('D', 'A'): case vr_code('D', 'S'): case vr_code('D', 'T'): case vr_code('F', 'L'):
    case vr_code('F', 'D'): case vr_code('I', 'S'): case vr_code('L', 'O'): case vr_code('L', 'T'):
    case vr_code('P', 'N'): case vr_code('S', 'H'): case vr_code('S', 'L'): case vr_code('S', 'S'):
    case vr_code('S', 'T'): case vr_code('T', 'M'): case vr_code('U', 'I'): case vr_code('U', 'L'):
    case vr_code('U', 'S'):
      return false;
    default:
      return is_upper(a) && is_upper(b);
  }
}

bool is_known_vr(std::uint8_t a, std::uint8_t b) {
  static constexpr std::array<std::uint16_t, 34> known = {
      vr_code('A', 'E'), vr_code('A', 'S'), vr_code('A', 'T'), vr_code('C', 'S'), vr_code('D', 'A'),
      vr_code('D', 'S'), vr_code('D', 'T'), vr_code('F', 'L'), vr_code('F', 'D'), vr_code('I', 'S'),
      vr_code('L', 'O'), vr_code('L', 'T'), vr_code('O', 'B'), vr_code('O', 'D'), vr_code('O', 'F'),
      vr_code('O', 'L'), vr_code('O', 'V'), vr_code('O', 'W'), vr_code('P', 'N'), vr_code('S', 'H'),
      vr_code('S', 'L'), vr_code('S', 'Q'), vr_code('S', 'S'), vr_code('S', 'T'), vr_code('S', 'V'),
      vr_code('T', 'M'), vr_code('U', 'C'), vr_code('U', 'I'), vr_code('U', 'L'), vr_code('U', 'N'),
      vr_code('U', 'R'), vr_code('U', 'S'), vr_code('U', 'T'), vr_code('U', 'V')};
  const std::uint16_t c = vr_code(char(a), char(b));
  return std::find(known.begin(), known.end(), c) != known.end();
}

// Buffered forward reader over the file, optionally inflating (raw deflate)
// from a given point on. Positions are logical: file offsets before inflation
// starts, and dataset_offset + inflated bytes afterwards.
class Reader {
public:
  Reader(int fd, std::uint64_t file_size, std::uint64_t inflate_cap)
      : fd_(fd), file_size_(file_size), inflate_cap_(inflate_cap), buf_(kBufSize) {}
  ~Reader() {
    if (inflating_) inflateEnd(&z_);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  std::uint64_t pos() const { return base_ + cur_; }
  // End of the logical stream if known (raw mode), kNoEnd while inflating.
  std::uint64_t end() const { return inflating_ ? kNoEnd : file_size_; }
  const std::uint8_t* data() const { return buf_.data() + cur_; }
  std::size_t avail() const { return len_ - cur_; }
  void advance(std::size_t n) { cur_ += n; }
  // Sticky error (I/O, corrupt deflate stream, inflate cap) or empty.
  const std::optional<Error>& error() const { return error_; }

  // Makes at least n (<= kBufSize) bytes available; false at end of stream
  // or on error (check error()).
  bool ensure(std::size_t n) {
    while (avail() < n) {
      if (error_) return false;
      if (cur_ > 0) {
        std::memmove(buf_.data(), buf_.data() + cur_, avail());
        base_ += cur_;
        len_ -= cur_;
        cur_ = 0;
      }
      std::size_t got = inflating_ ? fill_inflate() : fill_raw();
      if (got == 0) return false;
    }
    return true;
  }

  // Skips n bytes; fails with "truncated" if the stream ends first.
  bool skip(std::uint64_t n) {
    if (n <= avail()) {
      cur_ += n;
      return true;
    }
    if (!inflating_) {
      const std::uint64_t target = pos() + n;
      if (target > file_size_) return false;
      base_ = target;
      raw_off_ = target;
      cur_ = len_ = 0;
      return true;
    }
    n -= avail();
    cur_ = len_;
    while (n > 0) {
      if (!ensure(1)) return false;
      const std::uint64_t step = std::min<std::uint64_t>(n, avail());
      cur_ += step;
      n -= step;
    }
    return true;
  }

  // Switches to inflating the rest of the file (raw deflate, RFC 1951).
  bool start_inflate() {
    std::memset(&z_, 0, sizeof z_);
    if (inflateInit2(&z_, -MAX_WBITS) != Z_OK) {
      error_ = make_error(Errc::internal, "cannot initialise zlib");
      return false;
    }
    inflating_ = true;
    in_.assign(buf_.begin() + std::ptrdiff_t(cur_), buf_.begin() + std::ptrdiff_t(len_));
    in_.resize(std::max<std::size_t>(in_.size(), kBufSize));
    in_len_ = avail();
    z_.next_in = in_.data();
    z_.avail_in = static_cast<uInt>(in_len_);
    base_ = pos();
    cur_ = len_ = 0;
    return true;
  }

private:
  std::size_t fill_raw() {
    const std::size_t room = buf_.size() - len_;
    if (raw_off_ >= file_size_ || room == 0) return 0;
    const std::size_t want = std::min<std::uint64_t>(room, file_size_ - raw_off_);
    ssize_t r;
    do {
      r = ::pread(fd_, buf_.data() + len_, want, static_cast<off_t>(raw_off_));
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      error_ = make_error(Errc::io_error, "cannot read the object");
      return 0;
    }
    if (r == 0) {
      // The file shrank while we read it.
      error_ = make_error(Errc::io_error, "the object changed while it was read");
      return 0;
    }
    raw_off_ += std::uint64_t(r);
    len_ += std::size_t(r);
    return std::size_t(r);
  }

  std::size_t fill_inflate() {
    if (z_done_) return 0;
    const std::size_t before = len_;
    while (len_ == before) {
      if (z_.avail_in == 0) {
        const std::size_t want = std::min<std::uint64_t>(in_.size(), file_size_ - raw_off_);
        if (want == 0) {  // the file ends before the deflate stream's final block
          error_ = make_error(Errc::invalid_argument, "truncated object: the deflated data set ends early");
          return 0;
        }
        ssize_t r;
        do {
          r = ::pread(fd_, in_.data(), want, static_cast<off_t>(raw_off_));
        } while (r < 0 && errno == EINTR);
        if (r <= 0) {
          error_ = make_error(Errc::io_error, "cannot read the object");
          return 0;
        }
        raw_off_ += std::uint64_t(r);
        z_.next_in = in_.data();
        z_.avail_in = static_cast<uInt>(r);
      }
      z_.next_out = buf_.data() + len_;
      z_.avail_out = static_cast<uInt>(buf_.size() - len_);
      const int rc = inflate(&z_, Z_NO_FLUSH);
      len_ = buf_.size() - z_.avail_out;
      if (rc == Z_STREAM_END) {
        z_done_ = true;
        break;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        error_ = make_error(Errc::invalid_argument, "corrupt deflated data set");
        return 0;
      }
      if (z_.total_out > inflate_cap_) {
        error_ = make_error(Errc::too_large, "deflated data set inflates beyond the size limit");
        return 0;
      }
    }
    if (z_.total_out > inflate_cap_) {
      error_ = make_error(Errc::too_large, "deflated data set inflates beyond the size limit");
      return 0;
    }
    return len_ - before;
  }

  int fd_;
  std::uint64_t file_size_;
  std::uint64_t inflate_cap_;
  std::vector<std::uint8_t> buf_;
  std::size_t cur_ = 0, len_ = 0;
  std::uint64_t base_ = 0;     // logical position of buf_[0]
  std::uint64_t raw_off_ = 0;  // next file offset to read
  std::optional<Error> error_;
  bool inflating_ = false, z_done_ = false;
  z_stream z_{};
  std::vector<std::uint8_t> in_;
  std::size_t in_len_ = 0;
};

std::string trim_value(const std::uint8_t* p, std::size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

Error truncated() { return make_error(Errc::invalid_argument, "truncated object: a value runs past the end of the file"); }

// Reads the file meta information group (explicit VR little endian; implicit
// tolerated) that follows the preamble. Leaves the reader at the first byte
// after group 0002.
Status read_meta(Reader& r, PrescanResult& out) {
  bool explicit_vr = true;
  bool first = true;
  std::optional<std::uint64_t> group_end;
  for (;;) {
    if (!r.ensure(8)) {
      if (r.error()) return std::unexpected(*r.error());
      if (r.avail() == 0) break;  // meta only, empty data set
      return std::unexpected(truncated());
    }
    const std::uint8_t* p = r.data();
    if (le16(p) != 0x0002) break;
    if (first) {
      explicit_vr = is_upper(p[4]) && is_upper(p[5]);
      first = false;
    }
    const std::uint16_t elem = le16(p + 2);
    std::uint32_t len;
    std::size_t hdr;
    if (explicit_vr) {
      if (uses_long_length(p[4], p[5])) {
        if (!r.ensure(12)) return std::unexpected(r.error() ? *r.error() : truncated());
        p = r.data();
        len = le32(p + 8);
        hdr = 12;
      } else {
        len = le16(p + 6);
        hdr = 8;
      }
    } else {
      len = le32(p + 4);
      hdr = 8;
    }
    if (len == kUndefined) return fail(Errc::invalid_argument, "undefined length in the file meta information");
    if (r.pos() + hdr + len > r.end()) return std::unexpected(truncated());
    r.advance(hdr);
    const bool wanted = elem == 0x0000 || elem == 0x0003 || elem == 0x0010;
    if (wanted) {
      if (len > 256) return fail(Errc::invalid_argument, "oversized value in the file meta information");
      if (!r.ensure(len)) return std::unexpected(r.error() ? *r.error() : truncated());
      const std::uint8_t* v = r.data();
      if (elem == 0x0000) {
        if (len != 4) return fail(Errc::invalid_argument, "invalid File Meta Information Group Length");
        group_end = r.pos() + 4 + le32(v);
      } else if (elem == 0x0003) {
        out.meta_sop_instance_uid = trim_value(v, len);
        out.meta_has_sop_instance = !out.meta_sop_instance_uid.empty();
      } else {
        out.meta_transfer_syntax = trim_value(v, len);
      }
      r.advance(len);
    } else if (!r.skip(len)) {
      return std::unexpected(r.error() ? *r.error() : truncated());
    }
  }
  out.dataset_offset = r.pos();
  if (group_end && *group_end != out.dataset_offset)
    return fail(Errc::invalid_argument, "File Meta Information Group Length does not match the meta header");
  return {};
}

// Guesses the encoding of a data set without transfer syntax from its first
// element: explicit VR if bytes 4..5 are a known VR, the byte order that gives
// the smaller group number.
Result<Encoding> detect_encoding(Reader& r, bool has_meta) {
  if (!r.ensure(8)) {
    if (r.error()) return std::unexpected(*r.error());
    return fail(Errc::invalid_argument, has_meta ? "no DICOM data set found" : std::string(kNotDicom));
  }
  const std::uint8_t* p = r.data();
  if (!has_meta && !plausible_dataset_start(p, 8)) return fail(Errc::invalid_argument, std::string(kNotDicom));
  if (is_known_vr(p[4], p[5])) return le16(p) <= be16(p) ? Encoding::explicit_le : Encoding::explicit_be;
  return Encoding::implicit_le;
}

} // namespace

bool plausible_dataset_start(const std::uint8_t* p, std::size_t n) noexcept {
  if (n < 8) return false;
  // Every object Tresor accepts has SOP Class UID (0008,0016), and elements
  // are sorted: its first group is 0002 (meta without preamble), 0004 or 0008.
  auto plausible = [](std::uint16_t g) { return g == 0x0002 || g == 0x0004 || g == 0x0008; };
  return plausible(le16(p)) || (is_known_vr(p[4], p[5]) && plausible(be16(p)));
}

namespace {

struct Frame {
  enum Kind : std::uint8_t { dataset, sequence, item, encapsulated } kind;
  Encoding enc;              // encoding of the frame's content
  std::uint64_t end;         // own end (kNoEnd = undefined length)
  std::uint64_t limit;       // min(own end, enclosing limit)
};

class Scanner {
public:
  Scanner(Reader& r, const Limits& limits, PrescanResult& out) : r_(r), limits_(limits), out_(out) {}

  Status run(Encoding enc) {
    const std::uint64_t ds_end = r_.end();
    stack_.reserve(std::size_t(std::clamp(limits_.max_sequence_depth, 0, 64)) * 2 + 4);
    stack_.push_back(Frame{Frame::dataset, enc, ds_end, ds_end});
    out_.header_end = ds_end == kNoEnd ? 0 : ds_end;
    bool header_end_set = false;
    while (!stack_.empty()) {
      Frame& f = stack_.back();
      const std::uint64_t pos = r_.pos();
      if (pos == f.limit) {
        if (f.end == pos) {  // defined-length frame complete
          pop();
          continue;
        }
        // Undefined-length frame reached the end of its enclosing item / file.
        if (f.limit == r_.end()) return std::unexpected(truncated());
        return fail(Errc::invalid_argument, "unterminated sequence or item");
      }
      if (f.kind == Frame::dataset && f.end == kNoEnd) {
        // Inflated data set: it ends where the stream ends.
        if (!r_.ensure(1)) {
          if (r_.error()) return std::unexpected(*r_.error());
          pop();
          continue;
        }
      }
      if (++out_.elements > kMaxElements)
        return fail(Errc::too_large, "object has too many elements");
      const bool big = f.enc == Encoding::explicit_be;
      if (!need(8, f)) return std::unexpected(last_error());
      const std::uint64_t elem_start = pos;
      const std::uint8_t* p = r_.data();
      const std::uint16_t g = big ? be16(p) : le16(p);
      const std::uint16_t e = big ? be16(p + 2) : le16(p + 2);
      const std::uint32_t tag = (std::uint32_t(g) << 16) | e;

      if (f.kind == Frame::sequence || f.kind == Frame::encapsulated) {
        const std::uint32_t len = big ? be32(p + 4) : le32(p + 4);
        r_.advance(8);
        if (f.kind == Frame::encapsulated && tag == kItem && stack_.size() == 2) ++out_.pixel_data_items;
        if (tag == kSeqDelim) {
          if (f.end != kNoEnd) return fail(Errc::invalid_argument, "sequence delimiter in a defined-length sequence");
          pop();
          continue;
        }
        if (tag != kItem) return fail(Errc::invalid_argument, "invalid tag inside a sequence");
        if (f.kind == Frame::encapsulated) {
          if (len == kUndefined) return fail(Errc::invalid_argument, "undefined-length pixel data fragment");
          if (auto s = skip_value(len, f); !s) return s;
          continue;
        }
        if (len != kUndefined && r_.pos() + len > f.limit) {
          if (f.limit == r_.end()) return std::unexpected(truncated());
          return fail(Errc::invalid_argument, "item length exceeds its sequence");
        }
        push(Frame::item, f.enc, len, f);
        continue;
      }

      // Data set or item: a data element.
      if (g == 0xFFFE) {
        const std::uint32_t len = big ? be32(p + 4) : le32(p + 4);
        (void)len;
        r_.advance(8);
        if (tag == kItemDelim && f.kind == Frame::item && f.end == kNoEnd) {
          pop();
          continue;
        }
        return fail(Errc::invalid_argument, "misplaced item or delimiter tag");
      }
      std::uint32_t len;
      bool explicit_vr = f.enc != Encoding::implicit_le;
      std::uint8_t vr0 = 0, vr1 = 0;
      if (explicit_vr) {
        vr0 = p[4];
        vr1 = p[5];
        if (uses_long_length(vr0, vr1)) {
          if (!need(12, f)) return std::unexpected(last_error());
          p = r_.data();
          len = big ? be32(p + 8) : le32(p + 8);
          r_.advance(12);
        } else {
          len = big ? be16(p + 6) : le16(p + 6);
          r_.advance(8);
        }
      } else {
        len = le32(p + 4);
        r_.advance(8);
      }
      if (tag == kPixelData && stack_.size() == 1 && !out_.has_pixel_data) {
        out_.has_pixel_data = true;
        out_.pixel_data_encapsulated = len == kUndefined;
        out_.pixel_data_length = len == kUndefined ? 0 : len;
      }
      if (tag == kPixelData && stack_.size() == 1 && !header_end_set && out_.encoding != Encoding::deflated_le) {
        out_.header_end = elem_start;
        header_end_set = true;
      }

      if (len == kUndefined) {
        const bool ob_ow = explicit_vr && ((vr0 == 'O' && (vr1 == 'B' || vr1 == 'W')) || (vr0 == 'o' && vr1 == 'x'));
        if (tag == kPixelData && (!explicit_vr || ob_ow)) {
          push(Frame::encapsulated, f.enc, kUndefined, f);
          continue;
        }
        Encoding child = f.enc;
        if (explicit_vr) {
          const bool sq = vr0 == 'S' && vr1 == 'Q';
          if (!sq && !ob_ow) {
            // UN (CP-246) and unknown VRs are read as Implicit VR LE sequences;
            // other known VRs cannot have an undefined length.
            if (is_known_vr(vr0, vr1) && !(vr0 == 'U' && vr1 == 'N'))
              return fail(Errc::invalid_argument, "undefined length on a non-sequence element");
            child = Encoding::implicit_le;
          }
        }
        if (auto s = push_sequence(child, kUndefined, f); !s) return s;
        continue;
      }

      // Defined length: never trust it.
      if (r_.pos() + len > f.limit) {
        if (f.limit == r_.end()) return std::unexpected(truncated());
        return fail(Errc::invalid_argument, "element length exceeds its enclosing item");
      }
      if (explicit_vr && vr0 == 'S' && vr1 == 'Q') {
        if (len > 0) {
          if (auto s = push_sequence(f.enc, len, f); !s) return s;
        }
        continue;
      }
      if (!explicit_vr && len > 0 && tag != kPixelData && !is_overlay_data(tag)) {
        // Implicit VR: DCMTK takes SQ from its dictionary and then reads item
        // headers wherever the value starts, even past a too-short value. So
        // descend wherever a value starts like a sequence, and refuse values
        // too short to hold what DCMTK would read there.
        if (!r_.ensure(4) && r_.error()) return std::unexpected(*r_.error());
        if (r_.avail() >= 4 && is_item_or_delimiter(le32(r_.data()))) {
          if (len < 8) return fail(Errc::invalid_argument, "malformed sequence");
          if (auto s = push_sequence(f.enc, len, f); !s) return s;
          continue;
        }
      }
      if (auto s = skip_value(len, f); !s) return s;
    }
    return {};
  }

private:
  Error last_error() const { return err_; }

  // Makes n header bytes available within the frame's limit.
  bool need(std::size_t n, const Frame& f) {
    if (r_.pos() + n > f.limit) {
      err_ = f.limit == r_.end() ? truncated()
                                 : make_error(Errc::invalid_argument, "element header exceeds its enclosing item");
      return false;
    }
    if (!r_.ensure(n)) {
      err_ = r_.error() ? *r_.error() : truncated();
      return false;
    }
    return true;
  }

  Status skip_value(std::uint32_t len, const Frame& f) {
    if (r_.pos() + len > f.limit) {
      if (f.limit == r_.end()) return std::unexpected(truncated());
      return fail(Errc::invalid_argument, "value length exceeds its enclosing item");
    }
    if (!r_.skip(len)) return std::unexpected(r_.error() ? *r_.error() : truncated());
    return {};
  }

  Status push_sequence(Encoding enc, std::uint32_t len, const Frame& parent) {
    if (depth_ + 1 > limits_.max_sequence_depth)
      return fail(Errc::too_large, "sequences nested deeper than " + std::to_string(limits_.max_sequence_depth) +
                                       " levels");
    ++depth_;
    out_.max_depth = std::max(out_.max_depth, depth_);
    push(Frame::sequence, enc, len, parent);
    return {};
  }

  void push(Frame::Kind kind, Encoding enc, std::uint32_t len, const Frame& parent) {
    const std::uint64_t end = len == kUndefined ? kNoEnd : r_.pos() + len;
    const std::uint64_t limit = std::min(end, parent.limit);
    stack_.push_back(Frame{kind, enc, end, limit});  // `parent` may dangle after this
  }

  void pop() {
    if (stack_.back().kind == Frame::sequence) --depth_;
    stack_.pop_back();
  }

  Reader& r_;
  const Limits& limits_;
  PrescanResult& out_;
  std::vector<Frame> stack_;
  int depth_ = 0;
  Error err_;
};

} // namespace

Status check_pixel_geometry(const PrescanResult& ps, const DeclaredGeometry& g, bool encapsulated_syntax,
                            bool video_syntax) {
  if (!ps.has_pixel_data) return {};
  auto refuse = [](const std::string& why) { return fail(Errc::invalid_argument, "pixel data: " + why); };
  if (ps.pixel_data_encapsulated != encapsulated_syntax)
    return refuse(ps.pixel_data_encapsulated ? "encapsulated in a native transfer syntax"
                                             : "native in an encapsulated transfer syntax");
  if (g.rows < 1 || g.rows > 0xFFFF || g.columns < 1 || g.columns > 0xFFFF)
    return refuse("Rows and Columns must be 1..65535");
  if (g.samples_per_pixel < 1 || g.samples_per_pixel > 4) return refuse("SamplesPerPixel must be 1..4");
  if (g.bits_allocated == 0 || g.bits_allocated > 64 || (g.bits_allocated != 1 && g.bits_allocated % 8 != 0))
    return refuse("BitsAllocated must be 1 or a multiple of 8 up to 64");
  if (g.number_of_frames < 1) return refuse("NumberOfFrames must be at least 1");
  const auto frames = static_cast<std::uint64_t>(g.number_of_frames);
  // Each factor is bounded above (16 + 16 + 3 + 7 bits): no overflow here.
  const std::uint64_t samples = (g.subsampled_422 && !encapsulated_syntax) ? 2 : g.samples_per_pixel;
  const std::uint64_t frame_bits = g.rows * g.columns * samples * g.bits_allocated;
  if (encapsulated_syntax) {
    const std::uint64_t fragments = ps.pixel_data_items > 0 ? ps.pixel_data_items - 1 : 0;
    if (fragments == 0) return refuse("encapsulated without any fragment");
    if (frames > fragments && !video_syntax)
      return refuse("NumberOfFrames (" + std::to_string(frames) + ") exceeds the number of fragments (" +
                    std::to_string(fragments) + ")");
    const std::uint64_t decoded = g.rows * g.columns * g.samples_per_pixel * ((g.bits_allocated + 7) / 8);
    if (decoded > 0xFFFFFFFEull) return refuse("a decoded frame would exceed 4 GiB");
    return {};
  }
  std::uint64_t total_bits = 0;
  if (__builtin_mul_overflow(frame_bits, frames, &total_bits))
    return refuse("Rows x Columns x SamplesPerPixel x BitsAllocated x NumberOfFrames overflows");
  const std::uint64_t needed = (total_bits + 7) / 8;
  if (ps.pixel_data_length < needed)
    return refuse("shorter (" + std::to_string(ps.pixel_data_length) + " bytes) than Rows x Columns x "
                  "SamplesPerPixel x BitsAllocated x NumberOfFrames declare (" + std::to_string(needed) + " bytes)");
  return {};
}

const char* encoding_uid(Encoding e) noexcept {
  switch (e) {
    case Encoding::implicit_le: return kImplicitLE;
    case Encoding::explicit_le: return kExplicitLE;
    case Encoding::explicit_be: return kExplicitBE;
    case Encoding::deflated_le: return kDeflatedLE;
  }
  return kExplicitLE;
}

Result<PrescanResult> prescan(int fd, std::uint64_t file_size, const Limits& limits, SyntaxResolver resolve) {
  PrescanResult out;
  Reader r(fd, file_size, limits.max_object_bytes);
  if (r.ensure(132) && std::memcmp(r.data() + 128, "DICM", 4) == 0) {
    out.has_meta = true;
    const std::uint8_t* p = r.data();
    out.preamble_nonzero = std::any_of(p, p + 128, [](std::uint8_t b) { return b != 0; });
    r.advance(132);
    if (auto s = read_meta(r, out); !s) return std::unexpected(s.error());
  } else if (r.error()) {
    return std::unexpected(*r.error());
  }

  const std::string& ts = out.meta_transfer_syntax;
  if (ts.empty()) {
    auto enc = detect_encoding(r, out.has_meta);
    if (!enc) return std::unexpected(enc.error());
    out.encoding = *enc;
    out.encoding_detected = true;
    if (!out.has_meta && r.ensure(2) && le16(r.data()) == 0x0002)
      return fail(Errc::invalid_argument, "file meta information without preamble");
  } else {
    auto enc = resolve(ts);
    if (!enc) return fail(Errc::unsupported, "unsupported transfer syntax");
    out.encoding = *enc;
  }

  Encoding scan_enc = out.encoding;
  if (out.encoding == Encoding::deflated_le) {
    if (!r.start_inflate()) return std::unexpected(*r.error());
    scan_enc = Encoding::explicit_le;
  }
  Scanner scanner(r, limits, out);
  if (auto s = scanner.run(scan_enc); !s) return std::unexpected(s.error());
  return out;
}

} // namespace tresor::dicom::detail
