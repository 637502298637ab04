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

add_executable(test_block_rule ${SCL_PT_DIR}/test_block_rule.c)
target_link_libraries(test_block_rule PRIVATE scl_patterns)
target_compile_options(test_block_rule PRIVATE ${SCL_WARNINGS})
add_test(NAME block_rule COMMAND test_block_rule)

if(PNG_FOUND)
  add_executable(test_layout_png ${SCL_PT_DIR}/test_layout_png.c)
  target_link_libraries(test_layout_png PRIVATE scl_patterns PNG::PNG)
  target_compile_options(test_layout_png PRIVATE ${SCL_WARNINGS})
  add_test(NAME layout_png COMMAND test_layout_png ${SCL_PT_WORK})
endif()

# Fuzz entry points: in every build they run over their seed corpus as plain tests; with
# SPARSECL_FUZZ=ON (clang) they are also built as libFuzzer binaries.
set(SCL_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR}/fuzz)
foreach(target spec npy lut)
  add_executable(fuzz_${target}_corpus ${SCL_FUZZ_DIR}/fuzz_${target}.c ${SCL_FUZZ_DIR}/corpus_main.c)
  target_link_libraries(fuzz_${target}_corpus PRIVATE scl_patterns)
  target_compile_options(fuzz_${target}_corpus PRIVATE ${SCL_WARNINGS})
  add_test(NAME fuzz_${target}_corpus COMMAND fuzz_${target}_corpus ${SCL_FUZZ_DIR}/corpus/fuzz_${target})
endforeach()

# Parsers above the pattern library: the tuning-database reader (host/src/tuning_db.c) and the
# command line (every subcommand's options, host/cli/cli_util.c). They link the runtime library
# but never open a device: the CLI target replaces the device layer at link time, and only the
# commands' sources (not main.c) are compiled into it.
if(TARGET sparsecl_static AND TARGET sparsecl_cli)
  get_target_property(SCL_CLI_DIR sparsecl_cli SOURCE_DIR)
  get_target_property(SCL_CLI_ALL sparsecl_cli SOURCES)
  set(SCL_CLI_SOURCES)
  foreach(src ${SCL_CLI_ALL})
    if(NOT IS_ABSOLUTE ${src})
      set(src ${SCL_CLI_DIR}/${src})
    endif()
    # main.c is replaced by the fuzzer; distributed/'s commands need MPI (the hooks are off here)
    if(NOT src MATCHES "/main\\.c$" AND NOT src MATCHES "/distributed/")
      list(APPEND SCL_CLI_SOURCES ${src})
    endif()
  endforeach()
  include(GNUInstallDirs)
  set(SCL_FUZZ_CLI_WRAPS scl_runtime_create scl_devices_list scl_device_select spc_bind)
  set(SCL_FUZZ_TUNING_DEFS SCL_SOURCE_TUNING_DIR="${PROJECT_SOURCE_DIR}/results/tuning"
                           SCL_INSTALLED_TUNING_DIR="${CMAKE_INSTALL_FULL_DATADIR}/sparsecl/tuning")
  # fuzz_<target>_corpus and, with SPARSECL_FUZZ, fuzz_<target>: extra sources, link options.
  function(scl_runtime_fuzz_target name)
    set(fuzz_name fuzz_${name}${SCL_FUZZ_SUFFIX})
    add_executable(${fuzz_name} ${SCL_FUZZ_DIR}/fuzz_${name}.c ${ARGN})
    target_link_libraries(${fuzz_name} PRIVATE scl_autotune)
    target_compile_options(${fuzz_name} PRIVATE ${SCL_WARNINGS} ${SCL_FUZZ_FLAGS})
    target_link_options(${fuzz_name} PRIVATE ${SCL_FUZZ_LINK})
    if(name STREQUAL "cli")
      target_include_directories(${fuzz_name} PRIVATE ${SCL_CLI_DIR}/cli)
      target_link_libraries(${fuzz_name} PRIVATE scl_bench sparsecl_block_static)
      target_compile_definitions(${fuzz_name} PRIVATE SCL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
      foreach(fn ${SCL_FUZZ_CLI_WRAPS})
        target_link_options(${fuzz_name} PRIVATE "LINKER:--wrap=${fn}")
      endforeach()
    endif()
  endfunction()
  set(SCL_FUZZ_SUFFIX _corpus)
  set(SCL_FUZZ_FLAGS)
  set(SCL_FUZZ_LINK)
  scl_runtime_fuzz_target(tuning_db ${SCL_FUZZ_DIR}/corpus_main.c)
  scl_runtime_fuzz_target(cli ${SCL_FUZZ_DIR}/corpus_main.c ${SCL_CLI_SOURCES})
  foreach(target tuning_db cli)
    add_test(NAME fuzz_${target}_corpus COMMAND fuzz_${target}_corpus ${SCL_FUZZ_DIR}/corpus/fuzz_${target})
  endforeach()
  if(SPARSECL_FUZZ)
    # The parser's own sources (for the database: the reader and the parameter checks it feeds)
    # are compiled into the fuzzer, instrumented; their copies inside the static library are then
    # never linked (every symbol they define is already defined).
    set(SCL_FUZZ_SUFFIX "")
    set(SCL_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g)
    set(SCL_FUZZ_LINK -fsanitize=fuzzer,address,undefined)
    scl_runtime_fuzz_target(tuning_db ${PROJECT_SOURCE_DIR}/host/src/tuning_db.c ${PROJECT_SOURCE_DIR}/host/src/block_choice.c
                            ${PROJECT_SOURCE_DIR}/autotune/tuning_db_write.c ${PROJECT_SOURCE_DIR}/host/src/param_schema.c
                            ${PROJECT_SOURCE_DIR}/host/src/params_fwd_simt.c ${PROJECT_SOURCE_DIR}/host/src/params_bwd_simt.c
                            ${PROJECT_SOURCE_DIR}/host/src/params_fwd_mma.c ${PROJECT_SOURCE_DIR}/host/src/matrix_engine.c
                            ${PROJECT_SOURCE_DIR}/host/src/variants.c)
    target_compile_definitions(fuzz_tuning_db PRIVATE ${SCL_FUZZ_TUNING_DEFS} FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
    scl_runtime_fuzz_target(cli ${SCL_CLI_SOURCES})
  endif()
endif()

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
