/* On-disk cache of program binaries.
 * Entry file: "SCLBIN01" | u64 key length | u64 payload length | u64 FNV-1a of key+payload |
 * key bytes | payload. A file that is short, has another key (hash collision) or a wrong
 * checksum is treated as absent and removed. Writes go to a temp file renamed into place. */
#include "internal.h"

#include "scl_fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char MAGIC[8] = {'S', 'C', 'L', 'B', 'I', 'N', '0', '1'};

void scli_cache_default_dir(char *out, size_t len)
{
    const char *env = getenv("SPARSECL_CACHE_DIR");
    if (env && *env) {
        snprintf(out, len, "%s", strcmp(env, "off") == 0 ? "" : env);
        return;
    }
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg) {
        snprintf(out, len, "%s/sparsecl", xdg);
        return;
    }
    const char *home = getenv("HOME");
    if (home && *home) snprintf(out, len, "%s/.cache/sparsecl", home);
    else out[0] = '\0';
}

static void entry_path(const char *dir, const char *key, char *out, size_t len)
{
    snprintf(out, len, "%s/%016llx.bin", dir, (unsigned long long)scl_fnv1a64(key, strlen(key), SCL_FNV_OFFSET));
}

static uint64_t entry_checksum(const char *key, size_t key_len, const unsigned char *bin, size_t size)
{
    return scl_fnv1a64(bin, size, scl_fnv1a64(key, key_len, SCL_FNV_OFFSET));
}

unsigned char *scli_cache_load(const char *dir, const char *key, size_t *size)
{
    if (!dir || !*dir) return NULL;
    char path[1400];
    entry_path(dir, key, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char magic[8];
    uint64_t hdr[3];
    unsigned char *bin = NULL;
    char *stored_key = NULL;
    bool ok = fread(magic, 1, 8, f) == 8 && memcmp(magic, MAGIC, 8) == 0 && fread(hdr, sizeof hdr, 1, f) == 1;
    size_t key_len = strlen(key);
    ok = ok && hdr[0] == key_len && hdr[1] > 0 && hdr[1] < ((uint64_t)1 << 32);
    if (ok) {
        stored_key = malloc(key_len + 1);
        bin = malloc((size_t)hdr[1]);
        ok = stored_key && bin && fread(stored_key, 1, key_len, f) == key_len &&
             memcmp(stored_key, key, key_len) == 0 && fread(bin, 1, (size_t)hdr[1], f) == hdr[1] &&
             fgetc(f) == EOF && entry_checksum(key, key_len, bin, (size_t)hdr[1]) == hdr[2];
    }
    fclose(f);
    free(stored_key);
    if (!ok) {
        free(bin);
        remove(path); /* corrupt or foreign: rebuild and rewrite */
        return NULL;
    }
    *size = (size_t)hdr[1];
    return bin;
}

bool scli_cache_store(const char *dir, const char *key, const unsigned char *bin, size_t size, char *msg,
                     size_t msg_len)
{
    if (!dir || !*dir) return true;
    if (scl_mkdirs(dir) != 0) {
        snprintf(msg, msg_len, "cannot create cache directory %s: %s", dir, strerror(errno));
        return false;
    }
    char path[1400], *tmp;
    entry_path(dir, key, path, sizeof path);
    FILE *f = scl_atomic_open(path, &tmp, msg, msg_len);
    if (!f) return false;
    size_t key_len = strlen(key);
    uint64_t hdr[3] = {key_len, size, entry_checksum(key, key_len, bin, size)};
    bool ok = fwrite(MAGIC, 1, 8, f) == 8 && fwrite(hdr, sizeof hdr, 1, f) == 1 &&
              fwrite(key, 1, key_len, f) == key_len && fwrite(bin, 1, size, f) == size;
    if (scl_atomic_close(f, tmp, path, ok, msg, msg_len) != 0) return false;
    return true;
}
