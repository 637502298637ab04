# Tensor-core forward (kernels/attn_fwd_mma.cl): PTX on NVIDIA sm_80+, the portable emulation
# elsewhere (PoCL in CI). SCL_MMA_BENCH=1 / SCL_MMA_SWEEP=1 add timings (tests/mma/test_mma_fwd.c).
add_executable(test_mma_fwd ${CMAKE_CURRENT_SOURCE_DIR}/mma/test_mma_fwd.c)
target_compile_options(test_mma_fwd PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_mma_fwd PRIVATE sparsecl_static m)
add_test(NAME mma_forward COMMAND test_mma_fwd)
# TIMEOUT: wall clock for the emulated builds with a cold PoCL kernel cache (254 s alone on the
# 2-core CI machine in session 4, more under ctest -j; sessions 5-9 added the slab, pipelined,
# descriptor, two-warpgroup and mask-free-loop forms: 730 s alone in session 9)
set_tests_properties(mma_forward PROPERTIES TIMEOUT 1800 SKIP_RETURN_CODE 77)
# Probe, GPU only: Hopper's wgmma reached from OpenCL C through the built program's PTX, patched
# (skipped, 77, without an NVIDIA compute capability 9.x device).
add_executable(wgmma_probe ${CMAKE_CURRENT_SOURCE_DIR}/mma/wgmma_probe.c)
target_compile_options(wgmma_probe PRIVATE ${SCL_WARNINGS})
target_link_libraries(wgmma_probe PRIVATE OpenCL::OpenCL)
add_test(NAME wgmma_probe COMMAND wgmma_probe)
set_tests_properties(wgmma_probe PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)
