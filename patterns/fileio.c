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

#define TMP_SUFFIX ".tmp.XXXXXX"

/* What an output path names today: the atomic replacement (temp file + rename) is only right for
 * a regular file or a new name. A symbolic link is followed: its target is replaced, the link
 * stays. Character devices (/dev/null, a terminal) and FIFOs are written through: renaming over
 * them would replace the node itself. Anything else (directory, block device, socket, dangling
 * link) is refused. Returns 0 with *target (malloc'ed: the file to replace, NULL to write through
 * `path`), or -1 with msg. */
static int output_target(const char *path, char **target, char *msg, size_t len)
{
    struct stat st;
    *target = NULL;
    if (lstat(path, &st) != 0) {
        if (errno != ENOENT) {
            snprintf(msg, len, "cannot write '%s': %s", path, strerror(errno));
            return -1;
        }
        *target = strdup(path); /* a new file */
    } else {
        bool link = S_ISLNK(st.st_mode);
        if (link && stat(path, &st) != 0) {
            snprintf(msg, len, "cannot write '%s': a symbolic link to nothing (%s)", path, strerror(errno));
            return -1;
        }
        if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) return 0;
        if (!S_ISREG(st.st_mode)) {
            snprintf(msg, len, "cannot write '%s': %s", path,
                     S_ISDIR(st.st_mode) ? "it is a directory"
                                         : "not a regular file, character device or FIFO");
            return -1;
        }
        *target = link ? realpath(path, NULL) : strdup(path);
    }
    if (!*target) {
        snprintf(msg, len, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

FILE *scl_atomic_open(const char *path, char **tmp_out, char *msg, size_t len)
{
    char *target;
    *tmp_out = NULL;
    if (output_target(path, &target, msg, len) != 0) return NULL;
    if (!target) { /* write through: no temp file, nothing to rename */
        FILE *f = fopen(path, "wb");
        if (!f) snprintf(msg, len, "cannot write '%s': %s", path, strerror(errno));
        return f;
    }
    size_t n = strlen(target) + sizeof TMP_SUFFIX;
    char *tmp = malloc(n);
    if (!tmp) {
        free(target);
        snprintf(msg, len, "out of memory");
        return NULL;
    }
    /* mkstemp: a unique name per call, so threads of one process never share a temp file. The
     * temp file sits beside the file it replaces (a link's target), so the rename stays within
     * one file system and scl_atomic_close finds the target by dropping the suffix. */
    snprintf(tmp, n, "%s" TMP_SUFFIX, target);
    free(target);
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
    int saved = !ok && ferror(f) ? errno : 0; /* a failed fwrite of the caller's: why, best effort */
    if (ok && (fflush(f) != 0 || ferror(f))) saved = errno ? errno : EIO, ok = false;
    if (!tmp) { /* written through (a device or FIFO): every write error is still an error */
        if (fclose(f) != 0 && ok) saved = errno, ok = false;
        if (!ok) {
            if (saved)
                snprintf(msg, len, "cannot write '%s': %s", path, strerror(saved));
            else
                snprintf(msg, len, "cannot write '%s'", path);
        }
        return ok ? 0 : -1;
    }
    if (ok) fsync(fileno(f)); /* best effort: rename must not expose data that is not on disk */
    if (fclose(f) != 0 && ok) saved = errno, ok = false;
    /* mkstemp makes the file 0600; give it the usual permissions before it becomes `path`. */
    if (ok) {
        mode_t mask = umask(0);
        umask(mask);
        chmod(tmp, 0666 & ~mask);
    }
    if (ok) {
        size_t n = strlen(tmp) - (sizeof TMP_SUFFIX - 1);
        char *target = malloc(n + 1);
        if (target) {
            memcpy(target, tmp, n);
            target[n] = '\0';
        }
        if (!target || rename(tmp, target) != 0) saved = target ? errno : ENOMEM, ok = false;
        free(target);
    }
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
