# Install tests: `cmake --install` to a temporary prefix, then the examples built against it
# (find_package and pkg-config) and run, and the Python ctypes example.
set(SCL_INSTALL_SH ${CMAKE_CURRENT_SOURCE_DIR}/install/install_test.sh)
set(SCL_TMP_PREFIX ${CMAKE_CURRENT_BINARY_DIR}/install-prefix)
add_test(NAME install COMMAND sh ${SCL_INSTALL_SH} install ${PROJECT_BINARY_DIR} ${SCL_TMP_PREFIX})
set_tests_properties(install PROPERTIES FIXTURES_SETUP scl_installed TIMEOUT 300)
# What the shared libraries of the build link (objdump -p): CLBlast and libstdc++ only in
# libsparsecl_block, never in libsparsecl (issue 14).
add_test(NAME library_links COMMAND sh ${SCL_INSTALL_SH} links $<TARGET_FILE:sparsecl> $<TARGET_FILE:sparsecl_block>)
# scripts/rename-internal (the internal scli_ prefix) on a fixture tree; skipped without ctags or git.
add_test(NAME rename_internal COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/install/rename_internal_test.sh ${PROJECT_SOURCE_DIR}
                                      ${CMAKE_CURRENT_BINARY_DIR}/rename-internal-fixture)
set_tests_properties(rename_internal PROPERTIES SKIP_RETURN_CODE 77)
# The examples and Python load the installed shared library into programs built without
# sanitizers; an AddressSanitizer build of the library cannot run there, so those three run in the
# release build only (CI runs both).
if(CMAKE_C_FLAGS MATCHES "sanitize")
  return()
endif()
add_test(NAME examples_cmake
         COMMAND sh ${SCL_INSTALL_SH} cmake ${PROJECT_SOURCE_DIR} ${SCL_TMP_PREFIX} ${CMAKE_CURRENT_BINARY_DIR}/examples-cmake)
add_test(NAME examples_pkgconfig
         COMMAND sh ${SCL_INSTALL_SH} pkgconfig ${PROJECT_SOURCE_DIR} ${SCL_TMP_PREFIX} ${CMAKE_CURRENT_BINARY_DIR}/examples-pc)
add_test(NAME example_python COMMAND sh ${SCL_INSTALL_SH} python ${PROJECT_SOURCE_DIR} ${SCL_TMP_PREFIX})
set_tests_properties(examples_cmake examples_pkgconfig example_python PROPERTIES FIXTURES_REQUIRED scl_installed TIMEOUT 600)
# The two example builds share nothing but the prefix; run them one after the other on small CI machines.
set_tests_properties(examples_cmake examples_pkgconfig PROPERTIES RESOURCE_LOCK scl_examples_build)
set_tests_properties(example_python PROPERTIES SKIP_RETURN_CODE 77)
# A moved prefix stands alone: info and plans find its share/sparsecl/tuning, the static archive
# links through pkg-config --static (issue 17).
add_test(NAME install_moved
         COMMAND sh ${SCL_INSTALL_SH} moved ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/install-moved)
set_tests_properties(install_moved PROPERTIES TIMEOUT 600 RESOURCE_LOCK scl_examples_build)
