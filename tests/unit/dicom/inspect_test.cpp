#include <gtest/gtest.h>

#include <zlib.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>

#include "dicom/inspect.h"
#include "test_support.h"

namespace tresor::dicom {
namespace {

using namespace test;

class InspectFile : public ::testing::Test {
protected:
  static void SetUpTestSuite() { init_globals(); }
  ScratchDir dir;
};

// Values read once with `dcmdump CT_small.dcm`.
constexpr const char* kCtPatientId = "1CT1";
constexpr const char* kCtPatientName = "CompressedSamples^CT1";
constexpr const char* kCtStudy = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
constexpr const char* kCtSeries = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322";
constexpr const char* kCtSop = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322";
constexpr std::uint64_t kCtDatasetOffset = 336;  // end of CT_small.dcm's meta group

std::string minimal_dataset_explicit(const std::string& study = kStudy) {
  return ex_short(0x0008, 0x0016, "UI", kSopClass) + ex_short(0x0008, 0x0018, "UI", kSopInstance) +
         ex_short(0x0010, 0x0020, "LO", "PID-1") + ex_short(0x0020, 0x000D, "UI", study) +
         ex_short(0x0020, 0x000E, "UI", kSeries);
}

std::string implicit_dataset(const std::string& middle) {
  return im(0x0008, 0x0016, 26, padded(kSopClass, '\0')) + im(0x0008, 0x0018, 30, padded(kSopInstance, '\0')) +
         middle + im(0x0020, 0x000D, 30, padded(kStudy, '\0')) + im(0x0020, 0x000E, 30, padded(kSeries, '\0'));
}

TEST_F(InspectFile, AcceptsCtSmallAndExtractsItsKeys) {
  auto r = inspect_file(dir.copy_sample("CT_small.dcm"), {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->record.patient_id, kCtPatientId);
  EXPECT_EQ(r->record.patient_name, kCtPatientName);
  EXPECT_EQ(r->record.study_uid, kCtStudy);
  EXPECT_EQ(r->record.series_uid, kCtSeries);
  EXPECT_EQ(r->record.sop_instance_uid, kCtSop);
  EXPECT_EQ(r->record.sop_class_uid, "1.2.840.10008.5.1.4.1.1.2");
  EXPECT_EQ(r->record.modality, "CT");
  EXPECT_EQ(r->record.rows, "128");
  EXPECT_EQ(r->record.columns, "128");
  EXPECT_EQ(r->record.transfer_syntax_uid, kExplicitLE);
  EXPECT_EQ(r->dataset_offset, kCtDatasetOffset);
}

TEST_F(InspectFile, ZeroesANonZeroPreambleAndLeavesEveryOtherByteAlone) {
  const std::string before = read_bytes(kSamples / "CT_small.dcm");
  ASSERT_NE(before.substr(0, 128), std::string(128, '\0'));  // CT_small carries a TIFF header there
  auto path = dir.copy_sample("CT_small.dcm");
  ASSERT_TRUE(inspect_file(path, {}));
  const std::string after = read_bytes(path);
  ASSERT_EQ(after.size(), before.size());
  EXPECT_EQ(after.substr(0, 128), std::string(128, '\0'));
  EXPECT_EQ(after.substr(128), before.substr(128));
}

TEST_F(InspectFile, GivesTheSameResultWhenRunTwice) {
  auto path = dir.copy_sample("CT_small.dcm");
  auto first = inspect_file(path, {});
  ASSERT_TRUE(first);
  const std::string bytes = read_bytes(path);
  auto second = inspect_file(path, {});
  ASSERT_TRUE(second);
  EXPECT_EQ(second->dataset_offset, first->dataset_offset);
  EXPECT_EQ(second->record.sop_instance_uid, first->record.sop_instance_uid);
  EXPECT_EQ(read_bytes(path), bytes);
}

TEST_F(InspectFile, RefusesTruncatedObjectsWithAReasonAndLeavesThemUntouched) {
  for (const char* name : {"MR_truncated.dcm", "rtplan_truncated.dcm"}) {
    auto path = dir.copy_sample(name);
    const std::string before = read_bytes(path);
    auto r = inspect_file(path, {});
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << name;
    EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << name << ": " << r.error().message;
    EXPECT_EQ(read_bytes(path), before) << name;
  }
}

TEST_F(InspectFile, RefusesAValueLengthRunningPastTheEndOfTheFile) {
  std::string bytes = part10_header(kExplicitLE) + minimal_dataset_explicit() +
                      ex_long(0x0009, 0x1001, "OB", 0x7FFFFFF0u, "abcd");
  auto r = inspect_file(dir.write("long.dcm", bytes), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
}

TEST_F(InspectFile, TurnsMetaLessFilesIntoPart10WithTheDataSetBytesUnchanged) {
  for (const char* name : {"ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm"}) {
    auto path = dir.copy_sample(name);
    const std::string original = read_bytes(path);
    auto r = inspect_file(path, {});
    ASSERT_TRUE(r) << name << ": " << r.error().message;
    EXPECT_EQ(r->record.sop_instance_uid, "1.2.333.4444.5.6.7.8");
    EXPECT_EQ(r->record.study_uid, "1.2.333.4444.5.6.7.8.9");
    const std::string now = read_bytes(path);
    EXPECT_EQ(now.substr(0, 128), std::string(128, '\0')) << name;
    EXPECT_EQ(now.substr(128, 4), "DICM") << name;
    ASSERT_EQ(now.size(), r->dataset_offset + original.size()) << name;
    EXPECT_EQ(now.substr(r->dataset_offset), original) << name;

    // DCMTK reads it as a Part-10 file with the right transfer syntax.
    DcmFileFormat ff;
    ASSERT_TRUE(ff.loadFile(OFFilename(path.c_str()), EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                            ERM_fileOnly).good())
        << name;
    OFString ts, sop;
    ff.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, ts);
    ff.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPInstanceUID, sop);
    EXPECT_EQ(std::string(ts.c_str()), r->record.transfer_syntax_uid) << name;
    EXPECT_EQ(std::string(sop.c_str()), r->record.sop_instance_uid) << name;

    // A second inspection sees an ordinary Part-10 file and changes nothing.
    auto again = inspect_file(path, {});
    ASSERT_TRUE(again) << name;
    EXPECT_EQ(again->dataset_offset, r->dataset_offset);
    EXPECT_EQ(read_bytes(path), now);
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}), 2)
      << "no temporary files are left behind";
}

TEST_F(InspectFile, ReportsTheTransferSyntaxItDetectedForAMetaLessFile) {
  auto le = inspect_file(dir.copy_sample("ExplVR_LitEndNoMeta.dcm"), {});
  auto be = inspect_file(dir.copy_sample("ExplVR_BigEndNoMeta.dcm"), {});
  ASSERT_TRUE(le);
  ASSERT_TRUE(be);
  EXPECT_EQ(le->record.transfer_syntax_uid, kExplicitLE);
  EXPECT_EQ(be->record.transfer_syntax_uid, "1.2.840.10008.1.2.2");
}

TEST_F(InspectFile, AcceptsCtSmallWithoutItsMetaHeader) {
  const std::string ct = read_bytes(kSamples / "CT_small.dcm");
  auto path = dir.write("ct_nometa.dcm", ct.substr(kCtDatasetOffset));
  auto r = inspect_file(path, {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->record.patient_id, kCtPatientId);
  EXPECT_EQ(r->record.study_uid, kCtStudy);
  EXPECT_EQ(read_bytes(path).substr(r->dataset_offset), ct.substr(kCtDatasetOffset));
}

// pydicom's no_meta.dcm is CT_small.dcm cut one byte too early: its first byte
// (0x20) is the last padding byte of the meta header, so no reader can find an
// element boundary in it (DCMTK and pydicom fail too).
TEST_F(InspectFile, RefusesNoMetaDcmWhoseDataSetStartsWithAStrayByte) {
  auto path = dir.copy_sample("no_meta.dcm");
  const std::string before = read_bytes(path);
  auto r = inspect_file(path, {});
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error().message.empty());
  EXPECT_EQ(read_bytes(path), before);
}

TEST_F(InspectFile, RefusesATransferSyntaxDcmtkDoesNotKnow) {
  auto r = inspect_file(dir.write("ts.dcm", part10_header("1.2.3.4.5.6.7") + minimal_dataset_explicit()), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unsupported);
}

TEST_F(InspectFile, DetectsTheEncodingWhenTheMetaHeaderHasNoTransferSyntax) {
  std::string body = ex_long(0x0002, 0x0001, "OB", 2, std::string("\x00\x01", 2)) +
                     ex_short(0x0002, 0x0003, "UI", kSopInstance);
  std::string meta = ex_short(0x0002, 0x0000, "UL", u32le(std::uint32_t(body.size()))) + body;
  std::string file = std::string(128, '\0') + "DICM" + meta + implicit_dataset("");
  auto r = inspect_file(dir.write("nots.dcm", file), {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->record.transfer_syntax_uid, kImplicitLE);
  EXPECT_EQ(r->record.study_uid, kStudy);
  EXPECT_EQ(r->dataset_offset, 132 + meta.size());
}

std::string u16be(std::uint16_t v) { return {char(v >> 8), char(v & 0xFF)}; }
std::string be_short(std::uint16_t g, std::uint16_t e, const char* vr, const std::string& value) {
  const std::string v = padded(value, vr[0] == 'U' && vr[1] == 'I' ? '\0' : ' ');
  return u16be(g) + u16be(e) + std::string(vr, 2) + u16be(std::uint16_t(v.size())) + v;
}

TEST_F(InspectFile, ReadsAMetaLessBigEndianFileWhoseFirstTagIsUnknownToTheDictionary) {
  // DCMTK's own guess would read this as little endian; it must use the
  // encoding the pre-scan checked.
  std::string ds = be_short(0x0008, 0x0001, "LO", "X") + be_short(0x0008, 0x0016, "UI", kSopClass) +
                   be_short(0x0008, 0x0018, "UI", kSopInstance) + be_short(0x0020, 0x000D, "UI", kStudy) +
                   be_short(0x0020, 0x000E, "UI", kSeries);
  auto r = inspect_file(dir.write("be.dcm", ds), {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->record.transfer_syntax_uid, "1.2.840.10008.1.2.2");
  EXPECT_EQ(r->record.series_uid, kSeries);
}

TEST_F(InspectFile, RefusesAnObjectLargerThanTheLimit) {
  Limits limits;
  limits.max_object_bytes = 10'000;
  auto r = inspect_file(dir.copy_sample("CT_small.dcm"), limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::too_large);
}

std::string nested_undefined_length(int levels) {
  std::string open, close;
  for (int i = 0; i < levels; ++i) {
    open += ex_long(0x0008, 0x1115, "SQ", 0xFFFFFFFFu) + item(0xFFFFFFFFu);
    close += item_delim() + seq_delim();
  }
  return open + close;
}

std::string with_nested(const std::string& nested) {
  return part10_header(kExplicitLE) + ex_short(0x0008, 0x0016, "UI", kSopClass) +
         ex_short(0x0008, 0x0018, "UI", kSopInstance) + nested + ex_short(0x0020, 0x000D, "UI", kStudy) +
         ex_short(0x0020, 0x000E, "UI", kSeries);
}

TEST_F(InspectFile, RefusesElevenHundredNestedSequencesBeforeDcmtkParsesThem) {
  auto r = inspect_file(dir.write("deep.dcm", with_nested(nested_undefined_length(1100))), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_NE(r.error().message.find("nested"), std::string::npos) << r.error().message;
}

TEST_F(InspectFile, AcceptsNestingUpToTheLimit) {
  Limits limits;
  limits.max_sequence_depth = 8;
  EXPECT_TRUE(inspect_file(dir.write("ok.dcm", with_nested(nested_undefined_length(8))), limits));
  EXPECT_FALSE(inspect_file(dir.write("deep.dcm", with_nested(nested_undefined_length(9))), limits));
}

TEST_F(InspectFile, RefusesDeepNestingHiddenInDefinedLengthImplicitVrSequences) {
  // Implicit VR carries no "SQ": DCMTK takes it from its dictionary and would
  // recurse 1,100 levels into (0008,1115).
  std::string inner;
  for (int i = 0; i < 1100; ++i) {
    std::string it = item(std::uint32_t(inner.size())) + inner;
    inner = im(0x0008, 0x1115, std::uint32_t(it.size()), it);
  }
  std::string ds = im(0x0008, 0x0016, 26, padded(kSopClass, '\0')) +
                   im(0x0008, 0x0018, 30, padded(kSopInstance, '\0')) + inner +
                   im(0x0020, 0x000D, 30, padded(kStudy, '\0')) + im(0x0020, 0x000E, 30, padded(kSeries, '\0'));
  auto r = inspect_file(dir.write("deep_implicit.dcm", part10_header(kImplicitLE) + ds), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::too_large);
}


TEST_F(InspectFile, RefusesAnImplicitVrValueThatDcmtkWouldEndEarlyAsASequence) {
  // DCMTK reads (0008,1115) as SQ from its dictionary, stops at the leading
  // Sequence Delimitation Item and parses the rest of the "value" as elements
  // of the data set; the pre-scan must not skip those bytes unseen.
  std::string hidden = im(0x0010, 0x0020, 6, "HIDDEN");
  std::string value = seq_delim() + hidden;
  auto r = inspect_file(
      dir.write("sd.dcm", part10_header(kImplicitLE) + implicit_dataset(im(0x0008, 0x1115, std::uint32_t(value.size()), value))),
      {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_NE(r.error().message.find("delimiter"), std::string::npos) << r.error().message;
}

TEST_F(InspectFile, RefusesAnImplicitVrValueTooShortForTheItemHeaderItStartsWith) {
  // A 4-byte "sequence" holding an item tag: DCMTK would read the item length
  // from the next element and lose alignment with the pre-scan.
  std::string value = tag_le(0xFFFE, 0xE000);
  auto r = inspect_file(
      dir.write("short.dcm", part10_header(kImplicitLE) + implicit_dataset(im(0x0008, 0x1115, 4, value))), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().message, "malformed sequence");
}

TEST_F(InspectFile, AcceptsImplicitVrPixelDataThatHappensToStartLikeAnItem) {
  std::string pixels = tag_le(0xFFFE, 0xE000) + u32le(0x7FFFFFFF) + std::string(56, '\x01');
  auto r = inspect_file(
      dir.write("px.dcm", part10_header(kImplicitLE) + implicit_dataset("") + im(0x0028, 0x0010, 2, u16le(8)) +
                              im(0x0028, 0x0011, 2, u16le(8)) + im(0x0028, 0x0100, 2, u16le(8)) +
                              im(0x7FE0, 0x0010, 64, pixels)),
      {});
  ASSERT_TRUE(r) << r.error().message;
}

TEST_F(InspectFile, RefusesDeepNestingInsideAnUndefinedLengthUnElement) {
  // CP-246: UN with undefined length holds an Implicit VR LE sequence.
  std::string open, close;
  for (int i = 0; i < 1100; ++i) {
    open += (i == 0 ? ex_long(0x0009, 0x1001, "UN", 0xFFFFFFFFu) : im(0x0009, 0x1001, 0xFFFFFFFFu)) +
            item(0xFFFFFFFFu);
    close += item_delim() + seq_delim();
  }
  auto r = inspect_file(dir.write("deep_un.dcm", with_nested(open + close)), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::too_large);
}

TEST_F(InspectFile, RefusesAUidThatLooksLikeAPath) {
  auto r = inspect_file(dir.write("evil.dcm", part10_header(kExplicitLE) +
                                                   minimal_dataset_explicit("1.2.3/../../etc/passwd")),
                        {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().message, "missing or invalid StudyInstanceUID");
}

TEST_F(InspectFile, RefusesAMissingSeriesInstanceUid) {
  std::string ds = ex_short(0x0008, 0x0016, "UI", kSopClass) + ex_short(0x0008, 0x0018, "UI", kSopInstance) +
                   ex_short(0x0020, 0x000D, "UI", kStudy);
  auto r = inspect_file(dir.write("noseries.dcm", part10_header(kExplicitLE) + ds), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "missing or invalid SeriesInstanceUID");
}

TEST_F(InspectFile, RefusesAMetaHeaderNamingAnotherSopInstance) {
  auto r = inspect_file(
      dir.write("mismatch.dcm", part10_header(kExplicitLE, "1.2.3.4") + minimal_dataset_explicit()), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_NE(r.error().message.find("MediaStorageSOPInstanceUID"), std::string::npos);
}

TEST_F(InspectFile, KeepsPatientDataOutOfRefusalReasons) {
  std::string ds = ex_short(0x0008, 0x0016, "UI", kSopClass) + ex_short(0x0008, 0x0018, "UI", kSopInstance) +
                   ex_short(0x0010, 0x0010, "PN", "DOE^JANE") + ex_short(0x0010, 0x0020, "LO", "SECRET-ID-42") +
                   ex_short(0x0020, 0x000D, "UI", "1.2.x");
  auto r = inspect_file(dir.write("phi.dcm", part10_header(kExplicitLE) + ds), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find("DOE"), std::string::npos);
  EXPECT_EQ(r.error().message.find("SECRET"), std::string::npos);
  EXPECT_EQ(r.error().message.find("1.2.x"), std::string::npos);
}

TEST_F(InspectFile, ReadsADeflatedDataSet) {
  auto r = inspect_file(dir.copy_sample("image_dfl.dcm"), {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->record.transfer_syntax_uid, "1.2.840.10008.1.2.1.99");
  EXPECT_EQ(r->record.sop_instance_uid, "1.3.6.1.4.1.5962.1.1.0.0.0.977067309.6001.0");
  EXPECT_EQ(r->record.study_uid, "1.3.6.1.4.1.5962.1.2.0.977067310.6001.0");
}

std::string raw_deflate(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, uLong(in.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = uInt(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST_F(InspectFile, RefusesADeflatedDataSetThatInflatesBeyondTheLimit) {
  // 8 MiB of zeros in a private OB element compress to a few KiB.
  std::string ds = minimal_dataset_explicit() + ex_long(0x0009, 0x1001, "OB", 8u << 20, std::string(8u << 20, '\0'));
  std::string file = part10_header("1.2.840.10008.1.2.1.99") + raw_deflate(ds);
  ASSERT_LT(file.size(), 64u * 1024);
  Limits limits;
  limits.max_object_bytes = 1u << 20;
  auto r = inspect_file(dir.write("bomb.dcm", file), limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_TRUE(inspect_file(dir.write("bomb2.dcm", file), {})) << "fine under the default limit";
}

TEST_F(InspectFile, RefusesATruncatedDeflatedDataSet) {
  const std::string dfl = read_bytes(kSamples / "image_dfl.dcm");
  auto r = inspect_file(dir.write("cut.dcm", dfl.substr(0, dfl.size() / 2)), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
}

TEST_F(InspectFile, RefusesANestingBombInsideADeflatedDataSet) {
  std::string file = part10_header("1.2.840.10008.1.2.1.99") + raw_deflate(with_nested(nested_undefined_length(1100)).substr(part10_header(kExplicitLE).size()));
  auto r = inspect_file(dir.write("deep_dfl.dcm", file), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::too_large);
}

TEST_F(InspectFile, ReadsEncapsulatedPixelData) {
  for (const char* name : {"JPEG-lossy.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "JPEG2000.dcm"}) {
    auto r = inspect_file(dir.copy_sample(name), {});
    ASSERT_TRUE(r) << name << ": " << r.error().message;
    EXPECT_FALSE(r->record.sop_instance_uid.empty()) << name;
  }
}

TEST_F(InspectFile, RefusesAFragmentRunningPastTheEndOfTheFile) {
  std::string px = ex_long(0x7FE0, 0x0010, "OB", 0xFFFFFFFFu) + item(0) + item(5000) + "short";
  auto r = inspect_file(dir.write("frag.dcm", part10_header("1.2.840.10008.1.2.4.50") + minimal_dataset_explicit() + px), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

TEST_F(InspectFile, RefusesAnUnterminatedSequence) {
  std::string sq = ex_long(0x0040, 0xA730, "SQ", 0xFFFFFFFFu) + item(0xFFFFFFFFu) +
                   ex_short(0x0040, 0xA010, "CS", "CONTAINS");
  auto r = inspect_file(dir.write("open.dcm", part10_header(kExplicitLE) + minimal_dataset_explicit() + sq), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

TEST_F(InspectFile, RefusesAnItemLongerThanItsSequence) {
  std::string it = item(64) + ex_short(0x0008, 0x0100, "SH", "X");
  std::string sq = ex_long(0x0008, 0x1115, "SQ", std::uint32_t(it.size()), it);
  auto r = inspect_file(dir.write("item.dcm", part10_header(kExplicitLE) + minimal_dataset_explicit() + sq), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

TEST_F(InspectFile, RefusesAnEmptyFileAndGarbage) {
  EXPECT_FALSE(inspect_file(dir.write("empty.dcm", ""), {}));
  EXPECT_FALSE(inspect_file(dir.write("text.dcm", "hello, this is not DICOM at all\n"), {}));
  EXPECT_FALSE(inspect_file(dir.write("dicm_only.dcm", std::string(128, '\0') + "DICM"), {}));
  auto missing = inspect_file(dir.path() / "does-not-exist.dcm", {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::io_error);
}

// Every sample pydicom ships is either accepted or refused with a reason, and
// nothing crashes. The refusals are pinned so that a behaviour change shows.
TEST_F(InspectFile, AcceptsOrRefusesEveryPydicomSampleWithAReason) {
  const std::set<std::string> expected_refusals = {
      // truncated: a value runs past the end of the file
      "MR_truncated.dcm", "rtplan_truncated.dcm",
      // no element boundary: a stray leading byte / implicit VR data under an
      // explicit VR transfer syntax
      "no_meta.dcm", "SC_rgb_jpeg.dcm",
      // MediaStorageSOPInstanceUID (1.2.999...) differs from SOPInstanceUID
      "badVR.dcm", "rtdose.dcm", "rtdose_1frame.dcm", "rtdose_expb.dcm", "rtdose_expb_1frame.dcm", "rtplan.dcm",
      // fragments without SOP Class / SOP Instance / Study / Series UIDs
      "UN_sequence.dcm", "empty_charset_LEI.dcm", "meta_missing_tsyntax.dcm", "nested_priv_SQ.dcm",
      "no_meta_group_length.dcm", "priv_SQ.dcm",
  };
  std::map<std::string, std::string> refused;
  int accepted = 0;
  for (const auto& entry : fs::directory_iterator(kSamples)) {
    if (entry.path().extension() != ".dcm") continue;
    const std::string name = entry.path().filename().string();
    auto r = inspect_file(dir.copy_sample(name), {});
    if (r) {
      ++accepted;
      EXPECT_TRUE(is_valid_uid(r->record.sop_instance_uid)) << name;
      EXPECT_GT(r->dataset_offset, 0u) << name;
      // What was accepted is a complete Part-10 file DCMTK reads to the end.
      DcmFileFormat ff;
      EXPECT_TRUE(ff.loadFile(OFFilename((dir.path() / name).c_str()), EXS_Unknown, EGL_noChange,
                              DCM_MaxReadLength, ERM_fileOnly).good())
          << name;
    } else {
      EXPECT_FALSE(r.error().message.empty()) << name;
      refused[name] = r.error().message;
    }
  }
  for (const auto& [name, why] : refused) std::cout << "  refused " << name << ": " << why << "\n";
  std::set<std::string> names;
  for (const auto& [name, why] : refused) names.insert(name);
  EXPECT_EQ(names, expected_refusals);
  EXPECT_GE(accepted, 50);
}

} // namespace
} // namespace tresor::dicom
