add_executable(test_runtime ${CMAKE_CURRENT_SOURCE_DIR}/runtime/test_runtime.c)
target_compile_options(test_runtime PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_runtime PRIVATE scl_autotune)
add_test(NAME runtime COMMAND test_runtime)

# Layouts held in memory, pattern specs and element masks (issue 16): sparsecl.h's Patterns section.
add_executable(test_pattern_layout ${CMAKE_CURRENT_SOURCE_DIR}/runtime/test_pattern_layout.c)
target_compile_options(test_pattern_layout PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_pattern_layout PRIVATE scl_autotune m)
file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/pattern-layout-work)
add_test(NAME pattern_layout COMMAND test_pattern_layout ${CMAKE_CURRENT_BINARY_DIR}/pattern-layout-work)
set_tests_properties(pattern_layout PROPERTIES SKIP_RETURN_CODE 77)
