/* File helpers shared by every module (plain C, no OpenCL): whole-file reads with a size cap,
 * atomic replacement (temp file + fsync + rename, so readers never see half a file), and the
 * FNV-1a hash that checksums LUT files and cache entries and keys the program cache. */
#ifndef SCL_FILEIO_H
#define SCL_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Reads all of `path` (also pipes) into a malloc'ed, NUL-terminated buffer of *size bytes.
 * Returns 0, or -1 with a one-line reason in msg (missing, unreadable, larger than max_bytes). */
int scl_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *size, char *msg, size_t len);

/* Opens a unique "<path>.tmp.XXXXXX" for writing; *tmp receives its malloc'ed name. NULL + msg on
 * failure. A symbolic link is followed (the temp file goes beside its target, which is replaced;
 * the link stays); a character device or FIFO (/dev/null) is written through, *tmp = NULL;
 * directories, block devices, sockets and dangling links are refused. */
FILE *scl_atomic_open(const char *path, char **tmp, char *msg, size_t len);
/* Closes f; when ok (and every write succeeded), syncs and renames tmp over path (its target),
 * else removes tmp. Frees tmp. A written-through file (tmp NULL) is flushed and closed: a write
 * error (ENOSPC on /dev/full) is an error there too. Returns 0, or -1 with msg. */
int scl_atomic_close(FILE *f, char *tmp, const char *path, bool ok, char *msg, size_t len);
/* mkdir -p; 0 when the directory exists afterwards. */
int scl_mkdirs(const char *dir);
/* Both in one: writes `size` bytes atomically. */
int scl_write_file_atomic(const char *path, const void *data, size_t size, char *msg, size_t len);

#define SCL_FNV_OFFSET 0xcbf29ce484222325ULL
/* FNV-1a 64, continuing from h (SCL_FNV_OFFSET to start): detects corruption, not attacks. */
uint64_t scl_fnv1a64(const void *data, size_t len, uint64_t h);

#endif
