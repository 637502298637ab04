# Tensor-core forward (kernels/attn_fwd_mma.cl): PTX on NVIDIA sm_80+, the portable emulation
# elsewhere (PoCL in CI). SCL_MMA_BENCH=1 / SCL_MMA_SWEEP=1 add timings (tests/mma/test_mma_fwd.c).
add_executable(test_mma_fwd ${CMAKE_CURRENT_SOURCE_DIR}/mma/test_mma_fwd.c)
target_compile_options(test_mma_fwd PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_mma_fwd PRIVATE sparsecl_static m)
add_test(NAME mma_forward COMMAND test_mma_fwd)
set_tests_properties(mma_forward PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
