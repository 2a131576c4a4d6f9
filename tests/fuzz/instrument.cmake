# Included by the top-level CMakeLists.txt when TRESOR_FUZZ=ON, before any
# module is added: every tresor_* library gets libFuzzer coverage
# instrumentation plus ASan and UBSan, so the fuzz targets in this directory
# see (and check) the module code they call. System libraries (DCMTK,
# OpenSSL, ...) are not instrumented.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "TRESOR_FUZZ needs clang (configure with -DCMAKE_CXX_COMPILER=clang++-16)")
endif()
if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 16)
  message(FATAL_ERROR "TRESOR_FUZZ needs clang >= 16 for std::expected (Debian 12: apt-get install clang-16 libclang-rt-16-dev)")
endif()
# Debug information comes from the build type (make test-hardening: -O1
# -gline-tables-only, enough for symbolized stacks and a faster build).
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                    -fno-omit-frame-pointer
                    # clang warns about gcc-only warning flags of the main build
                    -Wno-unknown-warning-option)
add_link_options(-fsanitize=address,undefined)
if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 19)
  # libstdc++ 12 only defines std::expected when __cpp_concepts >= 202002L
  # (it needs conditionally trivial special members, P0848). clang 16-18
  # implement P0848 but still report 201907L, so announce it ourselves.
  add_compile_options(-Wno-builtin-macro-redefined -U__cpp_concepts -D__cpp_concepts=202002L)
endif()

# Coverage instrumentation only where libFuzzer reads it: the module libraries
# (and the fuzz targets). The unit tests and the `tresor` executable, which the
# fuzz targets never link, keep ASan and UBSan but not the coverage hooks, which
# made their objects ~40 % slower to compile (tests/unit/security/http_auth_test.cpp:
# 27 s with, 16 s without).
function(tresor_no_fuzz_coverage target)
  target_compile_options(${target} PRIVATE -fno-sanitize=fuzzer-no-link)
endfunction()
