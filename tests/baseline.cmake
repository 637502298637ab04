add_executable(test_baseline ${CMAKE_CURRENT_SOURCE_DIR}/baseline/test_baseline.c)
target_compile_options(test_baseline PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_baseline PRIVATE scl_autotune)
add_test(NAME baseline COMMAND test_baseline)
# CLBlast compiles its GEMM kernels at the first call, which takes a while on a CPU device.
set_tests_properties(baseline PROPERTIES TIMEOUT 600)
