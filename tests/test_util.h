/* Helpers shared by the test executables: one reproducible random stream, whole-file reads and
 * the command line of a test (its argument count, the absolute path of the binary it runs). */
#ifndef SCL_TEST_UTIL_H
#define SCL_TEST_UTIL_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Uniform in [-1, 1) from xorshift64, the same stream (from the same seed) in every test. */
static inline float frand(void)
{
    static uint64_t state = 0x9e3779b97f4a7c15ULL;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (float)((state >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
}

/* The file's bytes, NUL-terminated (caller frees), or NULL; *len (when given) their count. */
static inline char *read_file(const char *path, size_t *len)
{
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    size_t got = s ? fread(s, 1, (size_t)n, f) : 0;
    if (s) s[got] = '\0';
    if (len) *len = got;
    fclose(f);
    return s;
}

/* Exits with status 2 and the usage line unless the test has exactly want arguments. */
static inline void test_args(int argc, int want, const char *usage)
{
    if (argc == want + 1) return;
    fprintf(stderr, "usage: %s\n", usage);
    exit(2);
}

/* The absolute path of path (the binary a test runs from its own directory), or exit status 2. */
static inline const char *test_abs_path(const char *test, const char *path)
{
    static char abs[PATH_MAX];
    if (realpath(path, abs)) return abs;
    fprintf(stderr, "%s: cannot resolve %s\n", test, path);
    exit(2);
}

#endif
