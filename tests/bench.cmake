# Benchmark suite and report: a tiny hidden suite into a temp dir, `sparsecl report` over fake device
# folders, and the plot script when matplotlib is there.
add_executable(test_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench/test_bench.c)
target_compile_options(test_bench PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_bench PRIVATE PkgConfig::CJSON)
add_test(NAME bench COMMAND test_bench $<TARGET_FILE:sparsecl_cli> ${CMAKE_CURRENT_BINARY_DIR}/bench-work
                                       ${PROJECT_SOURCE_DIR}/scripts/plot_bench.py)
set_tests_properties(bench PROPERTIES TIMEOUT 300 ENVIRONMENT "SPARSECL_SHIPPED_TUNING=off")
# The benchmark library itself, without a device: suite table, bench.json shapes (old files too), bench.md.
add_executable(test_bench_lib ${CMAKE_CURRENT_SOURCE_DIR}/bench/test_bench_lib.c)
target_compile_options(test_bench_lib PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_bench_lib PRIVATE scl_bench)
add_test(NAME bench_lib COMMAND test_bench_lib ${CMAKE_CURRENT_BINARY_DIR}/bench-lib-work)
