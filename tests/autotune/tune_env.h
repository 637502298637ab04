/* Set-up shared by the tuning tests: a short tuning run's options, and a sandbox of tuning
 * databases under the test's work folder. */
#ifndef SCL_TEST_TUNE_ENV_H
#define SCL_TEST_TUNE_ENV_H

#include "tuner.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* A local search of 3 points over the CPU-style space, d 32, blocks of 32, N 128, one head,
 * writing db_path. */
static inline at_tune_options short_tune(const char *db_path, int reps)
{
    at_tune_options o = {0};
    o.head_dim = 32;
    o.block = 32;
    o.dtype = SCL_F32;
    o.strategy = AT_LOCAL;
    o.max_evals = 3;
    o.seq = 128;
    o.heads = 1;
    o.reps = reps;
    o.db_path = db_path;
    o.family = 0;
    o.seed = 1;
    return o;
}

/* Only the databases the test writes: the user cache user = WORK/cache (its tuning folder
 * user_tuning), the shipped databases from shipped = WORK/shipped_name; each buffer len bytes. */
static inline void tuning_sandbox(const char *work, const char *shipped_name, char *user, char *shipped,
                                  char *user_tuning, size_t len)
{
    snprintf(user, len, "%s/cache", work);
    snprintf(shipped, len, "%s/%s", work, shipped_name);
    snprintf(user_tuning, len, "%.*s/tuning", (int)(len > 8 ? len - 8 : 0), user);
    mkdir(user, 0755);
    setenv("SPARSECL_CACHE_DIR", user, 1);
    setenv("SPARSECL_TUNING_DIR", shipped, 1);
    setenv("SPARSECL_SHIPPED_TUNING", "off", 1);
}

#endif
