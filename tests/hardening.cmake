# Resource hygiene and fault injection: OpenCL entry points wrapped at link time.
add_executable(test_resources ${CMAKE_CURRENT_SOURCE_DIR}/hardening/test_resources.c)
target_compile_options(test_resources PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_resources PRIVATE scl_autotune)
foreach(fn clCreateBuffer clCreateKernel clCreateProgramWithSource clCreateProgramWithBinary clCreateCommandQueue
           clCreateContext clReleaseMemObject clReleaseKernel clReleaseProgram clReleaseCommandQueue
           clReleaseContext clReleaseEvent clRetainCommandQueue clRetainContext clRetainEvent clEnqueueNDRangeKernel
           clBuildProgram)
  target_link_options(test_resources PRIVATE "LINKER:--wrap=${fn}")
endforeach()
add_test(NAME resources COMMAND test_resources 300)
set_tests_properties(resources PROPERTIES TIMEOUT 600)

# Interrupted `sparsecl tune` (SIGKILL) continued with --resume: nothing measured is lost.
if(TARGET sparsecl_cli)
  add_test(NAME tune_kill COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/hardening/tune_kill.sh $<TARGET_FILE:sparsecl_cli>
                                     ${CMAKE_CURRENT_BINARY_DIR}/tune-kill-work)
  set_tests_properties(tune_kill PROPERTIES TIMEOUT 300)
endif()

# Refused options named as typed (short options inside a cluster included).
if(TARGET sparsecl_cli)
  add_test(NAME cli_options COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/hardening/cli_options.sh $<TARGET_FILE:sparsecl_cli>)
endif()

# Issue 17 ("Trust"): the reproducing commands of its defects, with the behaviour they must have.
if(TARGET sparsecl_cli)
  add_test(NAME cli_trust COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/hardening/cli_trust.sh $<TARGET_FILE:sparsecl_cli>
                                     ${CMAKE_CURRENT_BINARY_DIR}/cli-trust-work)
  set_tests_properties(cli_trust PROPERTIES TIMEOUT 300)
endif()
