// Shared helpers of the fuzz targets (header-only, fuzz builds only).
#pragma once
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace tresor::fuzz {

// A per-process scratch directory under $TMPDIR, removed at exit. libFuzzer
// runs with -fork/-jobs start several processes; each gets its own.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tresor-fuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    return std::filesystem::path(tmpl);
  }();
  static const int registered = std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  });
  (void)registered;
  return dir;
}

// Crash on a violated contract (an invariant the fuzzer must not break).
#define TRESOR_FUZZ_CHECK(cond)                                                    \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "contract violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

} // namespace tresor::fuzz
