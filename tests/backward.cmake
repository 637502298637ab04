add_executable(test_backward ${CMAKE_CURRENT_SOURCE_DIR}/backward/test_backward.c)
target_compile_options(test_backward PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_backward PRIVATE scl_autotune)
add_test(NAME backward COMMAND test_backward)
set_tests_properties(backward PROPERTIES TIMEOUT 900)

# The same cases through decomposed plans (SPARSECL_DECOMPOSE=force), those that decompose.
add_test(NAME backward_decomposed COMMAND test_backward --decomposed-only)
# The GPU work-item mapping of the copy kernels (prep_by_column=0) here, the CPU one in forward_decomposed;
# a SIMT parameter, so the SIMT forward (on NVIDIA the f16 cases would otherwise run on mma).
set_tests_properties(backward_decomposed PROPERTIES TIMEOUT 900 ENVIRONMENT
                     "SPARSECL_DECOMPOSE=force;SPARSECL_FWD_VARIANT=simt;SPARSECL_FWD_PARAMS=prep_by_column=0")
