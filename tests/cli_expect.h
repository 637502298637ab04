/* Running the `sparsecl` binary from a test: exit code and output checks. The test sets cli_bin
 * (an absolute path) and cli_work (the directory the commands run in). Needs check.h first. */
#ifndef SCL_TEST_CLI_EXPECT_H
#define SCL_TEST_CLI_EXPECT_H

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static const char *cli_bin, *cli_work;

/* Runs the shell command cmd, captures its stdout into out (read and dropped when out is NULL),
 * returns the exit status. */
static inline int cli_sh(char *out, size_t len, const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    if (out) {
        size_t n = fread(out, 1, len - 1, p);
        out[n] = '\0';
    } else {
        char sink[4096];
        while (fread(sink, 1, sizeof sink, p) > 0) {
        }
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs "cli_bin ARGS" in cli_work with stderr going where redirect_stderr says, its stdout into
 * out; returns the exit status. */
static inline int cli_run_to(char *out, size_t len, const char *args, const char *redirect_stderr)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s %s", cli_work, cli_bin, args, redirect_stderr);
    return cli_sh(out, len, cmd);
}

/* Runs "cli_bin ARGS" in cli_work, captures stdout+stderr into out, returns the exit status. */
static int cli_run(char *out, size_t len, const char *args)
{
    return cli_run_to(out, len, args, "2>&1");
}

/* The same with stdout alone (stderr dropped): output a test parses. */
static inline int cli_run_stdout(char *out, size_t len, const char *args)
{
    return cli_run_to(out, len, args, "2>/dev/null");
}

static void cli_expect(int code, const char *needle, const char *args)
{
    char out[16384];
    int rc = cli_run(out, sizeof out, args);
    CHECK(rc == code, "sparsecl %s: exit %d, expected %d; output: %s", args, rc, code, out);
    CHECK(strstr(out, needle) != NULL, "sparsecl %s: output lacks '%s': %s", args, needle, out);
}

#endif
