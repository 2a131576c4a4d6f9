# Runs a fuzz target once over every file of DIR (cmake -P; used by ctest).
# libFuzzer with explicit file arguments executes each input once and fails on
# the first crash, leak, UB report, timeout or allocation over -rss_limit_mb.
# Files named "open-*" are known findings in third-party code that are not
# fixed yet (docs/robustness.md): they run one by one and are reported as
# warnings, so that a fix shows up, without failing the test.
file(GLOB inputs LIST_DIRECTORIES false "${DIR}/*")
set(open "")
set(closed "")
foreach(f IN LISTS inputs)
  get_filename_component(name "${f}" NAME)
  if(name MATCHES "^open-")
    list(APPEND open "${f}")
  else()
    list(APPEND closed "${f}")
  endif()
endforeach()
set(common -rss_limit_mb=2560 -timeout=30)
# A known finding reproduces by design: its report must not land in the
# sanitizer log directory that `make test-hardening` checks (log_path).
set(open_env "ASAN_OPTIONS=$ENV{ASAN_OPTIONS}:log_path=stderr" "UBSAN_OPTIONS=$ENV{UBSAN_OPTIONS}:log_path=stderr")
foreach(f IN LISTS open)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ${open_env} ${FUZZER} ${common} "${f}"
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(rc EQUAL 0)
    message(WARNING "known finding no longer reproduces (rename it without open-): ${f}")
  else()
    message(STATUS "known open finding still reproduces: ${f}")
  endif()
endforeach()
list(LENGTH closed n)
# Batches keep the command line short.
set(batch "")
set(count 0)
foreach(f IN LISTS closed)
  list(APPEND batch "${f}")
  math(EXPR count "${count} + 1")
  list(LENGTH batch blen)
  if(blen EQUAL 200 OR count EQUAL n)
    execute_process(COMMAND ${FUZZER} ${common} ${batch}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "${FUZZER} failed (${rc}) on a file of ${DIR}:\n${out}")
    endif()
    set(batch "")
  endif()
endforeach()
message(STATUS "${n} inputs of ${DIR}: ok")
