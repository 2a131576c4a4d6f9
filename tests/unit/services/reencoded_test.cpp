// A re-send of an archived instance in another transfer syntax (the same data
// set once decoded) is a duplicate, not a conflict; other content under the
// same SOP Instance UID stays refused.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "services/services.h"
#include "ingest_fixture.h"

using namespace tresor;
namespace fs = std::filesystem;

namespace {

const fs::path kFiles = test::kPydicomFiles;
using Kind = services::StoreResult::Kind;

struct Reencoded : test::IngestFixture {
  void SetUp() override {
    open("reencoded");
    ctx.principal.kind = Principal::Kind::peer;
    ctx.principal.name = "ROUTER";
    ctx.principal.source = "127.0.0.1";
    ctx.principal.operations = {Operation::store};
  }
  Result<services::StoreResult> put(const fs::path& file) { return ingest->ingest_file(ctx, file); }
  store::TempBlob part(const fs::path& file) {
    auto t = ingest->begin();
    EXPECT_TRUE(t);
    fs::copy_file(file, t->path, fs::copy_options::overwrite_existing);
    return *t;
  }
  std::size_t blobs() { return store->list_keys()->size(); }
};

} // namespace

TEST_F(Reencoded, AnswersTheSameInstanceInAnotherLosslessTransferSyntaxAsADuplicate) {
  auto first = put(sample("MR_small.dcm"));
  ASSERT_TRUE(first) << first.error().message;
  const std::string key = (**index->find_instance(first->sop_instance_uid)).blob_key;
  for (const char* name : {"MR_small_bigendian.dcm", "MR_small_implicit.dcm", "MR_small_RLE.dcm",
                           "MR_small_jpeg_ls_lossless.dcm", "MR_small_expb.dcm", "MR_small_padded.dcm",
                           "MR_small_jp2klossless.dcm"}) {
    auto again = put(sample(name));
    ASSERT_TRUE(again) << name << ": " << again.error().message;
    EXPECT_EQ(again->kind, Kind::duplicate) << name;
    EXPECT_TRUE(again->other_encoding) << name;
  }
  // One instance, one blob: the archived copy, untouched.
  EXPECT_EQ((**index->find_instance(first->sop_instance_uid)).blob_key, key);
  EXPECT_EQ(blobs(), 1u);
  std::size_t duplicates = 0;
  for (const auto& e : audit.events())
    for (const auto& [k, v] : e.details)
      if (k == "duplicate" && v.find("another transfer syntax") != std::string::npos) ++duplicates;
  EXPECT_EQ(duplicates, 7u);
}

TEST_F(Reencoded, KeepsRefusingOtherContentUnderTheSameUid) {
  ASSERT_TRUE(put(sample("MR_small.dcm")));
  // Same UIDs, one attribute changed, in another transfer syntax.
  auto other = put(sample("MR_small_implicit.dcm", "-i \"(0008,103E)=tampered\""));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Errc::conflict);
  // Same UIDs and attributes, one pixel changed.
  auto bytes_path = sample("MR_small_bigendian.dcm");
  std::string bytes;
  {
    std::ifstream in(bytes_path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() - 1000] ^= 0x10;
  std::ofstream(bytes_path, std::ios::binary | std::ios::trunc) << bytes;
  auto changed = put(bytes_path);
  ASSERT_FALSE(changed);
  EXPECT_EQ(changed.error().code, Errc::conflict);
  EXPECT_EQ(blobs(), 1u);
}

TEST_F(Reencoded, KeepsRefusingWhatItCannotDecode) {
  ASSERT_TRUE(put(sample("MR_small.dcm")));
  // A JPEG 2000 copy whose codestream is damaged: the frame does not decode
  // (or decodes to other pixels), so equality cannot be shown and the refusal stands.
  auto damaged = sample("MR_small_jp2klossless.dcm");
  std::string bytes;
  {
    std::ifstream in(damaged, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() - 600] ^= 0x21;
  std::ofstream(damaged, std::ios::binary | std::ios::trunc) << bytes;
  auto j2k = put(damaged);
  ASSERT_FALSE(j2k);
  EXPECT_EQ(j2k.error().code, Errc::conflict);
  EXPECT_EQ(blobs(), 1u);
}

TEST_F(Reencoded, DropsTheReencodedCopiesOfABatchAndKeepsTheArchivedOne) {
  ASSERT_TRUE(put(sample("MR_small.dcm")));
  auto results = ingest->ingest_batch(ctx, {part(sample("MR_small_RLE.dcm")), part(sample("MR_small_RLE.dcm")),
                                            part(sample("MR_small_implicit.dcm"))});
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->kind, Kind::duplicate);
  }
  EXPECT_EQ(blobs(), 1u);
}
