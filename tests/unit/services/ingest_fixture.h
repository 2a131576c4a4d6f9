// A real ingest stack for service tests: SQLite index, filesystem store and
// DCMTK-based inspection in a fresh temporary directory per test, and
// pydicom's test files as samples.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "services/services.h"

namespace tresor::test {

inline const std::filesystem::path kPydicomFiles = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

struct IngestFixture : ::testing::Test {
  std::filesystem::path dir;
  std::unique_ptr<store::BlobStore> store;
  std::unique_ptr<index::SqliteIndex> index;
  audit::MemorySink audit;
  std::unique_ptr<services::IngestService> ingest;
  services::StoreContext ctx;

  // Creates the stack in <tmp>/tresor-<prefix>-<pid>-<test name>.
  void open(const std::string& prefix) {
    dicom::init_globals();
    dir = std::filesystem::temp_directory_path() /
          ("tresor-" + prefix + "-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    store = std::move(*store::open_fs_store(dir / "store"));
    index = std::move(*index::open_sqlite(dir / "index.db"));
    ingest = std::make_unique<services::IngestService>(*store, *index, audit, dicom::Limits{});
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  // A copy of a pydicom file, optionally changed with dcmodify.
  std::filesystem::path sample(const std::string& name, const std::string& modify = {}) {
    static int n = 0;
    std::filesystem::path out = dir / ("in-" + std::to_string(n++) + ".dcm");
    std::filesystem::copy_file(kPydicomFiles / name, out);
    if (!modify.empty()) {
      std::string cmd = "dcmodify -nb " + modify + " " + out.string() + " >/dev/null 2>&1";
      EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    return out;
  }
};

} // namespace tresor::test
