# MPI tests (label "mpi"): the distributed plans against the single-device plan with 2 and 4
# ranks on one machine, one PoCL thread per rank. Timeouts turn a hang into a failure.
add_executable(test_mpi ${CMAKE_CURRENT_LIST_DIR}/test_mpi.c)
target_compile_options(test_mpi PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_mpi PRIVATE sparsecl_mpi m)
set(SCL_MPIRUN ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG})
if(MPIEXEC_EXECUTABLE MATCHES "mpirun|mpiexec" AND EXISTS "${MPIEXEC_EXECUTABLE}")
  execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE SCL_MPI_VERSION ERROR_QUIET)
endif()
set(SCL_MPI_FLAGS "")
if(SCL_MPI_VERSION MATCHES "Open MPI|OpenRTE")
  set(SCL_MPI_FLAGS --oversubscribe --allow-run-as-root)
endif()
foreach(np 2 4)
  add_test(NAME mpi_np${np} COMMAND ${SCL_MPIRUN} ${np} ${SCL_MPI_FLAGS} $<TARGET_FILE:test_mpi>)
  # RUN_SERIAL: beside another test's kernel builds (ctest -j 2 on 2 cores), one rank's PoCL build
  # of attn_bwd.cl failed once with an empty log (CI, session 12); alone it passes.
  set_tests_properties(mpi_np${np} PROPERTIES LABELS mpi TIMEOUT 900 RUN_SERIAL TRUE
                       ENVIRONMENT "POCL_MAX_PTHREAD_COUNT=1;OMP_NUM_THREADS=1")
endforeach()
add_executable(test_mpi_spec ${CMAKE_CURRENT_LIST_DIR}/test_mpi_spec.c)
target_compile_options(test_mpi_spec PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_mpi_spec PRIVATE sparsecl_mpi)
add_test(NAME mpi_spec COMMAND test_mpi_spec)
set_tests_properties(mpi_spec PROPERTIES LABELS mpi TIMEOUT 120)

add_executable(npy_tool ${CMAKE_CURRENT_LIST_DIR}/npy_tool.c)
target_compile_options(npy_tool PRIVATE ${SCL_WARNINGS})
target_link_libraries(npy_tool PRIVATE scl_patterns m)
string(REPLACE ";" " " SCL_MPIRUN_TEXT "${SCL_MPIRUN}")
string(REPLACE ";" " " SCL_MPI_FLAGS_TEXT "${SCL_MPI_FLAGS}")
add_test(NAME mpi_cli COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/test_cli_mpi.sh $<TARGET_FILE:sparsecl_cli>
                              $<TARGET_FILE:npy_tool> "${SCL_MPIRUN_TEXT}" "${SCL_MPI_FLAGS_TEXT}")
set_tests_properties(mpi_cli PROPERTIES LABELS mpi TIMEOUT 600
                     ENVIRONMENT "POCL_MAX_PTHREAD_COUNT=1;OMP_NUM_THREADS=1")
