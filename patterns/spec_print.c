/* The normalised text of a parsed spec: one spelling per pattern (the plan cache and messages
 * key on it), with only the parentheses the operators' precedence needs. */
#include "spc_internal.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = true;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 64) + (size_t)k;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
}

static void print_ranges(sbuf *b, const spc_range *r, int n)
{
    for (int i = 0; i < n; i++) {
        if (i) sb_printf(b, ", ");
        if (r[i].lo == r[i].hi)
            sb_printf(b, "%lld", (long long)r[i].lo);
        else
            sb_printf(b, "%lld-%lld", (long long)r[i].lo, (long long)r[i].hi);
    }
}

static void print_node(sbuf *b, const spc_node *n, int parent_prec)
{
    switch (n->kind) {
    case K_OR:
    case K_AND: {
        int prec = n->kind == K_OR ? 1 : 2;
        if (prec < parent_prec) sb_printf(b, "(");
        print_node(b, n->a, prec);
        sb_printf(b, n->kind == K_OR ? " | " : " & ");
        print_node(b, n->b, prec + 1); /* operators are left-associative */
        if (prec < parent_prec) sb_printf(b, ")");
        return;
    }
    case K_HEADS:
        sb_printf(b, "heads(");
        for (int i = 0; i < n->n_clauses; i++) {
            if (i) sb_printf(b, "; ");
            print_ranges(b, n->clauses[i].ranges, n->clauses[i].n_ranges);
            sb_printf(b, ": ");
            print_node(b, n->clauses[i].spec, 0);
        }
        sb_printf(b, ")");
        return;
    case K_LAYOUT:
        sb_printf(b, "layout(%s)", n->path);
        return;
    case K_GLOBAL:
        sb_printf(b, "global(");
        print_ranges(b, n->ranges, n->n_ranges);
        sb_printf(b, ")");
        return;
    case K_LONGFORMER:
        sb_printf(b, "longformer(%lld", (long long)n->p[0]);
        if (n->n_ranges) sb_printf(b, ", ");
        print_ranges(b, n->ranges, n->n_ranges);
        sb_printf(b, ")");
        return;
    default:
        break;
    }
    int nargs = 0;
    const char *name = spc_kind_name(n->kind, &nargs);
    if (!name) return;
    sb_printf(b, "%s", name);
    if (nargs > 0) {
        sb_printf(b, "(");
        for (int i = 0; i < nargs; i++)
            sb_printf(b, i ? ", %lld" : "%lld", (long long)n->p[i]);
        sb_printf(b, ")");
    }
}

char *spc_node_text(const spc_node *root)
{
    sbuf b = {0};
    print_node(&b, root, 0);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
