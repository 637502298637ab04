/* Kernel sources: the embedded copies, or files under $SPARSECL_KERNEL_DIR for development.
 * `#include "name.clh"` lines are expanded here (not by the OpenCL compiler) so embedded sources
 * need no include path and the source hash covers everything the compiler sees. */
#include "internal.h"

#include "scl_fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct scl_embedded_kernel {
    const char *name;
    const char *text;
    size_t size;
};
extern const struct scl_embedded_kernel scl_embedded_kernels[];

const char *scli_kernel_file_name(int i)
{
    for (int k = 0; k <= i; k++)
        if (!scl_embedded_kernels[k].name) return NULL;
    return scl_embedded_kernels[i].name;
}

/* Raw text of one file (malloc'ed), from disk or the embedded table. */
static char *raw_source(const char *file, char *msg, size_t msg_len)
{
    const char *dir = getenv("SPARSECL_KERNEL_DIR");
    if (dir && *dir) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        unsigned char *text;
        size_t n;
        char why[600];
        if (scl_read_file(path, (size_t)16 << 20, &text, &n, why, sizeof why) != 0) {
            snprintf(msg, msg_len, "kernel source (SPARSECL_KERNEL_DIR=%s): %s", dir, why);
            return NULL;
        }
        return (char *)text;
    }
    for (int i = 0; scl_embedded_kernels[i].name; i++) {
        if (strcmp(scl_embedded_kernels[i].name, file) != 0) continue;
        char *copy = malloc(scl_embedded_kernels[i].size + 1);
        if (!copy) {
            snprintf(msg, msg_len, "out of host memory");
            return NULL;
        }
        memcpy(copy, scl_embedded_kernels[i].text, scl_embedded_kernels[i].size + 1);
        return copy;
    }
    snprintf(msg, msg_len, "no kernel source named '%s' is embedded in this build", file);
    return NULL;
}

typedef struct strbuf {
    char *p;
    size_t len, cap;
} strbuf;

static bool sb_append(strbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

static bool expand(const char *file, strbuf *out, int depth, char *msg, size_t msg_len)
{
    if (depth > 8) {
        snprintf(msg, msg_len, "kernel include nesting too deep at %s", file);
        return false;
    }
    char *text = raw_source(file, msg, msg_len);
    if (!text) return false;
    bool ok = true;
    const char *line = text;
    while (ok && *line) {
        const char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) + 1 : strlen(line);
        const char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        char inc[256];
        if (strncmp(s, "#include \"", 10) == 0 && sscanf(s + 10, "%255[^\"]", inc) == 1) {
            ok = expand(inc, out, depth + 1, msg, msg_len) && sb_append(out, "\n", 1);
        } else {
            ok = sb_append(out, line, n);
        }
        line += n;
    }
    free(text);
    if (!ok && !msg[0]) snprintf(msg, msg_len, "out of host memory");
    return ok;
}

char *scli_kernel_source_load(const char *file, char *msg, size_t msg_len)
{
    strbuf b = {0};
    msg[0] = '\0';
    if (!expand(file, &b, 0, msg, msg_len)) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
