# Sparse Transformer block (library + `sparsecl block`), and embedding: sub-buffers, events,
# out-of-order queues, threads.
add_executable(test_block ${CMAKE_CURRENT_SOURCE_DIR}/block/test_block.c ${CMAKE_CURRENT_SOURCE_DIR}/block/reference_block.c)
target_compile_options(test_block PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_block PRIVATE scl_autotune sparsecl_block_static)
add_test(NAME block COMMAND test_block $<TARGET_FILE:sparsecl_cli> ${CMAKE_CURRENT_BINARY_DIR}/block-work)
set_tests_properties(block PROPERTIES TIMEOUT 600)

add_executable(test_interop ${CMAKE_CURRENT_SOURCE_DIR}/block/test_interop.c ${CMAKE_CURRENT_SOURCE_DIR}/block/reference_block.c)
target_compile_options(test_interop PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_interop PRIVATE scl_autotune sparsecl_block_static)
add_test(NAME interop COMMAND test_interop)
set_tests_properties(interop PROPERTIES TIMEOUT 600)

add_executable(test_threads ${CMAKE_CURRENT_SOURCE_DIR}/block/test_threads.c ${CMAKE_CURRENT_SOURCE_DIR}/block/reference_block.c)
target_compile_options(test_threads PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_threads PRIVATE scl_autotune sparsecl_block_static Threads::Threads)
add_test(NAME threads COMMAND test_threads)
# A fresh program cache, so that the threads also build (and store) kernels concurrently.
set_tests_properties(threads PROPERTIES TIMEOUT 600 ENVIRONMENT "SPARSECL_CACHE_DIR=${CMAKE_CURRENT_BINARY_DIR}/threads-cache")
