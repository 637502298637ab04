add_executable(test_runtime ${CMAKE_CURRENT_SOURCE_DIR}/runtime/test_runtime.c)
target_compile_options(test_runtime PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_runtime PRIVATE sparsecl_static)
add_test(NAME runtime COMMAND test_runtime)
