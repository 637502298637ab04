add_executable(test_forward ${CMAKE_CURRENT_SOURCE_DIR}/forward/test_forward.c)
target_compile_options(test_forward PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_forward PRIVATE scl_autotune)
add_test(NAME forward COMMAND test_forward)
set_tests_properties(forward PROPERTIES TIMEOUT 900)

add_executable(test_cli ${CMAKE_CURRENT_SOURCE_DIR}/forward/test_cli.c)
target_compile_options(test_cli PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_cli PRIVATE scl_autotune)
add_test(NAME cli COMMAND test_cli $<TARGET_FILE:sparsecl_cli> ${CMAKE_CURRENT_BINARY_DIR}/cli-work)

# The same cases through decomposed plans (SPARSECL_DECOMPOSE=force), those that decompose.
add_test(NAME forward_decomposed COMMAND test_forward --decomposed-only)
set_tests_properties(forward_decomposed PROPERTIES TIMEOUT 900 ENVIRONMENT SPARSECL_DECOMPOSE=force)

# The matrix-engine forward (kernels/attn_fwd_mma.cl) on every 16-bit case: on CPUs through the
# portable emulation of its primitives (kernels/mma.clh), the same source the GPU compiles.
add_test(NAME forward_mma COMMAND test_forward --variant mma)
set_tests_properties(forward_mma PROPERTIES TIMEOUT 900 ENVIRONMENT SPARSECL_FWD_VARIANT=mma)
add_test(NAME forward_mma_decomposed COMMAND test_forward --decomposed-only --variant mma)
set_tests_properties(forward_mma_decomposed PROPERTIES TIMEOUT 900
                     ENVIRONMENT "SPARSECL_FWD_VARIANT=mma;SPARSECL_DECOMPOSE=force")
# Split rows (host/src/plan_split.c) forced on every row longer than one block: each chunk on a
# work-group of its own, merged by attn_fwd_split_merge (plain plans, and components merging by LSE).
add_test(NAME forward_mma_split COMMAND test_forward --variant mma)
set_tests_properties(forward_mma_split PROPERTIES TIMEOUT 900
                     ENVIRONMENT "SPARSECL_FWD_VARIANT=mma;SPARSECL_SPLIT_ROWS=1")
add_test(NAME forward_mma_split_decomposed COMMAND test_forward --decomposed-only --variant mma)
set_tests_properties(forward_mma_split_decomposed PROPERTIES TIMEOUT 900
                     ENVIRONMENT "SPARSECL_FWD_VARIANT=mma;SPARSECL_DECOMPOSE=force;SPARSECL_SPLIT_ROWS=1")
