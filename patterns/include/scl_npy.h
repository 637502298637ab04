/* NumPy .npy arrays: read and write, C order only, versions 1.0/2.0/3.0 (read), 1.0 (write).
 * Lives beside the pattern compiler because layout(path.npy) needs it and patterns/ may not
 * depend on host/; the host runtime and CLI use it for tensors. Plain C, no Python. */
#ifndef SCL_NPY_H
#define SCL_NPY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum npy_dtype {
    NPY_BOOL, NPY_U8, NPY_I8, NPY_U16, NPY_I16, NPY_U32, NPY_I32, NPY_U64, NPY_I64,
    NPY_F16, NPY_F32, NPY_F64
} npy_dtype;

#define NPY_MAX_DIMS 8

typedef struct npy_array {
    npy_dtype dtype;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    int64_t count;   /* product of shape */
    size_t itemsize;
    void *data;      /* count * itemsize bytes, native little-endian */
} npy_array;

/* Read a whole .npy file (npy_open + npy_read_data: the header is checked before any data is
 * read). Big-endian data is byte-swapped; Fortran order, object dtypes, truncated files and
 * malformed headers are refused. Returns 0, or -1 with a one-line message. */
int npy_read(const char *path, npy_array *out, char *msg, size_t msg_len);
/* Header first, for inputs that must be checked before their data is read: npy_open reads and
 * validates the preamble and header only (a regular file must also hold exactly the data the
 * header announces: its size is checked, nothing is read) and fills `out` with data = NULL;
 * npy_read_data then reads exactly count * itemsize bytes into a fresh out->data (a pipe that
 * ends early or goes on is an error). npy_close closes the file; npy_free frees the data.
 * Directories are refused; pipes and devices are read for the announced size, never more. */
typedef struct npy_file npy_file;
int npy_open(const char *path, npy_array *out, npy_file **file, char *msg, size_t msg_len);
int npy_read_data(npy_file *file, npy_array *out, char *msg, size_t msg_len);
void npy_close(npy_file *file);
/* Same as npy_read, from a complete file image in memory (used by fuzzers and embedders). */
int npy_read_mem(const void *buf, size_t len, npy_array *out, char *msg, size_t msg_len);
/* Write a C-order .npy file atomically (temp file + rename). */
int npy_write(const char *path, npy_dtype dtype, int ndim, const int64_t *shape, const void *data,
              char *msg, size_t msg_len);
void npy_free(npy_array *a);
const char *npy_dtype_name(npy_dtype t); /* numpy descr, e.g. "<f4" */
size_t npy_dtype_size(npy_dtype t);

/* IEEE half <-> float conversions (round to nearest even), shared by I/O and the reference. */
float npy_half_to_float(uint16_t h);
uint16_t npy_float_to_half(float f);

#ifdef __cplusplus
}
#endif
#endif
