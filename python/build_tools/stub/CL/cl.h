/* Stand-in for <CL/cl.h> when sparsecl.h is preprocessed into cffi declarations (gen_cffi.py):
 * the OpenCL types sparsecl.h uses, opaque handles and integers of a size the compiler checks
 * ("int..." is cffi's "an integer type whose size the C compiler knows"). Never compiled as C. */
typedef int... cl_int;
typedef int... cl_uint;
typedef int... cl_ulong;
typedef int... cl_bitfield;
typedef int... cl_device_type;
typedef int... cl_mem_flags;
typedef int... cl_command_queue_properties;
typedef struct _cl_platform_id *cl_platform_id;
typedef struct _cl_device_id *cl_device_id;
typedef struct _cl_context *cl_context;
typedef struct _cl_command_queue *cl_command_queue;
typedef struct _cl_mem *cl_mem;
typedef struct _cl_program *cl_program;
typedef struct _cl_kernel *cl_kernel;
typedef struct _cl_event *cl_event;
