/* Tiny check helpers shared by the pattern and .npy tests: every check is counted, failures print
 * what was expected and what was seen, and main() returns non-zero if any check failed. */
#ifndef SCL_TEST_COMMON_H
#define SCL_TEST_COMMON_H

#include <stdio.h>
#include <string.h>

static long g_checks, g_failures;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        g_checks++;                                                                                          \
        if (!(cond)) {                                                                                       \
            g_failures++;                                                                                    \
            if (g_failures <= 50) {                                                                          \
                fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                              \
                fprintf(stderr, __VA_ARGS__);                                                                \
                fputc('\n', stderr);                                                                         \
            }                                                                                                \
        }                                                                                                    \
    } while (0)

/* Run one group of checks and say how it went. */
#define RUN(fn)                                                                                              \
    do {                                                                                                     \
        long c0 = g_checks, f0 = g_failures;                                                                 \
        fn();                                                                                                \
        printf("%-28s %6ld checks, %ld failures\n", #fn, g_checks - c0, g_failures - f0);                    \
    } while (0)

static int test_summary(const char *name)
{
    printf("%s: %ld checks, %ld failures\n", name, g_checks, g_failures);
    return g_failures ? 1 : 0;
}

#endif
