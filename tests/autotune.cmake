add_executable(test_autotune ${CMAKE_CURRENT_SOURCE_DIR}/autotune/test_autotune.c)
target_compile_options(test_autotune PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_autotune PRIVATE scl_autotune)
add_test(NAME autotune COMMAND test_autotune ${PROJECT_SOURCE_DIR}/kernels ${CMAKE_CURRENT_BINARY_DIR}/autotune-work)
set_tests_properties(autotune PROPERTIES TIMEOUT 600)
# Database look-up with fallback: exact device -> same architecture -> defaults (issue 17).
add_executable(test_lookup ${CMAKE_CURRENT_SOURCE_DIR}/autotune/test_lookup.c)
target_compile_options(test_lookup PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_lookup PRIVATE scl_autotune)
add_test(NAME lookup COMMAND test_lookup ${CMAKE_CURRENT_BINARY_DIR}/lookup-work)
set_tests_properties(lookup PROPERTIES TIMEOUT 300)
# The incumbent rule of `sparsecl tune`: timed beside the candidates, replaced only by a winner
# faster by more than the noise; the ETA within the time budget (issue 17).
add_executable(test_incumbent ${CMAKE_CURRENT_SOURCE_DIR}/autotune/test_incumbent.c)
target_compile_options(test_incumbent PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_incumbent PRIVATE scl_autotune)
add_test(NAME autotune_incumbent COMMAND test_incumbent ${CMAKE_CURRENT_BINARY_DIR}/incumbent-work)
set_tests_properties(autotune_incumbent PROPERTIES TIMEOUT 300)
# The sparsity block of SCL_BLOCK_AUTO plans: the rule, block-choice entries written by
# `sparsecl tune --pattern` and read by plans, `info` and `bench` (issue 17).
add_executable(test_block_choice ${CMAKE_CURRENT_SOURCE_DIR}/autotune/test_block_choice.c)
target_compile_options(test_block_choice PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_block_choice PRIVATE scl_autotune)
add_test(NAME block_choice COMMAND test_block_choice ${CMAKE_CURRENT_BINARY_DIR}/block-choice-work $<TARGET_FILE:sparsecl_cli>)
set_tests_properties(block_choice PROPERTIES TIMEOUT 300)
