// DCMTK input streams over a ByteSource (contract in source_stream.h).
#include "dicom/source_stream.h"

#include <algorithm>
#include <cstring>
#include <string>

#include <dcmtk/dcmdata/dcerror.h>

namespace tresor::dicom {

SourceProducer::SourceProducer(std::shared_ptr<ByteSource> source, std::uint64_t offset)
    : source_(std::move(source)), size_(source_ ? source_->size() : 0), pos_(std::min(offset, size_)),
      status_(EC_Normal) {
  if (!source_) status_ = EC_InvalidStream;
}

OFBool SourceProducer::good() const { return status_.good(); }
OFCondition SourceProducer::status() const { return status_; }
OFBool SourceProducer::eos() { return pos_ >= size_; }
offile_off_t SourceProducer::avail() { return static_cast<offile_off_t>(size_ - pos_); }

bool SourceProducer::fill(std::uint64_t window, std::size_t length) {
  if (buf_.empty()) buf_.resize(kSourceBuffer);
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, size_ - window));
  auto got = source_->read_at(window, std::span<std::byte>(buf_.data(), want));
  if (!got) {
    error_ = got.error();
    status_ = makeOFCondition(OFM_dcmdata, 18, OF_error, got.error().message.c_str());
    buf_len_ = 0;
    return false;
  }
  buf_start_ = window;
  buf_len_ = *got;
  return *got > 0;
}

offile_off_t SourceProducer::read(void* buf, offile_off_t buflen) {
  if (status_.bad() || !buf || buflen <= 0) return 0;
  auto* out = static_cast<std::byte*>(buf);
  const std::uint64_t wanted = static_cast<std::uint64_t>(buflen);
  std::uint64_t done = 0;
  while (done < wanted && pos_ < size_) {
    if (pos_ >= buf_start_ && pos_ < buf_start_ + buf_len_) {
      const std::uint64_t at = pos_ - buf_start_;
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf_len_ - at, wanted - done));
      std::memcpy(out + done, buf_.data() + at, n);
      done += n;
      pos_ += n;
      continue;
    }
    const std::uint64_t rest = std::min(wanted - done, size_ - pos_);
    if (rest >= kSourceBuffer) {
      // A large value: straight into the caller's buffer.
      auto got = source_->read_at(pos_, std::span<std::byte>(out + done, static_cast<std::size_t>(rest)));
      if (!got) {
        error_ = got.error();
        status_ = makeOFCondition(OFM_dcmdata, 18, OF_error, got.error().message.c_str());
        break;
      }
      if (*got == 0) break;
      done += *got;
      pos_ += *got;
      continue;
    }
    // After a skip (over a large value) the next read is usually a few
    // bytes (the next element's header): a small window, so walking the
    // items of encapsulated pixel data does not read the fragments.
    const std::size_t window = skipped_ ? kSkipWindow : kSourceBuffer;
    skipped_ = false;
    if (!fill(pos_ / window * window, window)) break;
  }
  return static_cast<offile_off_t>(done);
}

offile_off_t SourceProducer::skip(offile_off_t skiplen) {
  if (status_.bad() || skiplen <= 0) return 0;
  const std::uint64_t n = std::min<std::uint64_t>(static_cast<std::uint64_t>(skiplen), size_ - pos_);
  pos_ += n;
  if (pos_ < buf_start_ || pos_ >= buf_start_ + buf_len_) skipped_ = true;
  return static_cast<offile_off_t>(n);
}

void SourceProducer::putback(offile_off_t num) {
  if (status_.bad() || num <= 0) return;
  if (static_cast<std::uint64_t>(num) <= pos_) pos_ -= static_cast<std::uint64_t>(num);
  else status_ = EC_PutbackFailed;
}

// DcmInputStream only stores the producer's address (as DCMTK's own file
// stream does), so passing it before producer_ is constructed is safe.
SourceInputStream::SourceInputStream(std::shared_ptr<ByteSource> source, std::uint64_t offset)
    : DcmInputStream(&producer_), producer_(source, offset), source_(std::move(source)), offset_(offset) {}

DcmInputStreamFactory* SourceInputStream::newFactory() const {
  // With a compression filter installed (deflated syntax) positions in the
  // source no longer match the stream: DCMTK then loads the values.
  if (currentProducer() != &producer_) return nullptr;
  return new SourceStreamFactory(source_, offset_ + static_cast<std::uint64_t>(tell()));
}

DcmInputStream* SourceStreamFactory::create() const { return new SourceInputStream(source_, offset_); }

Result<std::unique_ptr<DcmFileFormat>> load_stored(std::shared_ptr<ByteSource> source, Uint32 max_read_length,
                                                   E_FileReadMode mode) {
  if (!source) return fail(Errc::not_found, "no such stored object");
  auto ff = std::make_unique<DcmFileFormat>();
  SourceInputStream in(source, 0);
  ff->setReadMode(mode);
  ff->transferInit();
  const OFCondition c = ff->read(in, EXS_Unknown, EGL_noChange, max_read_length);
  ff->transferEnd();
  ff->setReadMode(ERM_autoDetect);
  if (in.source_error()) return std::unexpected(*in.source_error());
  if (c.bad()) return fail(Errc::corrupt, std::string("stored object cannot be parsed: ") + c.text());
  return ff;
}

} // namespace tresor::dicom
