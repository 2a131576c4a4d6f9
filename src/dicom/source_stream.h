// DCMTK input streams over a ByteSource (core/byte_source.h): how dicom/ and
// net/ read stored objects, never through a file path (the store may keep
// them encrypted; BlobStore::open() gives their plaintext).
// Includes DCMTK headers: only dicom/ and net/ may include this file.
// Contract:
//  - SourceInputStream reads the source from `offset` through a buffer of
//    kSourceBuffer bytes aligned on multiples of that size (kSkipWindow
//    bytes for the first read after a skip out of the buffer; reads of a
//    whole buffer or more go straight to the source); skip() and putback()
//    only move the position (no byte is read), so skipping a large element
//    reads nothing of it;
//  - newFactory() gives a SourceStreamFactory positioned where the stream is:
//    DCMTK keeps it for every element value it leaves unloaded (loadFile's
//    maxReadLength) and creates a fresh stream from it when the value is
//    read (getPartialValue, loadValue, writing the data set). Every stream
//    and factory shares the one ByteSource (ByteSource::read_at is
//    positionless), so the source lives as long as the last element that
//    may still read from it; like the source, a data set read this way is
//    used by one thread at a time;
//  - a read error of the source (Errc::corrupt for a chunk whose
//    authentication failed, io_error) puts the stream into a bad status:
//    DCMTK sees a failed read and nothing of the bad chunk is returned;
//  - load_stored(): reads a Part-10 object (meta header required unless
//    `mode` is ERM_autoDetect) leaving values longer than max_read_length in
//    the source; a source error -> that error, a parse failure -> corrupt.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrma.h>

#include "core/byte_source.h"
#include "core/error.h"

namespace tresor::dicom {

inline constexpr std::size_t kSourceBuffer = 64 * 1024;
inline constexpr std::size_t kSkipWindow = 4 * 1024;

class SourceProducer final : public DcmProducer {
public:
  SourceProducer(std::shared_ptr<ByteSource> source, std::uint64_t offset);
  OFBool good() const override;
  OFCondition status() const override;
  OFBool eos() override;
  offile_off_t avail() override;
  offile_off_t read(void* buf, offile_off_t buflen) override;
  offile_off_t skip(offile_off_t skiplen) override;
  void putback(offile_off_t num) override;
  // The source's error that made the status bad, if any.
  const std::optional<Error>& source_error() const { return error_; }

private:
  bool fill(std::uint64_t window, std::size_t length);
  std::shared_ptr<ByteSource> source_;
  std::uint64_t size_;
  std::uint64_t pos_;
  std::vector<std::byte> buf_;
  std::uint64_t buf_start_ = 0;   // offset of buf_[0] in the source
  std::size_t buf_len_ = 0;       // valid bytes in buf_
  bool skipped_ = false;          // the last move was a skip out of the buffer
  OFCondition status_;
  std::optional<Error> error_;
};

class SourceInputStream final : public DcmInputStream {
public:
  SourceInputStream(std::shared_ptr<ByteSource> source, std::uint64_t offset);
  DcmInputStreamFactory* newFactory() const override;
  const std::optional<Error>& source_error() const { return producer_.source_error(); }

private:
  SourceProducer producer_;
  std::shared_ptr<ByteSource> source_;
  std::uint64_t offset_;
};

class SourceStreamFactory final : public DcmInputStreamFactory {
public:
  SourceStreamFactory(std::shared_ptr<ByteSource> source, std::uint64_t offset)
      : source_(std::move(source)), offset_(offset) {}
  DcmInputStream* create() const override;
  DcmInputStreamFactory* clone() const override { return new SourceStreamFactory(source_, offset_); }
  // DCMTK 3.6.7 never dispatches on ident(); the enum has no value for
  // streams other than its own, and ours behave like its file streams.
  DcmInputStreamFactoryType ident() const override { return DFT_DcmInputFileStreamFactory; }

private:
  std::shared_ptr<ByteSource> source_;
  std::uint64_t offset_;
};

Result<std::unique_ptr<DcmFileFormat>> load_stored(std::shared_ptr<ByteSource> source, Uint32 max_read_length,
                                                   E_FileReadMode mode = ERM_fileOnly);

} // namespace tresor::dicom
