# Build information for host/src/build_info.c (included from the top-level install section, after
# the libraries are defined): the layout header (configure time) and the commit header (configure
# time and every build), both under <build>/generated.
include(GNUInstallDirs)
set(SCL_GENERATED_DIR ${PROJECT_BINARY_DIR}/generated)
file(RELATIVE_PATH SCL_LIB_TO_DATA ${CMAKE_INSTALL_FULL_LIBDIR} ${CMAKE_INSTALL_FULL_DATADIR})
file(RELATIVE_PATH SCL_BIN_TO_DATA ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_DATADIR})
configure_file(${PROJECT_SOURCE_DIR}/cmake/scl_build_layout.h.in ${SCL_GENERATED_DIR}/scl_build_layout.h @ONLY)
set(SCL_COMMIT_HEADER ${SCL_GENERATED_DIR}/scl_build_commit.h)
execute_process(COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DOUT=${SCL_COMMIT_HEADER}
                        -P ${PROJECT_SOURCE_DIR}/cmake/build_commit.cmake)
add_custom_target(scl_build_commit
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DOUT=${SCL_COMMIT_HEADER}
          -P ${PROJECT_SOURCE_DIR}/cmake/build_commit.cmake
  BYPRODUCTS ${SCL_COMMIT_HEADER}
  COMMENT "Recording the git commit" VERBATIM)
add_dependencies(scl_core scl_build_commit)
target_include_directories(scl_core PRIVATE ${SCL_GENERATED_DIR})
