/* Spec language parser: one line of text -> parse tree. Recursive descent over the grammar in
 * patterns/README.md; every error names the 1-based column of the offending token. */
#include "spc_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Specs are one line; this bounds recursion depth and every column number. SPEC_MAX_DEPTH bounds
 * the depth of the parse tree itself (operator chains, parentheses and heads() nesting alike): every
 * walk over the parse and bound trees (bind, classify, candidates, decompose, free) recurses on it. */
#define SPEC_MAX_LEN 65536
#define SPEC_MAX_DEPTH 200

typedef enum tok_kind {
    T_EOF,
    T_IDENT,
    T_INT,
    T_LP,
    T_RP,
    T_COMMA,
    T_OR,
    T_AND,
    T_COLON,
    T_SEMI,
    T_MINUS,
    T_EQ,
    T_BAD
} tok_kind;

typedef struct token {
    tok_kind kind;
    int column; /* 1-based */
    size_t pos, len;
    int64_t value; /* T_INT */
    bool too_big;  /* T_INT beyond SPC_INT_MAX */
} token;

typedef struct parser {
    const char *s;
    size_t pos;
    token tok;
    int depth;
    spc_error *err;
    bool failed;
} parser;

void spc_set_error(spc_error *err, int column, const char *fmt, ...)
{
    if (!err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->column = column;
}

void spc_clear_error(spc_error *err)
{
    if (!err) return;
    err->message[0] = '\0';
    err->column = 0;
}

static const char *tok_name(tok_kind k)
{
    static const char *const names[] = {
        [T_EOF] = "end of spec", [T_IDENT] = "name", [T_INT] = "integer", [T_LP] = "'('",
        [T_RP] = "')'",          [T_COMMA] = "','",  [T_OR] = "'|'",      [T_AND] = "'&'",
        [T_COLON] = "':'",       [T_SEMI] = "';'",   [T_MINUS] = "'-'",   [T_EQ] = "'='",
    };
    return (size_t)k < sizeof names / sizeof names[0] && names[k] ? names[k] : "character";
}

static void fail(parser *p, int column, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void fail(parser *p, int column, const char *fmt, ...)
{
    if (p->failed) return; /* keep the first, most precise error */
    p->failed = true;
    if (!p->err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message, sizeof p->err->message, fmt, ap);
    va_end(ap);
    p->err->column = column;
}

static void next(parser *p)
{
    const char *s = p->s;
    while (s[p->pos] == ' ' || s[p->pos] == '\t')
        p->pos++;
    token t = {T_EOF, (int)p->pos + 1, p->pos, 0, 0, false};
    unsigned char c = (unsigned char)s[p->pos];
    if (c == '\0') {
        p->tok = t;
        return;
    }
    if (isalpha(c) || c == '_') {
        size_t e = p->pos;
        while (isalnum((unsigned char)s[e]) || s[e] == '_')
            e++;
        t.kind = T_IDENT;
        t.len = e - p->pos;
    } else if (isdigit(c)) {
        size_t e = p->pos;
        int64_t v = 0;
        while (isdigit((unsigned char)s[e])) {
            if (v <= SPC_INT_MAX) v = v * 10 + (s[e] - '0');
            e++;
        }
        t.kind = T_INT;
        t.len = e - p->pos;
        t.value = v;
        t.too_big = v > SPC_INT_MAX;
    } else {
        t.len = 1;
        switch (c) {
        case '(':
            t.kind = T_LP;
            break;
        case ')':
            t.kind = T_RP;
            break;
        case ',':
            t.kind = T_COMMA;
            break;
        case '|':
            t.kind = T_OR;
            break;
        case '&':
            t.kind = T_AND;
            break;
        case ':':
            t.kind = T_COLON;
            break;
        case ';':
            t.kind = T_SEMI;
            break;
        case '-':
            t.kind = T_MINUS;
            break;
        case '=':
            t.kind = T_EQ;
            break;
        default:
            t.kind = T_BAD;
            break;
        }
    }
    p->pos += t.len;
    p->tok = t;
}

static bool expect(parser *p, tok_kind k, const char *context)
{
    if (p->tok.kind == k) {
        next(p);
        return true;
    }
    if (p->tok.kind == T_BAD)
        fail(p, p->tok.column, "unexpected character '%c' %s", p->s[p->tok.pos], context);
    else
        fail(p, p->tok.column, "expected %s %s, found %s", tok_name(k), context, tok_name(p->tok.kind));
    return false;
}

static spc_node *new_node(parser *p, spc_kind kind, int column)
{
    spc_node *n = calloc(1, sizeof *n);
    if (!n) {
        fail(p, column, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->column = column;
    n->depth = 1;
    return n;
}

/* Sets n's depth from its children; false (and the error) when the tree gets too deep. */
static bool set_depth(parser *p, spc_node *n, int child_depth)
{
    n->depth = child_depth + 1;
    if (n->depth <= SPEC_MAX_DEPTH) return true;
    fail(p, n->column,
         "spec is nested too deeply (more than %d levels; each '|' or '&' of a chain and each heads() "
         "counts one)",
         SPEC_MAX_DEPTH);
    return false;
}

void spc_node_free(spc_node *n)
{
    if (!n) return;
    spc_node_free(n->a);
    spc_node_free(n->b);
    for (int i = 0; i < n->n_clauses; i++) {
        free(n->clauses[i].ranges);
        spc_node_free(n->clauses[i].spec);
    }
    free(n->clauses);
    free(n->ranges);
    free(n->path);
    spc_memlayout_free(n->mem);
    free(n);
}

/* A non-negative integer argument. */
static bool parse_int(parser *p, int64_t *out, const char *what)
{
    if (p->tok.kind == T_MINUS) {
        fail(p, p->tok.column, "%s must be non-negative", what);
        return false;
    }
    if (p->tok.kind != T_INT) {
        if (p->tok.kind == T_BAD)
            fail(p, p->tok.column, "unexpected character '%c' where %s (an integer) was expected",
                 p->s[p->tok.pos], what);
        else
            fail(p, p->tok.column, "expected %s (an integer), found %s", what, tok_name(p->tok.kind));
        return false;
    }
    if (p->tok.too_big) {
        fail(p, p->tok.column, "%s is too large (at most %lld)", what, (long long)SPC_INT_MAX);
        return false;
    }
    *out = p->tok.value;
    next(p);
    return true;
}

/* INT or INT-INT (inclusive). */
static bool parse_range(parser *p, spc_range *r, const char *what)
{
    int col = p->tok.column;
    if (!parse_int(p, &r->lo, what)) return false;
    r->hi = r->lo;
    if (p->tok.kind == T_MINUS) {
        next(p);
        if (!parse_int(p, &r->hi, what)) return false;
        if (r->hi < r->lo) {
            fail(p, col, "range %lld-%lld is empty (the end is before the start)", (long long)r->lo,
                 (long long)r->hi);
            return false;
        }
    }
    return true;
}

static bool push_range(parser *p, spc_range **v, int *n, spc_range r)
{
    if (*n >= 1 << 20) {
        fail(p, p->tok.column, "too many ranges");
        return false;
    }
    if ((*n & (*n - 1)) == 0) { /* grow at powers of two */
        spc_range *nv = realloc(*v, sizeof **v * (size_t)(*n ? 2 * *n : 1));
        if (!nv) {
            fail(p, p->tok.column, "out of memory");
            return false;
        }
        *v = nv;
    }
    (*v)[(*n)++] = r;
    return true;
}

static spc_node *parse_or(parser *p);

typedef struct prim_info {
    const char *name;
    spc_kind kind;
    int nargs; /* fixed count, or -1 for lists */
    const char *signature;
} prim_info;

static const prim_info PRIMS[] = {
    {"dense", K_DENSE, 0, "dense"},
    {"causal", K_CAUSAL, 0, "causal"},
    {"local", K_LOCAL, 1, "local(w)"},
    {"strided", K_STRIDED, 1, "strided(l)"},
    {"fixed", K_FIXED, 2, "fixed(l, c)"},
    {"dilated", K_DILATED, 2, "dilated(w, d)"},
    {"global", K_GLOBAL, -1, "global(t1, t2, ...)"},
    {"longformer", K_LONGFORMER, -1, "longformer(w, t1, ...)"},
    {"bigbird", K_BIGBIRD, 4, "bigbird(window, globals, randoms, seed)"},
    {"layout", K_LAYOUT, -1, "layout(path.npy)"},
    {"heads", K_HEADS, -1, "heads(0-3: spec; 4-7: spec)"},
};

static const char *const ARG_NAMES[][4] = {
    [K_LOCAL] = {"w"},
    [K_STRIDED] = {"l"},
    [K_FIXED] = {"l", "c"},
    [K_DILATED] = {"w", "d"},
    [K_BIGBIRD] = {"window", "globals", "randoms", "seed"},
};

/* layout(path): the path is raw text up to the closing parenthesis, or a quoted string. */
static bool parse_path(parser *p, spc_node *n)
{
    const char *s = p->s;
    size_t i = p->tok.pos; /* current token starts the path (the lexer already skipped spaces) */
    size_t start, end;
    int col = (int)i + 1;
    if (s[i] == '"' || s[i] == '\'') {
        char q = s[i];
        start = i + 1;
        end = start;
        while (s[end] && s[end] != q)
            end++;
        if (!s[end]) {
            fail(p, col, "unterminated quoted path in layout()");
            return false;
        }
        p->pos = end + 1;
    } else {
        start = i;
        end = i;
        while (s[end] && s[end] != ')')
            end++;
        p->pos = end;
        while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
            end--;
    }
    if (end == start) {
        fail(p, col, "layout() needs a path to a .npy file");
        return false;
    }
    n->path = malloc(end - start + 1);
    if (!n->path) {
        fail(p, col, "out of memory");
        return false;
    }
    memcpy(n->path, s + start, end - start);
    n->path[end - start] = '\0';
    next(p);
    return expect(p, T_RP, "after the layout() path");
}

static bool parse_heads(parser *p, spc_node *n)
{
    for (;;) {
        if (p->tok.kind == T_RP && n->n_clauses > 0) break; /* trailing ';' */
        spc_clause c = {NULL, 0, p->tok.column, NULL};
        for (;;) {
            spc_range r;
            if (!parse_range(p, &r, "head index") || !push_range(p, &c.ranges, &c.n_ranges, r)) {
                free(c.ranges);
                return false;
            }
            if (p->tok.kind != T_COMMA) break;
            next(p);
        }
        if (!expect(p, T_COLON, "after the head range in heads()")) {
            free(c.ranges);
            return false;
        }
        c.spec = parse_or(p);
        if (!c.spec) {
            free(c.ranges);
            return false;
        }
        if ((n->n_clauses & (n->n_clauses - 1)) == 0) {
            spc_clause *nc = realloc(n->clauses, sizeof *nc * (size_t)(n->n_clauses ? 2 * n->n_clauses : 1));
            if (!nc) {
                free(c.ranges);
                spc_node_free(c.spec);
                fail(p, c.column, "out of memory");
                return false;
            }
            n->clauses = nc;
        }
        n->clauses[n->n_clauses++] = c;
        if (c.spec->depth >= n->depth && !set_depth(p, n, c.spec->depth)) return false;
        if (p->tok.kind == T_SEMI) {
            next(p);
            continue;
        }
        break;
    }
    return expect(p, T_RP, "to close heads() (clauses are separated by ';')");
}

/* The primitive named by the current token, or NULL (error set). */
static const prim_info *lookup_primitive(parser *p)
{
    token name = p->tok;
    if (name.kind != T_IDENT) {
        if (name.kind == T_BAD)
            fail(p, name.column, "unexpected character '%c'", p->s[name.pos]);
        else
            fail(p, name.column, "expected a pattern name or '(', found %s", tok_name(name.kind));
        return NULL;
    }
    for (size_t k = 0; k < sizeof PRIMS / sizeof PRIMS[0]; k++)
        if (strlen(PRIMS[k].name) == name.len && memcmp(PRIMS[k].name, p->s + name.pos, name.len) == 0)
            return &PRIMS[k];
    fail(p, name.column,
         "unknown pattern '%.*s' (expected dense, causal, local, strided, fixed, dilated, global, "
         "longformer, bigbird, layout or heads)",
         (int)(name.len > 40 ? 40 : name.len), p->s + name.pos);
    return NULL;
}

/* global(t, a-b, ...) and longformer(w, t, ...): after the '('. */
static bool parse_token_list(parser *p, const prim_info *info, spc_node *n, int column)
{
    bool first = true;
    while (!(info->kind == K_GLOBAL && first && p->tok.kind == T_RP)) {
        if (info->kind == K_LONGFORMER && first) {
            if (!parse_int(p, &n->p[0], "longformer() window w")) return false;
            n->np = 1;
        } else {
            /* DESIGN.md spells longformer's globals as `global=0,5,9`; accept that prefix. */
            if (info->kind == K_LONGFORMER && p->tok.kind == T_IDENT && p->tok.len == 6 &&
                memcmp(p->s + p->tok.pos, "global", 6) == 0) {
                next(p);
                if (!expect(p, T_EQ, "after 'global' in longformer()")) return false;
            }
            spc_range r;
            if (!parse_range(p, &r, "global token") || !push_range(p, &n->ranges, &n->n_ranges, r))
                return false;
        }
        first = false;
        if (p->tok.kind != T_COMMA) break;
        next(p);
    }
    if (!expect(p, T_RP, info->kind == K_GLOBAL ? "to close global()" : "to close longformer()"))
        return false;
    if (info->kind == K_GLOBAL && n->n_ranges == 0) {
        fail(p, column, "global() needs at least one token index or range");
        return false;
    }
    return true;
}

/* The value constraints of the fixed-arity primitives, each error at its argument's column. */
static void check_arguments(parser *p, const spc_node *n, const int arg_col[4])
{
    switch (n->kind) {
    case K_STRIDED:
        if (n->p[0] == 0) fail(p, arg_col[0], "strided() stride l must be at least 1");
        break;
    case K_FIXED:
        if (n->p[0] == 0)
            fail(p, arg_col[0], "fixed() stride l must be at least 1");
        else if (n->p[1] > n->p[0])
            fail(p, arg_col[1], "fixed() summary width c=%lld must not exceed the stride l=%lld",
                 (long long)n->p[1], (long long)n->p[0]);
        break;
    case K_DILATED:
        if (n->p[1] == 0) fail(p, arg_col[1], "dilated() dilation d must be at least 1");
        break;
    default:
        break;
    }
}

/* Fixed-arity primitives, after the '(': the arguments are counted first so that arity errors
 * point at the name. */
static bool parse_fixed_args(parser *p, const prim_info *info, spc_node *n, int column)
{
    int got = 0;
    int arg_col[4] = {0};
    if (p->tok.kind != T_RP) {
        for (;;) {
            int64_t v;
            int col = p->tok.column;
            const char *an = got < info->nargs && got < 4 ? ARG_NAMES[info->kind][got] : "argument";
            char what[96];
            snprintf(what, sizeof what, "%s() argument %s", info->name, an ? an : "argument");
            if (!parse_int(p, &v, what)) return false;
            if (got < 4) {
                n->p[got] = v;
                arg_col[got] = col;
            }
            got++;
            if (p->tok.kind != T_COMMA) break;
            next(p);
        }
    }
    if (!expect(p, T_RP, "to close the argument list")) return false;
    if (got != info->nargs) {
        if (info->kind == K_BIGBIRD && got == 3)
            fail(p, column,
                 "bigbird() takes 4 arguments (window, globals, randoms, seed), got 3: the seed is missing");
        else
            fail(p, column, "%s() takes %d argument%s, got %d (usage: %s)", info->name, info->nargs,
                 info->nargs == 1 ? "" : "s", got, info->signature);
        return false;
    }
    n->np = got;
    check_arguments(p, n, arg_col);
    return !p->failed;
}

static spc_node *parse_primitive(parser *p)
{
    const int column = p->tok.column;
    const prim_info *info = lookup_primitive(p);
    if (!info) return NULL;
    next(p);
    spc_node *n = new_node(p, info->kind, column);
    if (!n) return NULL;
    if (p->tok.kind != T_LP) {
        if (info->nargs == 0) return n;
        if (info->kind == K_BIGBIRD)
            fail(p, column, "bigbird() takes 4 arguments (window, globals, randoms, seed), got none");
        else
            fail(p, column, "%s needs arguments: %s", info->name, info->signature);
        spc_node_free(n);
        return NULL;
    }
    next(p);
    bool ok = info->kind == K_LAYOUT                                 ? parse_path(p, n)
              : info->kind == K_HEADS                                ? parse_heads(p, n)
              : info->kind == K_GLOBAL || info->kind == K_LONGFORMER ? parse_token_list(p, info, n, column)
                                                                     : parse_fixed_args(p, info, n, column);
    if (ok) return n;
    spc_node_free(n);
    return NULL;
}

static spc_node *parse_unary(parser *p)
{
    if (++p->depth > SPEC_MAX_DEPTH) {
        fail(p, p->tok.column, "spec is nested too deeply (more than %d levels)", SPEC_MAX_DEPTH);
        return NULL;
    }
    spc_node *n;
    if (p->tok.kind == T_LP) {
        int col = p->tok.column;
        next(p);
        n = parse_or(p);
        if (n && p->tok.kind != T_RP) {
            fail(p, p->tok.column, "expected ')' to match the '(' at column %d, found %s", col,
                 tok_name(p->tok.kind));
            spc_node_free(n);
            n = NULL;
        } else if (n) {
            next(p);
        }
    } else {
        n = parse_primitive(p);
    }
    p->depth--;
    return n;
}

static spc_node *parse_binary(parser *p, bool is_or)
{
    spc_node *left = is_or ? parse_binary(p, false) : parse_unary(p);
    tok_kind op = is_or ? T_OR : T_AND;
    while (left && p->tok.kind == op) {
        int col = p->tok.column;
        next(p);
        spc_node *right = is_or ? parse_binary(p, false) : parse_unary(p);
        if (!right) {
            spc_node_free(left);
            return NULL;
        }
        spc_node *n = new_node(p, is_or ? K_OR : K_AND, col);
        if (!n) {
            spc_node_free(left);
            spc_node_free(right);
            return NULL;
        }
        n->a = left;
        n->b = right;
        left = n;
        if (!set_depth(p, n, left->a->depth > right->depth ? left->a->depth : right->depth)) {
            spc_node_free(left);
            return NULL;
        }
    }
    return left;
}

static spc_node *parse_or(parser *p)
{
    return parse_binary(p, true);
}

const char *spc_kind_name(spc_kind kind, int *nargs)
{
    for (size_t k = 0; k < sizeof PRIMS / sizeof PRIMS[0]; k++)
        if (PRIMS[k].kind == kind) {
            if (nargs) *nargs = PRIMS[k].nargs;
            return PRIMS[k].name;
        }
    return NULL;
}

int spc_parse(const char *spec, spc_pattern **out, spc_error *err)
{
    spc_clear_error(err);
    *out = NULL;
    if (!spec) {
        spc_set_error(err, 0, "no spec given");
        return -1;
    }
    size_t len = 0;
    while (len <= SPEC_MAX_LEN && spec[len])
        len++;
    if (len > SPEC_MAX_LEN) {
        spc_set_error(err, 0, "spec is longer than %d characters", SPEC_MAX_LEN);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (spec[i] == '\n' || spec[i] == '\r') {
            spc_set_error(err, (int)i + 1, "spec must be a single line");
            return -1;
        }
    }
    parser p = {spec, 0, {T_EOF, 1, 0, 0, 0, false}, 0, err, false};
    next(&p);
    if (p.tok.kind == T_EOF) {
        spc_set_error(err, 1, "empty spec");
        return -1;
    }
    spc_node *root = parse_or(&p);
    if (root && p.tok.kind != T_EOF) {
        if (p.tok.kind == T_RP)
            fail(&p, p.tok.column, "unmatched ')'");
        else if (p.tok.kind == T_BAD)
            fail(&p, p.tok.column, "unexpected character '%c'", spec[p.tok.pos]);
        else
            fail(&p, p.tok.column, "expected '|', '&' or end of spec, found %s", tok_name(p.tok.kind));
        spc_node_free(root);
        root = NULL;
    }
    if (!root) {
        if (!p.failed) spc_set_error(err, 0, "parse failed");
        return -1;
    }
    spc_pattern *pat = calloc(1, sizeof *pat);
    char *text = spc_node_text(root);
    if (!pat || !text) {
        free(pat);
        free(text);
        spc_node_free(root);
        spc_set_error(err, 0, "out of memory");
        return -1;
    }
    pat->root = root;
    pat->text = text;
    *out = pat;
    return 0;
}

void spc_pattern_free(spc_pattern *p)
{
    if (!p) return;
    spc_node_free(p->root);
    free(p->text);
    free(p);
}

const char *spc_pattern_text(const spc_pattern *p)
{
    return p ? p->text : "";
}
