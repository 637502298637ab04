/* Internal declarations shared by the host runtime's files. Not installed. */
#ifndef SCL_INTERNAL_H
#define SCL_INTERNAL_H

#include "sparsecl.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define SCLI_MSG_LEN 8192

struct scl_runtime {
    scl_device_info dev;
    cl_context ctx;
    cl_command_queue queue;
    bool out_of_order;
    char cache_dir[1024]; /* "" = caching off */
    /* The tuning databases of this device, read once on first use (tuning_db.h). */
    pthread_mutex_t tuning_lock;
    struct scli_tuning_set *tuning;
    char last_error[SCLI_MSG_LEN];
};

/* Record a detailed message on rt (if non-NULL) and return `status`. */
scl_status scli_fail(scl_runtime *rt, scl_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Record a failing OpenCL call: "clFoo failed: CL_BAR (-N)" plus context. */
scl_status scli_fail_cl(scl_runtime *rt, const char *call, cl_int err, const char *context);
/* SCL_ERR_BUILD with the program's build log (program.c). */
scl_status scli_build_log_error(scl_runtime *rt, cl_program prog, cl_int err, const char *label,
                                const char *options);
const char *scli_cl_error_name(cl_int err);

/* The runtime's tuning databases (read on the first call; thread-safe). NULL when out of memory. */
const struct scli_tuning_set *scli_runtime_tuning(scl_runtime *rt);
/* Forget them, so the next plan reads the files again (after `sparsecl tune` wrote one). */
void scli_runtime_tuning_reload(scl_runtime *rt);

/* Device queries shared by listing and wrapping. */
scl_status scli_device_describe(cl_platform_id platform, cl_device_id device, int index, scl_device_info *out);

/* Kernel sources: embedded by default, from $SPARSECL_KERNEL_DIR when set; `#include "x.clh"`
 * lines are expanded from the same place. The result is malloc'ed; NULL with msg on failure. */
char *scli_kernel_source_load(const char *file, char *msg, size_t msg_len);
/* Names of the embedded kernel files, NULL-terminated iteration by index. */
const char *scli_kernel_file_name(int i);

/* On-disk program binary cache. Entries are checksummed; writes are atomic. */
void scli_cache_default_dir(char *out, size_t len);
/* Returns a malloc'ed binary and its size, or NULL when absent or corrupt (corrupt entries are
 * deleted so they get rebuilt). */
unsigned char *scli_cache_load(const char *dir, const char *key, size_t *size);
/* Best effort: failures to write are reported through `msg` but are not fatal to the caller. */
bool scli_cache_store(const char *dir, const char *key, const unsigned char *bin, size_t size, char *msg,
                     size_t msg_len);

#endif
