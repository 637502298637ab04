/* Atomic output files (temp file + rename), so readers never see a half-written LUT or image. */
#define _POSIX_C_SOURCE 200809L
#include "spc_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

FILE *spc_atomic_open(const char *path, char **tmp_out, spc_error *err)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    *tmp_out = NULL;
    if (!tmp) {
        spc_set_error(err, 0, "out of memory");
        return NULL;
    }
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        spc_set_error(err, 0, "cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return NULL;
    }
    *tmp_out = tmp;
    return f;
}

int spc_atomic_close(FILE *f, char *tmp, const char *path, bool ok, spc_error *err)
{
    int saved = 0;
    if (ok && fflush(f) != 0) {
        saved = errno;
        ok = false;
    }
    if (ok) fsync(fileno(f)); /* best effort */
    if (fclose(f) != 0 && ok) {
        saved = errno;
        ok = false;
    }
    if (ok && rename(tmp, path) != 0) {
        saved = errno;
        ok = false;
    }
    if (!ok) {
        remove(tmp);
        if (saved)
            spc_set_error(err, 0, "cannot write '%s': %s", path, strerror(saved));
        else if (err && !err->message[0])
            spc_set_error(err, 0, "cannot write '%s'", path);
    }
    free(tmp);
    return ok ? 0 : -1;
}

uint64_t spc_fnv1a64(const void *data, size_t len, uint64_t h)
{
    const uint8_t *p = data;
    for (size_t k = 0; k < len; k++) {
        h ^= p[k];
        h *= 0x100000001b3ULL;
    }
    return h;
}
