# Pattern decomposition: exact partition of the allowed set (no device needed).
add_executable(test_decompose ${CMAKE_CURRENT_LIST_DIR}/decompose/test_decompose.c)
target_link_libraries(test_decompose PRIVATE scl_patterns)
target_compile_options(test_decompose PRIVATE ${SCL_WARNINGS})
add_test(NAME decompose COMMAND test_decompose)
