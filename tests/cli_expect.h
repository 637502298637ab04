/* Running the `sparsecl` binary from a test: exit code and output checks. The test sets cli_bin
 * (an absolute path) and cli_work (the directory the commands run in). Needs check.h first. */
#ifndef SCL_TEST_CLI_EXPECT_H
#define SCL_TEST_CLI_EXPECT_H

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static const char *cli_bin, *cli_work;

/* Runs "cli_bin ARGS" in cli_work, captures stdout+stderr into out, returns the exit status. */
static int cli_run(char *out, size_t len, const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s 2>&1", cli_work, cli_bin, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cli_expect(int code, const char *needle, const char *args)
{
    char out[16384];
    int rc = cli_run(out, sizeof out, args);
    CHECK(rc == code, "sparsecl %s: exit %d, expected %d; output: %s", args, rc, code, out);
    CHECK(strstr(out, needle) != NULL, "sparsecl %s: output lacks '%s': %s", args, needle, out);
}

#endif
