/* Minimal test helpers shared by the test executables: count failures, print what failed. */
#ifndef SCL_TEST_CHECK_H
#define SCL_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failures = 0;
static int check_count = 0;

#define CHECK(cond, ...)                                                                                      \
    do {                                                                                                       \
        check_count++;                                                                                         \
        if (!(cond)) {                                                                                         \
            check_failures++;                                                                                  \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                    \
            fprintf(stderr, __VA_ARGS__);                                                                      \
            fputc('\n', stderr);                                                                               \
        }                                                                                                      \
    } while (0)

static inline int check_summary(const char *suite)
{
    printf("%s: %d checks, %d failed\n", suite, check_count, check_failures);
    return check_failures ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
