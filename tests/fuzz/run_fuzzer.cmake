# Runs one libFuzzer binary for SECONDS over WORK, a build-dir corpus seeded from SEEDS (the
# committed seeds are copied in, never written to). New inputs the fuzzer finds stay in WORK for
# the next run; crashes land in ARTIFACTS and fail the test.
#   cmake -DFUZZER=… -DSEEDS=… -DWORK=… -DARTIFACTS=… -DSECONDS=… -P run_fuzzer.cmake
foreach(var FUZZER SEEDS WORK ARTIFACTS SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: ${var} is not set")
  endif()
endforeach()

file(MAKE_DIRECTORY ${WORK} ${ARTIFACTS})
file(COPY ${SEEDS}/ DESTINATION ${WORK})

# -malloc_limit_mb: the decoders never allocate anything near a frame's announced size, so a
# single large allocation is a bug (reported as a crash). -timeout: seconds per input.
execute_process(
  COMMAND ${FUZZER}
    -max_total_time=${SECONDS}
    -max_len=16384
    -timeout=10
    -rss_limit_mb=2048
    -malloc_limit_mb=64
    -print_final_stats=1
    -artifact_prefix=${ARTIFACTS}/
    ${WORK}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (${rc}); the crashing input is in ${ARTIFACTS}")
endif()
