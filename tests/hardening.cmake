# Resource hygiene and fault injection: OpenCL entry points wrapped at link time.
add_executable(test_resources ${CMAKE_CURRENT_SOURCE_DIR}/hardening/test_resources.c)
target_compile_options(test_resources PRIVATE ${SCL_WARNINGS})
target_link_libraries(test_resources PRIVATE sparsecl_static)
foreach(fn clCreateBuffer clCreateKernel clCreateProgramWithSource clCreateProgramWithBinary clCreateCommandQueue
           clCreateContext clReleaseMemObject clReleaseKernel clReleaseProgram clReleaseCommandQueue
           clReleaseContext clReleaseEvent clRetainCommandQueue clRetainContext clRetainEvent clEnqueueNDRangeKernel
           clBuildProgram)
  target_link_options(test_resources PRIVATE "LINKER:--wrap=${fn}")
endforeach()
add_test(NAME resources COMMAND test_resources 300)
set_tests_properties(resources PROPERTIES TIMEOUT 600)
