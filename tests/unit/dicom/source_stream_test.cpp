// Stored objects are read through a ByteSource (dicom/source_stream.h): a
// frame, a bulk value or the metadata of a large object reads only the
// bytes it needs (what an encrypted store decrypts), and a source that fails
// (a chunk whose authentication failed) is reported, never served.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>

#include "dicom/inspect.h"
#include "dicom/source_stream.h"
#include "dicom/web.h"
#include "test_support.h"

namespace tresor::dicom {
namespace {

using namespace test;

constexpr std::uint32_t kFrames = 500;
constexpr Uint16 kSide = 128;                          // 128 x 128 x 16 bits: 32 KiB a frame
constexpr std::size_t kFrameBytes = std::size_t(kSide) * kSide * 2;

void put_common(DcmDataset& ds) {
  ds.putAndInsertString(DCM_SOPClassUID, "1.2.840.10008.5.1.4.1.1.7");
  ds.putAndInsertString(DCM_SOPInstanceUID, "1.2.3.4.5.6.7");
  ds.putAndInsertString(DCM_StudyInstanceUID, "1.2.3.4.5");
  ds.putAndInsertString(DCM_SeriesInstanceUID, "1.2.3.4.5.6");
  ds.putAndInsertString(DCM_PatientID, "P1");
  ds.putAndInsertString(DCM_PatientName, "Doe^Jane");
  ds.putAndInsertUint16(DCM_Rows, kSide);
  ds.putAndInsertUint16(DCM_Columns, kSide);
  ds.putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds.putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds.putAndInsertUint16(DCM_BitsAllocated, 16);
  ds.putAndInsertUint16(DCM_BitsStored, 16);
  ds.putAndInsertUint16(DCM_HighBit, 15);
  ds.putAndInsertUint16(DCM_PixelRepresentation, 0);
  ds.putAndInsertString(DCM_NumberOfFrames, std::to_string(kFrames).c_str());
}

// 500 native frames; every pixel of frame k (0-based) is k.
fs::path write_native(const ScratchDir& dir) {
  DcmFileFormat ff;
  DcmDataset& ds = *ff.getDataset();
  put_common(ds);
  std::vector<Uint16> pixels(kFrameBytes / 2 * kFrames);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = Uint16(i / (kFrameBytes / 2));
  EXPECT_TRUE(ds.putAndInsertUint16Array(DCM_PixelData, pixels.data(), Uint32(pixels.size())).good());
  const fs::path file = dir.path() / "native.dcm";
  EXPECT_TRUE(ff.saveFile(OFFilename(file.c_str()), EXS_LittleEndianExplicit).good());
  return file;
}

// 500 frames of encapsulated "JPEG" (stored as is, never decoded here), one
// fragment each, with a Basic Offset Table; fragment k is filled with k % 251.
fs::path write_encapsulated(const ScratchDir& dir) {
  DcmFileFormat ff;
  DcmDataset& ds = *ff.getDataset();
  put_common(ds);
  auto* seq = new DcmPixelSequence(DCM_PixelSequenceTag);
  std::vector<Uint8> bot(4 * kFrames);
  for (std::uint32_t k = 0; k < kFrames; ++k) {
    const Uint32 off = Uint32(k * (8 + kFrameBytes));
    for (int b = 0; b < 4; ++b) bot[4 * k + b] = Uint8(off >> (8 * b));
  }
  auto* table = new DcmPixelItem(DCM_PixelItemTag);
  table->putUint8Array(bot.data(), Uint32(bot.size()));
  seq->insert(table);
  std::vector<Uint8> fragment(kFrameBytes);
  for (std::uint32_t k = 0; k < kFrames; ++k) {
    std::memset(fragment.data(), int(k % 251), fragment.size());
    fragment[0] = 0xFF, fragment[1] = 0xD8, fragment[2] = 0xFF;
    auto* item = new DcmPixelItem(DCM_PixelItemTag);
    item->putUint8Array(fragment.data(), Uint32(fragment.size()));
    seq->insert(item);
  }
  auto* px = new DcmPixelData(DCM_PixelData);
  px->putOriginalRepresentation(EXS_JPEGProcess1, nullptr, seq);
  ds.insert(px, true);
  const fs::path file = dir.path() / "encapsulated.dcm";
  EXPECT_TRUE(ff.saveFile(OFFilename(file.c_str()), EXS_JPEGProcess1).good());
  return file;
}

class SourceStream : public ::testing::Test {
protected:
  static void SetUpTestSuite() { init_globals(); }
  ScratchDir dir;
};

TEST_F(SourceStream, OneFrameOfA500FrameNativeObjectReadsAboutOneFrame) {
  const fs::path file = write_native(dir);
  auto counting = std::make_shared<CountingSource>(source_of(file));
  ASSERT_GT(counting->size(), kFrames * kFrameBytes);

  auto frame = read_frame(counting, 250, "*");
  ASSERT_TRUE(frame) << frame.error().message;
  ASSERT_EQ(frame->bytes.size(), kFrameBytes);
  std::vector<Uint16> expect(kFrameBytes / 2, Uint16(249));
  EXPECT_EQ(std::memcmp(frame->bytes.data(), expect.data(), kFrameBytes), 0);
  // The header, the frame, and at most a few buffer windows: not 16 MB.
  EXPECT_LT(counting->bytes, kFrameBytes + 3 * kSourceBuffer) << "of " << counting->size();
}

TEST_F(SourceStream, OneFrameOfA500FrameEncapsulatedObjectSkipsTheOtherFragments) {
  const fs::path file = write_encapsulated(dir);
  auto counting = std::make_shared<CountingSource>(source_of(file));
  ASSERT_GT(counting->size(), kFrames * kFrameBytes);

  auto frame = read_frame(counting, 400, "*");
  ASSERT_TRUE(frame) << frame.error().message;
  ASSERT_EQ(frame->bytes.size(), kFrameBytes);
  EXPECT_EQ(static_cast<unsigned char>(frame->bytes[100]), 399u % 251u);
  // Walking the 500 item headers reads one small window each, never the
  // fragments themselves: far less than the object (16 MB).
  EXPECT_LT(counting->bytes, 2 * kFrames * kSkipWindow) << "of " << counting->size();
  EXPECT_LT(counting->bytes, counting->size() / 4);
}

TEST_F(SourceStream, MetadataOfALargeObjectDoesNotReadItsPixelData) {
  const fs::path file = write_native(dir);
  auto counting = std::make_shared<CountingSource>(source_of(file));
  auto json = to_dicom_json(counting, {});
  ASSERT_TRUE(json) << json.error().message;
  EXPECT_NE(json->find("Doe^Jane"), std::string::npos);
  EXPECT_LT(counting->bytes, 2 * kSourceBuffer);
}

TEST_F(SourceStream, AFrameInAChunkThatFailsAuthenticationIsReportedNotServed) {
  const fs::path file = write_native(dir);
  const std::uint64_t size = fs::file_size(file);
  auto failing = std::make_shared<FailingSource>(source_of(file), size / 2);
  auto early = read_frame(failing, 10, "*");
  ASSERT_TRUE(early) << early.error().message;
  auto late = read_frame(failing, 450, "*");
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, Errc::corrupt);
}

TEST_F(SourceStream, AHeaderInAChunkThatFailsAuthenticationIsThatError) {
  const fs::path file = write_native(dir);
  auto failing = std::make_shared<FailingSource>(source_of(file), 200);
  auto info = frame_info(failing);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, Errc::corrupt);
  EXPECT_NE(info.error().message.find("authentication"), std::string::npos);
}

TEST_F(SourceStream, ValuesLeftInTheSourceAreReadLaterThroughTheFactory) {
  // The data set outlives the load: values above maxReadLength are read
  // through a stream the factory creates (DCMTK's delayed loading), also
  // after the caller dropped its own reference to the source.
  const fs::path file = write_native(dir);
  auto loaded = load_stored(source_of(file), 4096);
  ASSERT_TRUE(loaded) << loaded.error().message;
  DcmElement* px = nullptr;
  ASSERT_TRUE((*loaded)->getDataset()->findAndGetElement(DCM_PixelData, px).good());
  EXPECT_FALSE(px->valueLoaded());
  Uint16 value = 0;
  ASSERT_TRUE(px->getPartialValue(&value, Uint32(kFrameBytes * 7 + 2), 2).good());
  EXPECT_EQ(value, 7u);
  ASSERT_TRUE((*loaded)->loadAllDataIntoMemory().good());
  const Uint16* all = nullptr;
  ASSERT_TRUE(px->getUint16Array(const_cast<Uint16*&>(all)).good());
  EXPECT_EQ(all[kFrameBytes / 2 * 499], 499u);
}

TEST_F(SourceStream, AMissingSourceIsNotFound) {
  auto info = frame_info(nullptr);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, Errc::not_found);
}

} // namespace
} // namespace tresor::dicom
