/* NumPy .npy reader and writer (format spec: numpy.lib.format, versions 1.0/2.0/3.0). Files are
 * untrusted input: every length is checked before it is used and nothing is allocated from a
 * header's claims until the file is known to hold that much data. */
#define _POSIX_C_SOURCE 200809L
#include "scl_npy.h"

#include "scl_fileio.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Largest file the reader accepts (a sanity bound, not a format limit). */
#define NPY_MAX_FILE ((uint64_t)1 << 36)

typedef struct dtype_info {
    char kind; /* b, u, i, f */
    size_t size;
} dtype_info;

static const dtype_info DTYPES[] = {
    [NPY_BOOL] = {'b', 1}, [NPY_U8] = {'u', 1},  [NPY_I8] = {'i', 1},  [NPY_U16] = {'u', 2},
    [NPY_I16] = {'i', 2},  [NPY_U32] = {'u', 4}, [NPY_I32] = {'i', 4}, [NPY_U64] = {'u', 8},
    [NPY_I64] = {'i', 8},  [NPY_F16] = {'f', 2}, [NPY_F32] = {'f', 4}, [NPY_F64] = {'f', 8},
};
#define N_DTYPES (sizeof DTYPES / sizeof DTYPES[0])

static bool host_is_little(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static int fail(char *msg, size_t msg_len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int fail(char *msg, size_t msg_len, const char *fmt, ...)
{
    if (msg && msg_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msg_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

size_t npy_dtype_size(npy_dtype t)
{
    return (unsigned)t < N_DTYPES ? DTYPES[t].size : 0;
}

const char *npy_dtype_name(npy_dtype t)
{
    static const char *const LE[] = {"|b1", "|u1", "|i1", "<u2", "<i2", "<u4",
                                     "<i4", "<u8", "<i8", "<f2", "<f4", "<f8"};
    static const char *const BE[] = {"|b1", "|u1", "|i1", ">u2", ">i2", ">u4",
                                     ">i4", ">u8", ">i8", ">f2", ">f4", ">f8"};
    if ((unsigned)t >= N_DTYPES) return "?";
    return host_is_little() ? LE[t] : BE[t];
}

void npy_free(npy_array *a)
{
    if (!a) return;
    free(a->data);
    a->data = NULL;
}

/* ---- header dictionary parser ---- */

typedef struct hdr {
    const char *s;
    size_t n, i;
} hdr;

static void skip_ws(hdr *h)
{
    while (h->i < h->n &&
           (h->s[h->i] == ' ' || h->s[h->i] == '\t' || h->s[h->i] == '\n' || h->s[h->i] == '\r'))
        h->i++;
}

static bool eat(hdr *h, char c)
{
    skip_ws(h);
    if (h->i < h->n && h->s[h->i] == c) {
        h->i++;
        return true;
    }
    return false;
}

/* A quoted Python string literal without escapes; returns start/length. */
static bool read_str(hdr *h, size_t *start, size_t *len)
{
    skip_ws(h);
    if (h->i >= h->n || (h->s[h->i] != '\'' && h->s[h->i] != '"')) return false;
    char q = h->s[h->i++];
    *start = h->i;
    while (h->i < h->n && h->s[h->i] != q) {
        if (h->s[h->i] == '\\') return false;
        h->i++;
    }
    if (h->i >= h->n) return false;
    *len = h->i - *start;
    h->i++;
    return true;
}

static bool word_is(const hdr *h, size_t start, size_t len, const char *w)
{
    return strlen(w) == len && memcmp(h->s + start, w, len) == 0;
}

static bool parse_descr(const char *d, size_t len, npy_dtype *t, bool *swap, char *msg, size_t msg_len)
{
    if (len < 3 || len > 4) {
        fail(msg, msg_len, "unsupported dtype '%.*s' (only bool, integer and float arrays)",
             (int)(len > 32 ? 32 : len), d);
        return false;
    }
    char order = d[0], kind = d[1];
    size_t size = 0;
    for (size_t k = 2; k < len; k++) {
        if (!isdigit((unsigned char)d[k])) {
            fail(msg, msg_len, "unsupported dtype '%.*s'", (int)len, d);
            return false;
        }
        size = size * 10 + (size_t)(d[k] - '0');
    }
    if (order != '<' && order != '>' && order != '|' && order != '=') {
        fail(msg, msg_len, "unsupported byte order in dtype '%.*s'", (int)len, d);
        return false;
    }
    for (size_t k = 0; k < N_DTYPES; k++) {
        if (DTYPES[k].kind == kind && DTYPES[k].size == size) {
            *t = (npy_dtype)k;
            bool big = order == '>' || (order == '=' && !host_is_little());
            *swap = size > 1 && big == host_is_little();
            return true;
        }
    }
    fail(msg, msg_len, "unsupported dtype '%.*s' (object, string, complex and structured dtypes are refused)",
         (int)len, d);
    return false;
}

static bool parse_shape(hdr *h, npy_array *a, char *msg, size_t msg_len)
{
    skip_ws(h);
    char close;
    if (eat(h, '('))
        close = ')';
    else if (eat(h, '['))
        close = ']';
    else {
        fail(msg, msg_len, "malformed header: 'shape' is not a tuple");
        return false;
    }
    a->ndim = 0;
    for (;;) {
        if (eat(h, close)) break;
        skip_ws(h);
        if (h->i >= h->n || !isdigit((unsigned char)h->s[h->i])) {
            fail(msg, msg_len, "malformed header: bad 'shape' entry");
            return false;
        }
        int64_t v = 0;
        while (h->i < h->n && isdigit((unsigned char)h->s[h->i])) {
            if (v > (INT64_MAX - 9) / 10) {
                fail(msg, msg_len, "shape dimension is too large");
                return false;
            }
            v = v * 10 + (h->s[h->i++] - '0');
        }
        if (h->i < h->n && h->s[h->i] == 'L') h->i++; /* Python 2 long suffix */
        if (a->ndim >= NPY_MAX_DIMS) {
            fail(msg, msg_len, "array has more than %d dimensions", NPY_MAX_DIMS);
            return false;
        }
        a->shape[a->ndim++] = v;
        if (eat(h, ',')) continue;
        if (eat(h, close)) break;
        fail(msg, msg_len, "malformed header: bad 'shape' tuple");
        return false;
    }
    return true;
}

static bool parse_header(const char *s, size_t n, npy_array *a, bool *swap, char *msg, size_t msg_len)
{
    hdr h = {s, n, 0};
    bool have_descr = false, have_fortran = false, have_shape = false;
    if (!eat(&h, '{')) {
        fail(msg, msg_len, "malformed header: not a dictionary");
        return false;
    }
    for (;;) {
        if (eat(&h, '}')) break;
        size_t ks, kl;
        if (!read_str(&h, &ks, &kl) || !eat(&h, ':')) {
            fail(msg, msg_len, "malformed header: expected 'key': value");
            return false;
        }
        if (word_is(&h, ks, kl, "descr")) {
            size_t vs, vl;
            if (have_descr || !read_str(&h, &vs, &vl)) {
                fail(msg, msg_len, "unsupported or repeated 'descr' (structured dtypes are refused)");
                return false;
            }
            if (!parse_descr(s + vs, vl, &a->dtype, swap, msg, msg_len)) return false;
            have_descr = true;
        } else if (word_is(&h, ks, kl, "fortran_order")) {
            skip_ws(&h);
            if (have_fortran) {
                fail(msg, msg_len, "malformed header: repeated 'fortran_order'");
                return false;
            }
            if (h.n - h.i >= 4 && memcmp(s + h.i, "True", 4) == 0) {
                fail(msg, msg_len, "Fortran-order arrays are not supported (save with np.ascontiguousarray)");
                return false;
            }
            if (h.n - h.i < 5 || memcmp(s + h.i, "False", 5) != 0) {
                fail(msg, msg_len, "malformed header: 'fortran_order' is not True or False");
                return false;
            }
            h.i += 5;
            have_fortran = true;
        } else if (word_is(&h, ks, kl, "shape")) {
            if (have_shape) {
                fail(msg, msg_len, "malformed header: repeated 'shape'");
                return false;
            }
            if (!parse_shape(&h, a, msg, msg_len)) return false;
            have_shape = true;
        } else {
            fail(msg, msg_len, "malformed header: unexpected key '%.*s'", (int)(kl > 32 ? 32 : kl), s + ks);
            return false;
        }
        if (eat(&h, ',')) continue;
        if (eat(&h, '}')) break;
        fail(msg, msg_len, "malformed header: expected ',' or '}'");
        return false;
    }
    skip_ws(&h);
    if (h.i != h.n) {
        fail(msg, msg_len, "malformed header: unexpected text after the dictionary");
        return false;
    }
    if (!have_descr || !have_fortran || !have_shape) {
        fail(msg, msg_len, "malformed header: needs 'descr', 'fortran_order' and 'shape'");
        return false;
    }
    return true;
}

static void byteswap(uint8_t *p, int64_t count, size_t size)
{
    for (int64_t e = 0; e < count; e++, p += size)
        for (size_t k = 0; k < size / 2; k++) {
            uint8_t t = p[k];
            p[k] = p[size - 1 - k];
            p[size - 1 - k] = t;
        }
}

/* The fixed preamble: magic, version, header length. `have` bytes of it are in b (10 or 12
 * needed). Returns 0, 1 when 12 bytes are needed (versions 2 and 3) and only 10 are there, or -1. */
static int preamble(const uint8_t *b, size_t have, size_t *hstart, size_t *hlen, char *msg, size_t msg_len)
{
    if (have < 10 || memcmp(b, "\x93NUMPY", 6) != 0) return fail(msg, msg_len, "not a .npy file (bad magic)");
    int major = b[6], minor = b[7];
    if (major < 1 || major > 3 || minor != 0)
        return fail(msg, msg_len, "unsupported .npy version %d.%d", major, minor);
    if (major == 1) {
        *hlen = (size_t)b[8] | (size_t)b[9] << 8;
        *hstart = 10;
        return 0;
    }
    if (have < 12) return 1;
    *hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    *hstart = 12;
    return 0;
}

/* Header text -> a (no data), the byte swap flag and the data size in bytes. */
static int header(const char *h, size_t hlen, npy_array *a, bool *swap, uint64_t *bytes, char *msg,
                  size_t msg_len)
{
    if (!parse_header(h, hlen, a, swap, msg, msg_len)) return -1;
    a->itemsize = DTYPES[a->dtype].size;
    int64_t count = 1;
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] != 0 && count > INT64_MAX / a->shape[d])
            return fail(msg, msg_len, "shape is too large (element count overflows)");
        count *= a->shape[d];
    }
    a->count = count;
    if ((uint64_t)count > UINT64_MAX / a->itemsize) return fail(msg, msg_len, "shape is too large");
    *bytes = (uint64_t)count * a->itemsize;
    return 0;
}

/* The data of a file that announces `bytes` and holds `avail` after its header. */
static int check_data_size(const npy_array *a, uint64_t bytes, uint64_t avail, char *msg, size_t msg_len)
{
    if (bytes > avail)
        return fail(msg, msg_len,
                    "truncated .npy data: shape needs %lld elements of %zu bytes, file holds %llu bytes",
                    (long long)a->count, a->itemsize, (unsigned long long)avail);
    if (bytes != avail)
        return fail(msg, msg_len, "%llu unexpected bytes after the .npy data",
                    (unsigned long long)(avail - bytes));
    if (bytes > SIZE_MAX) return fail(msg, msg_len, "array is too large for this host");
    return 0;
}

int npy_read_mem(const void *buf, size_t len, npy_array *out, char *msg, size_t msg_len)
{
    const uint8_t *b = buf;
    npy_array a;
    memset(&a, 0, sizeof a);
    memset(out, 0, sizeof *out);
    size_t hlen = 0, hstart = 0;
    int pr = preamble(b, len, &hstart, &hlen, msg, msg_len);
    if (pr < 0) return -1;
    if (pr > 0) return fail(msg, msg_len, "truncated .npy header");
    if (hlen > len - hstart) return fail(msg, msg_len, "truncated .npy header (%zu bytes announced)", hlen);
    bool swap = false;
    uint64_t total = 0;
    if (header((const char *)b + hstart, hlen, &a, &swap, &total, msg, msg_len) != 0 ||
        check_data_size(&a, total, len - hstart - hlen, msg, msg_len) != 0)
        return -1;
    size_t bytes = (size_t)total;
    int64_t count = a.count;
    a.data = malloc(bytes ? bytes : 1);
    if (!a.data) return fail(msg, msg_len, "out of memory for %zu bytes of .npy data", bytes);
    memcpy(a.data, b + hstart + hlen, bytes);
    if (swap) byteswap(a.data, count, a.itemsize);
    *out = a;
    return 0;
}

/* Headers longer than this are refused (NumPy writes a few hundred bytes at most). */
#define NPY_MAX_HEADER ((size_t)1 << 20)

struct npy_file {
    FILE *f;
    bool swap, regular;
    uint64_t bytes; /* data size the header announces */
};

void npy_close(npy_file *f)
{
    if (!f) return;
    if (f->f) fclose(f->f);
    free(f);
}

int npy_open(const char *path, npy_array *out, npy_file **file, char *msg, size_t msg_len)
{
    memset(out, 0, sizeof *out);
    *file = NULL;
    npy_file *nf = calloc(1, sizeof *nf);
    if (!nf) return fail(msg, msg_len, "out of memory");
    nf->f = fopen(path, "rb");
    if (!nf->f) {
        fail(msg, msg_len, "cannot open '%s': %s", path, strerror(errno));
        npy_close(nf);
        return -1;
    }
    struct stat st;
    if (fstat(fileno(nf->f), &st) != 0 || S_ISDIR(st.st_mode)) {
        fail(msg, msg_len, "cannot read '%s': %s", path,
             S_ISDIR(st.st_mode) ? "it is a directory" : strerror(errno));
        npy_close(nf);
        return -1;
    }
    nf->regular = S_ISREG(st.st_mode);
    /* The preamble and the header only: nothing of the data is read (or allocated) here. */
    uint8_t pre[12];
    size_t have = fread(pre, 1, 10, nf->f), hstart = 0, hlen = 0;
    int pr = preamble(pre, have, &hstart, &hlen, msg, msg_len);
    if (pr > 0 && (have += fread(pre + 10, 1, 2, nf->f)) < 12)
        pr = fail(msg, msg_len, "truncated .npy header");
    if (pr > 0) pr = preamble(pre, have, &hstart, &hlen, msg, msg_len);
    char *h = NULL;
    if (pr == 0 && hlen > NPY_MAX_HEADER)
        pr = fail(msg, msg_len, ".npy header of %zu bytes is too long", hlen);
    if (pr == 0 && !(h = malloc(hlen ? hlen : 1))) pr = fail(msg, msg_len, "out of memory");
    if (pr == 0 && fread(h, 1, hlen, nf->f) != hlen)
        pr = fail(msg, msg_len, "truncated .npy header (%zu bytes announced)", hlen);
    if (pr == 0) pr = header(h, hlen, out, &nf->swap, &nf->bytes, msg, msg_len);
    free(h);
    /* A regular file must hold exactly the data its header announces; a pipe or device is read
     * for exactly that many bytes by npy_read_data, no more. */
    if (pr == 0 && nf->regular) {
        uint64_t size = (uint64_t)st.st_size, head = hstart + hlen;
        pr = check_data_size(out, nf->bytes, size > head ? size - head : 0, msg, msg_len);
    }
    if (pr == 0 && nf->bytes > SIZE_MAX) pr = fail(msg, msg_len, "array is too large for this host");
    if (pr != 0) {
        npy_close(nf);
        memset(out, 0, sizeof *out);
        return -1;
    }
    *file = nf;
    return 0;
}

int npy_read_data(npy_file *f, npy_array *a, char *msg, size_t msg_len)
{
    size_t bytes = (size_t)f->bytes;
    free(a->data);
    a->data = malloc(bytes ? bytes : 1);
    if (!a->data) return fail(msg, msg_len, "out of memory for %zu bytes of .npy data", bytes);
    /* Straight into the array, in pieces: the file is never held twice. */
    size_t done = 0;
    while (done < bytes) {
        size_t piece = bytes - done < ((size_t)1 << 26) ? bytes - done : (size_t)1 << 26;
        size_t k = fread((uint8_t *)a->data + done, 1, piece, f->f);
        if (k == 0) break;
        done += k;
    }
    int rc = 0;
    if (done < bytes)
        rc = ferror(f->f) ? fail(msg, msg_len, "cannot read .npy data: %s", strerror(errno))
                          : fail(msg, msg_len,
                                 "truncated .npy data: shape needs %lld elements of %zu bytes, got %zu bytes",
                                 (long long)a->count, a->itemsize, done);
    else if (!f->regular && fgetc(f->f) != EOF)
        rc = fail(msg, msg_len, "unexpected bytes after the .npy data");
    if (rc != 0) {
        npy_free(a);
        return -1;
    }
    if (f->swap) byteswap(a->data, a->count, a->itemsize);
    return 0;
}

int npy_read(const char *path, npy_array *out, char *msg, size_t msg_len)
{
    npy_file *f;
    if (npy_open(path, out, &f, msg, msg_len) != 0) return -1;
    int rc = 0;
    if ((uint64_t)out->count * out->itemsize > NPY_MAX_FILE)
        rc = fail(msg, msg_len, "'%s' is larger than %llu bytes", path, (unsigned long long)NPY_MAX_FILE);
    if (rc == 0) rc = npy_read_data(f, out, msg, msg_len);
    npy_close(f);
    if (rc != 0) memset(out, 0, sizeof *out);
    return rc;
}

int npy_write(const char *path, npy_dtype dtype, int ndim, const int64_t *shape, const void *data, char *msg,
              size_t msg_len)
{
    if ((unsigned)dtype >= N_DTYPES) return fail(msg, msg_len, "unknown dtype");
    if (ndim < 0 || ndim > NPY_MAX_DIMS) return fail(msg, msg_len, "bad number of dimensions %d", ndim);
    char head[1024];
    int k = snprintf(head, sizeof head, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     npy_dtype_name(dtype));
    int64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return fail(msg, msg_len, "negative dimension");
        if (shape[d] != 0 && count > INT64_MAX / shape[d]) return fail(msg, msg_len, "shape is too large");
        count *= shape[d];
        k += snprintf(head + k, sizeof head - (size_t)k, d + 1 < ndim || ndim == 1 ? "%lld," : "%lld",
                      (long long)shape[d]);
        if (d + 1 < ndim) k += snprintf(head + k, sizeof head - (size_t)k, " ");
    }
    k += snprintf(head + k, sizeof head - (size_t)k, "), }");
    /* Pad with spaces and a newline so the data starts at a multiple of 64 bytes. */
    size_t total = 10 + (size_t)k + 1;
    size_t pad = (64 - total % 64) % 64;
    if ((size_t)k + pad + 1 >= sizeof head) return fail(msg, msg_len, "header too long");
    memset(head + k, ' ', pad);
    head[(size_t)k + pad] = '\n';
    size_t hlen = (size_t)k + pad + 1;
    size_t isz = DTYPES[dtype].size;
    if ((uint64_t)count > SIZE_MAX / isz) return fail(msg, msg_len, "array is too large");
    size_t bytes = (size_t)count * isz;

    char *tmp;
    FILE *f = scl_atomic_open(path, &tmp, msg, msg_len);
    if (!f) return -1;
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hlen & 0xff), (uint8_t)(hlen >> 8)};
    bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(head, 1, hlen, f) == hlen &&
              (bytes == 0 || fwrite(data, 1, bytes, f) == bytes);
    return scl_atomic_close(f, tmp, path, ok, msg, msg_len);
}

float npy_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    if (e == 0) {
        if (m == 0) {
            bits = sign;
        } else { /* subnormal: normalise the mantissa */
            int ex = -1;
            do {
                ex++;
                m <<= 1;
            } while (!(m & 0x400));
            bits = sign | (uint32_t)(112 - ex) << 23 | (m & 0x3ff) << 13;
        }
    } else if (e == 31) {
        bits = sign | 0x7f800000u | m << 13;
    } else {
        bits = sign | (e + 112) << 23 | m << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t npy_float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) { /* inf, or NaN kept quiet with its top payload bits */
        if (ax == 0x7f800000u) return sign | 0x7c00;
        return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
    }
    if (ax >= 0x477ff000u) return sign | 0x7c00; /* >= 65520 rounds to infinity */
    if (ax < 0x38800000u) {                      /* below 2^-14: half subnormal or zero */
        if (ax <= 0x33000000u) return sign;      /* <= 2^-25: rounds (ties to even) to zero */
        uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e, q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t h = (ax >> 13) - (112u << 10), rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}
