/* Whole-file reads, atomic writes and FNV-1a, shared by the pattern compiler, the runtime and the
 * autotuner. */
#include "scl_fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int scl_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *size, char *msg, size_t len)
{
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, len, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap + 1);
    const char *why = buf ? NULL : "out of memory";
    while (!why) {
        if (n == cap) {
            if (cap >= max_bytes) {
                why = "too large";
                break;
            }
            size_t next = cap * 2 > max_bytes ? max_bytes : cap * 2;
            unsigned char *nb = realloc(buf, next + 1);
            if (!nb) {
                why = "out of memory";
                break;
            }
            buf = nb;
            cap = next;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) {
            if (ferror(f)) why = "I/O error";
            break;
        }
    }
    fclose(f);
    if (why) {
        free(buf);
        if (strcmp(why, "too large") == 0)
            snprintf(msg, len, "'%s' is larger than %zu bytes", path, max_bytes);
        else
            snprintf(msg, len, "cannot read '%s': %s", path, why);
        return -1;
    }
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return 0;
}

FILE *scl_atomic_open(const char *path, char **tmp_out, char *msg, size_t len)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    *tmp_out = NULL;
    if (!tmp) {
        snprintf(msg, len, "out of memory");
        return NULL;
    }
    /* mkstemp: a unique name per call, so threads of one process never share a temp file. */
    snprintf(tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        if (fd >= 0) close(fd), remove(tmp);
        snprintf(msg, len, "cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return NULL;
    }
    *tmp_out = tmp;
    return f;
}

int scl_atomic_close(FILE *f, char *tmp, const char *path, bool ok, char *msg, size_t len)
{
    int saved = 0;
    if (ok && (fflush(f) != 0 || ferror(f))) saved = errno, ok = false;
    if (ok) fsync(fileno(f)); /* best effort: rename must not expose data that is not on disk */
    if (fclose(f) != 0 && ok) saved = errno, ok = false;
    /* mkstemp makes the file 0600; give it the usual permissions before it becomes `path`. */
    if (ok) {
        mode_t mask = umask(0);
        umask(mask);
        chmod(tmp, 0666 & ~mask);
    }
    if (ok && rename(tmp, path) != 0) saved = errno, ok = false;
    if (!ok) {
        remove(tmp);
        if (saved) snprintf(msg, len, "cannot write '%s': %s", path, strerror(saved));
        else snprintf(msg, len, "cannot write '%s'", path);
    }
    free(tmp);
    return ok ? 0 : -1;
}

int scl_mkdirs(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

int scl_write_file_atomic(const char *path, const void *data, size_t size, char *msg, size_t len)
{
    char *tmp;
    FILE *f = scl_atomic_open(path, &tmp, msg, len);
    if (!f) return -1;
    bool ok = size == 0 || fwrite(data, 1, size, f) == size;
    return scl_atomic_close(f, tmp, path, ok, msg, len);
}

uint64_t scl_fnv1a64(const void *data, size_t len, uint64_t h)
{
    const uint8_t *p = data;
    for (size_t k = 0; k < len; k++) {
        h ^= p[k];
        h *= 0x100000001b3ULL;
    }
    return h;
}
