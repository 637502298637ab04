/* Writing whole files for the benchmark tests. */
#ifndef SCL_TEST_BENCH_FILES_H
#define SCL_TEST_BENCH_FILES_H

#include <stdio.h>

/* Text written whole (read back with test_util.h's read_file); 0, or -1 when it cannot be. */
static inline int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

#endif
