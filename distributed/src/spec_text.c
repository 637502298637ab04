/* Spec text transformations the distributed plans need: a per-head spec restricted to the heads
 * one rank computes, and whether a spec's predicate depends on i - j only. They work on the text
 * (after the core's parser has accepted it) so the pattern compiler stays untouched. */
#include "mpi_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out_buf {
    char *s;
    size_t len, cap;
    int bad;
} out_buf;

static void put(out_buf *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        o->bad = 1;
        return;
    }
    memcpy(o->s + o->len, s, n);
    o->len += n;
    o->s[o->len] = '\0';
}

static void slice(const char *s, size_t n, int h0, int hn, out_buf *o);

/* The end of a clause body: the first ';' or ')' at depth 0 (quoted layout paths skipped). */
static size_t body_end(const char *s, size_t n)
{
    int depth = 0, quote = 0;
    for (size_t i = 0; i < n; i++) {
        if (quote) {
            quote = s[i] != '"';
            continue;
        }
        if (s[i] == '"')
            quote = 1;
        else if (s[i] == '(')
            depth++;
        else if (s[i] == ')' && depth-- == 0)
            return i;
        else if (s[i] == ';' && depth == 0)
            return i;
    }
    return n;
}

/* heads(...) starting at the '(' in s: rewrite every clause's ranges into [0, hn) after the shift
 * by h0, drop clauses left with no head. Returns the characters consumed (through ')'). */
static size_t slice_heads(const char *s, size_t n, int h0, int hn, out_buf *o)
{
    size_t i = 1;
    int clauses = 0;
    put(o, "heads(", 6);
    while (i < n && s[i] != ')') {
        char ranges[512] = "";
        size_t rl = 0;
        while (i < n && s[i] != ':') { /* "a-b, c" */
            while (i < n && (isspace((unsigned char)s[i]) || s[i] == ','))
                i++;
            if (i >= n || s[i] == ':') break;
            char *e;
            long a = strtol(s + i, &e, 10), b = a;
            i = (size_t)(e - s);
            while (i < n && isspace((unsigned char)s[i]))
                i++;
            if (i < n && s[i] == '-') b = strtol(s + i + 1, &e, 10), i = (size_t)(e - s);
            long lo = a > h0 ? a : h0, hi = b < h0 + hn - 1 ? b : h0 + hn - 1;
            if (lo <= hi && rl < sizeof ranges - 48)
                rl += (size_t)snprintf(ranges + rl, sizeof ranges - rl, "%s%ld-%ld", rl ? "," : "", lo - h0,
                                       hi - h0);
        }
        if (i >= n) {
            o->bad = 1;
            return n;
        }
        for (i++; i < n && isspace((unsigned char)s[i]); i++) {
        } /* ':' and the blanks after it */
        size_t e = i + body_end(s + i, n - i);
        if (rl) {
            if (clauses++) put(o, "; ", 2);
            put(o, ranges, rl);
            put(o, ": ", 2);
            slice(s + i, e - i, h0, hn, o);
        }
        i = e < n && s[e] == ';' ? e + 1 : e;
        while (i < n && isspace((unsigned char)s[i]))
            i++;
    }
    if (!clauses) o->bad = 1;
    put(o, ")", 1);
    return i < n ? i + 1 : n;
}

static void slice(const char *s, size_t n, int h0, int hn, out_buf *o)
{
    for (size_t i = 0; i < n && !o->bad;) {
        if (s[i] == '"') { /* a quoted path: copied as it is */
            size_t j = i + 1;
            while (j < n && s[j] != '"')
                j++;
            put(o, s + i, j < n ? j - i + 1 : n - i);
            i = j + 1;
            continue;
        }
        if (n - i >= 5 && strncmp(s + i, "heads", 5) == 0 && (i == 0 || !isalnum((unsigned char)s[i - 1]))) {
            size_t j = i + 5;
            while (j < n && isspace((unsigned char)s[j]))
                j++;
            if (j < n && s[j] == '(') {
                i = j + slice_heads(s + j, n - j, h0, hn, o);
                continue;
            }
        }
        put(o, s + i, 1);
        i++;
    }
}

int smpi_slice_heads(const char *spec, int h0, int hn, char *out, size_t out_len)
{
    out_buf o = {out, 0, out_len, 0};
    if (!out_len) return -1;
    out[0] = '\0';
    slice(spec, strlen(spec), h0, hn, &o);
    return o.bad ? -1 : 0;
}

/* dense, causal, local, strided and dilated are functions of i - j alone, and so are their unions,
 * intersections and per-head choices; every other primitive names absolute positions or blocks. */
int smpi_shift_invariant(const char *spec)
{
    static const char *ok[] = {"dense", "causal", "local", "strided", "dilated", "heads"};
    for (const char *s = spec; *s;) {
        if (!isalpha((unsigned char)*s)) {
            s++;
            continue;
        }
        const char *w = s;
        while (isalnum((unsigned char)*s) || *s == '_')
            s++;
        int good = 0;
        for (size_t k = 0; k < sizeof ok / sizeof *ok; k++)
            good |= strlen(ok[k]) == (size_t)(s - w) && strncmp(w, ok[k], (size_t)(s - w)) == 0;
        if (!good) return 0;
    }
    return 1;
}
