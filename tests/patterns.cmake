# Pattern compiler tests (included from tests/CMakeLists.txt). Paths are relative to this file so
# the file also works when included from another project.
set(SCL_PT_DIR ${CMAKE_CURRENT_LIST_DIR}/patterns)
set(SCL_PT_WORK ${CMAKE_CURRENT_BINARY_DIR}/patterns-work)
file(MAKE_DIRECTORY ${SCL_PT_WORK})

add_executable(test_patterns ${SCL_PT_DIR}/test_patterns.c)
target_link_libraries(test_patterns PRIVATE scl_patterns)
target_compile_options(test_patterns PRIVATE ${SCL_WARNINGS})
add_test(NAME patterns COMMAND test_patterns ${SCL_PT_WORK} ${SCL_PT_DIR}/data)

add_executable(test_npy ${SCL_PT_DIR}/test_npy.c)
target_link_libraries(test_npy PRIVATE scl_patterns m)
target_compile_options(test_npy PRIVATE ${SCL_WARNINGS})
add_test(NAME npy COMMAND test_npy ${SCL_PT_WORK})

# Fuzz entry points: in every build they run over their seed corpus as plain tests; with
# SPARSECL_FUZZ=ON (clang) they are also built as libFuzzer binaries.
set(SCL_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR}/fuzz)
foreach(target spec npy lut)
  add_executable(fuzz_${target}_corpus ${SCL_FUZZ_DIR}/fuzz_${target}.c ${SCL_FUZZ_DIR}/corpus_main.c)
  target_link_libraries(fuzz_${target}_corpus PRIVATE scl_patterns)
  target_compile_options(fuzz_${target}_corpus PRIVATE ${SCL_WARNINGS})
  add_test(NAME fuzz_${target}_corpus COMMAND fuzz_${target}_corpus ${SCL_FUZZ_DIR}/corpus/fuzz_${target})
endforeach()

if(SPARSECL_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SPARSECL_FUZZ needs clang (configure with -DCMAKE_C_COMPILER=clang)")
  endif()
  # An instrumented copy of the library, so coverage guidance sees inside the parsers without
  # changing how scl_patterns itself is built for the host.
  add_library(scl_patterns_fuzz STATIC ${SCL_PATTERNS_SOURCES})
  target_include_directories(scl_patterns_fuzz PUBLIC ${SCL_PATTERNS_DIR}/include)
  target_compile_options(scl_patterns_fuzz PRIVATE ${SCL_WARNINGS} -fsanitize=fuzzer-no-link,address,undefined
                         -fno-sanitize-recover=undefined -g)
  target_compile_definitions(scl_patterns_fuzz PRIVATE FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
  target_link_libraries(scl_patterns_fuzz PUBLIC PNG::PNG m)
  foreach(target spec npy lut)
    add_executable(fuzz_${target} ${SCL_FUZZ_DIR}/fuzz_${target}.c)
    target_link_libraries(fuzz_${target} PRIVATE scl_patterns_fuzz)
    target_compile_options(fuzz_${target} PRIVATE ${SCL_WARNINGS} -fsanitize=fuzzer,address,undefined
                           -fno-sanitize-recover=undefined -g)
    target_link_options(fuzz_${target} PRIVATE -fsanitize=fuzzer,address,undefined)
  endforeach()
endif()

# The `sparsecl pattern` subcommand, when the CLI target exists in this build.
if(TARGET sparsecl_cli)
  add_test(NAME cli_pattern COMMAND sh ${SCL_PT_DIR}/cli_pattern.sh $<TARGET_FILE:sparsecl_cli> ${SCL_PT_WORK}/cli)
endif()
