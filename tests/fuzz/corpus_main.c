/* Runs a libFuzzer entry point over corpus files or directories, so every build (gcc included)
 * exercises the fuzz targets on their seed corpus. Usage: fuzz_X_corpus PATH... */
#define _POSIX_C_SOURCE 200809L
#include "scl_fileio.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    unsigned char *buf;
    size_t n;
    char msg[512];
    if (scl_read_file(path, (size_t)1 << 30, &buf, &n, msg, sizeof msg) != 0) {
        fprintf(stderr, "%s\n", msg);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    long files = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) {
            fprintf(stderr, "no such corpus: %s\n", argv[a]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[a]) != 0) return 1;
            files++;
            continue;
        }
        DIR *d = opendir(argv[a]);
        if (!d) return 1;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            size_t len = strlen(argv[a]) + strlen(e->d_name) + 2;
            char *p = malloc(len);
            if (!p) return 1;
            snprintf(p, len, "%s/%s", argv[a], e->d_name);
            if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
                if (run_file(p) != 0) return 1;
                files++;
            }
            free(p);
        }
        closedir(d);
    }
    printf("ran %ld corpus inputs\n", files);
    return files > 0 ? 0 : 1;
}
