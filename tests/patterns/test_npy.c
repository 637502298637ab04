/* .npy reader/writer and half-precision conversion tests. Usage: test_npy WORK_DIR */
#include "scl_npy.h"
#include "test_common.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *g_work = ".";

/* Build a .npy image by hand: magic, version, header text padded to 64, data. */
static size_t make_npy(uint8_t *out, int major, const char *dict, const void *data, size_t bytes)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hlen = dl + 1;
    hlen += (64 - (pre + hlen) % 64) % 64;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (uint8_t)major;
    out[7] = 0;
    if (major == 1) {
        out[8] = (uint8_t)hlen;
        out[9] = (uint8_t)(hlen >> 8);
    } else {
        for (int k = 0; k < 4; k++)
            out[8 + k] = (uint8_t)(hlen >> (8 * k));
    }
    memcpy(out + pre, dict, dl);
    memset(out + pre + dl, ' ', hlen - dl - 1);
    out[pre + hlen - 1] = '\n';
    if (bytes) memcpy(out + pre + hlen, data, bytes);
    return pre + hlen + bytes;
}

static void test_roundtrip(void)
{
    static const npy_dtype all[] = {NPY_BOOL, NPY_U8,  NPY_I8,  NPY_U16, NPY_I16, NPY_U32,
                                    NPY_I32,  NPY_U64, NPY_I64, NPY_F16, NPY_F32, NPY_F64};
    char path[600], msg[256];
    snprintf(path, sizeof path, "%s/rt.npy", g_work);
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        size_t isz = npy_dtype_size(all[k]);
        int64_t shape[3] = {2, 3, 5};
        uint8_t data[30 * 8];
        for (size_t e = 0; e < sizeof data; e++)
            data[e] = (uint8_t)(e * 37 + k);
        if (all[k] == NPY_BOOL)
            for (size_t e = 0; e < 30; e++)
                data[e] &= 1;
        CHECK(npy_write(path, all[k], 3, shape, data, msg, sizeof msg) == 0, "write %s: %s",
              npy_dtype_name(all[k]), msg);
        npy_array a;
        if (npy_read(path, &a, msg, sizeof msg) != 0) {
            CHECK(0, "read back %s: %s", npy_dtype_name(all[k]), msg);
            continue;
        }
        CHECK(a.dtype == all[k] && a.ndim == 3 && a.shape[0] == 2 && a.shape[1] == 3 && a.shape[2] == 5 &&
                  a.count == 30 && a.itemsize == isz,
              "%s: header fields differ", npy_dtype_name(all[k]));
        CHECK(memcmp(a.data, data, 30 * isz) == 0, "%s: data differs", npy_dtype_name(all[k]));
        npy_free(&a);
    }
    /* 1-D, 0-D and empty arrays. */
    int64_t s1[1] = {4}, s0[2] = {0, 7};
    float f4[4] = {1, 2, 3, 4};
    npy_array a;
    CHECK(npy_write(path, NPY_F32, 1, s1, f4, msg, sizeof msg) == 0, "%s", msg);
    CHECK(npy_read(path, &a, msg, sizeof msg) == 0 && a.ndim == 1 && a.count == 4 &&
              ((float *)a.data)[3] == 4.0f,
          "1-D round trip: %s", msg);
    npy_free(&a);
    CHECK(npy_write(path, NPY_F32, 0, s1, f4, msg, sizeof msg) == 0, "%s", msg);
    CHECK(npy_read(path, &a, msg, sizeof msg) == 0 && a.ndim == 0 && a.count == 1 &&
              ((float *)a.data)[0] == 1.0f,
          "0-D round trip: %s", msg);
    npy_free(&a);
    CHECK(npy_write(path, NPY_I32, 2, s0, f4, msg, sizeof msg) == 0, "%s", msg);
    CHECK(npy_read(path, &a, msg, sizeof msg) == 0 && a.ndim == 2 && a.count == 0, "empty round trip: %s",
          msg);
    npy_free(&a);
    /* The header is padded so data starts at a multiple of 64, and no temp file is left behind. */
    FILE *f = fopen(path, "rb");
    uint8_t head[16] = {0};
    CHECK(f && fread(head, 1, 10, f) == 10, "re-open");
    if (f) fclose(f);
    CHECK((10 + (head[8] | head[9] << 8)) % 64 == 0, "header length %d not aligned", head[8] | head[9] << 8);
    CHECK(npy_read("/nonexistent/dir/x.npy", &a, msg, sizeof msg) != 0 && strstr(msg, "cannot open"),
          "missing file: '%s'", msg);
    CHECK(npy_write("/nonexistent/dir/x.npy", NPY_F32, 1, s1, f4, msg, sizeof msg) != 0,
          "write into a missing dir");
}

static void test_hand_made(void)
{
    uint8_t buf[1024], msg_ok;
    char msg[256];
    npy_array a;
    (void)msg_ok;
    /* Big-endian int32, version 2.0 header, keys in another order, double quotes. */
    uint8_t be[8] = {0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe};
    size_t n = make_npy(buf, 2, "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \">i4\"}", be, 8);
    CHECK(npy_read_mem(buf, n, &a, msg, sizeof msg) == 0, "v2 big-endian: %s", msg);
    if (a.data) CHECK(((int32_t *)a.data)[0] == 258 && ((int32_t *)a.data)[1] == -2, "big-endian swap");
    npy_free(&a);
    /* Version 3.0, big-endian half and double. */
    uint8_t bh[4] = {0x3c, 0x00, 0xc0, 0x00};
    n = make_npy(buf, 3, "{'descr': '>f2', 'fortran_order': False, 'shape': (2,), }", bh, 4);
    CHECK(npy_read_mem(buf, n, &a, msg, sizeof msg) == 0, "v3 >f2: %s", msg);
    if (a.data)
        CHECK(npy_half_to_float(((uint16_t *)a.data)[0]) == 1.0f &&
                  npy_half_to_float(((uint16_t *)a.data)[1]) == -2.0f,
              ">f2 values");
    npy_free(&a);
    uint8_t bd[8] = {0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18};
    n = make_npy(buf, 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (), }", bd, 8);
    CHECK(npy_read_mem(buf, n, &a, msg, sizeof msg) == 0 && a.data &&
              fabs(((double *)a.data)[0] - 3.141592653589793) < 1e-15,
          ">f8 pi: %s", msg);
    npy_free(&a);
    /* '=' native order and '|b1'. */
    uint8_t one[4] = {1, 0, 0, 0};
    n = make_npy(buf, 1, "{'descr': '=u4', 'fortran_order': False, 'shape': (1, 1), }", one, 4);
    CHECK(npy_read_mem(buf, n, &a, msg, sizeof msg) == 0 && a.dtype == NPY_U32 &&
              ((uint32_t *)a.data)[0] == 1,
          "=u4: %s", msg);
    npy_free(&a);

    /* Bad version 1.0 headers, each refused with a message naming what is wrong. */
    static const struct {
        const char *dict;
        size_t data_bytes;
        const char *needle;
    } bad[] = {
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8, "Fortran"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16, "unsupported dtype"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16, "unsupported dtype"},
        {"{'descr': '<U4', 'fortran_order': False, 'shape': (2,), }", 32, "unsupported dtype"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8, "descr"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8, "truncated"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 8, "unexpected bytes"},
        {"{'descr': '<f4', 'fortran_order': False, }", 8, "needs"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", 8, "unexpected key"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", 8, "expected ','"},
        {"['descr', '<f4']", 8, "not a dictionary"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk", 8, "after the dictionary"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8, "shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", 8,
         "overflow"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 8, "too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4, "dimensions"},
        {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", 8, "fortran_order"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8, "repeated"},
    };
    uint8_t zeros[64] = {0};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        n = make_npy(buf, 1, bad[k].dict, zeros, bad[k].data_bytes);
        memset(&a, 0, sizeof a);
        msg[0] = 0;
        CHECK(npy_read_mem(buf, n, &a, msg, sizeof msg) != 0, "accepted bad header %s", bad[k].dict);
        CHECK(strstr(msg, bad[k].needle) != NULL, "'%s': message '%s' lacks '%s'", bad[k].dict, msg,
              bad[k].needle);
        CHECK(a.data == NULL, "data left allocated after an error");
    }
    /* A good header under a major version this reader does not know. */
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", zeros, 8);
    buf[6] = 4;
    memset(&a, 0, sizeof a);
    msg[0] = 0;
    CHECK(npy_read_mem(buf, n, &a, msg, sizeof msg) != 0 && strstr(msg, "version") && a.data == NULL,
          "version 4.0 refused: '%s'", msg);
    /* Truncated inside the header and before it. */
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", zeros, 8);
    for (size_t cut = 0; cut < 70; cut += 7) {
        CHECK(npy_read_mem(buf, cut, &a, msg, sizeof msg) != 0, "accepted a file cut at %zu bytes", cut);
    }
    CHECK(npy_read_mem("\x93NUMPX\1\0\0\0", 10, &a, msg, sizeof msg) != 0 && strstr(msg, "magic"),
          "bad magic");
}

static void test_half(void)
{
    static const struct {
        float f;
        uint16_t h;
    } cases[] = {
        {0.0f, 0x0000},          {-0.0f, 0x8000},          {1.0f, 0x3c00},           {-2.0f, 0xc000},
        {65504.0f, 0x7bff},      {65519.99f, 0x7bff},      {65520.0f, 0x7c00},       {1e10f, 0x7c00},
        {-1e10f, 0xfc00},        {0x1p-14f, 0x0400},       {0x1p-24f, 0x0001},       {0x1p-25f, 0x0000},
        {0x1.8p-24f, 0x0002},    {0x1.8p-25f, 0x0001},     {0x1p-26f, 0x0000},       {0x1.ffcp-15f, 0x0400},
        {1.0009765625f, 0x3c01}, {1.00048828125f, 0x3c00}, {1.00146484375f, 0x3c02}, {0.333333343f, 0x3555},
        {0x1.ff8p-15f, 0x03ff},  {0x1.ff4p-15f, 0x03fe},   {0x1.ffap-15f, 0x03ff},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint16_t h = npy_float_to_half(cases[k].f);
        CHECK(h == cases[k].h, "float_to_half(%a) = 0x%04x, expected 0x%04x", (double)cases[k].f, h,
              cases[k].h);
    }
    CHECK(npy_float_to_half(INFINITY) == 0x7c00 && npy_float_to_half(-INFINITY) == 0xfc00, "infinities");
    uint16_t hn = npy_float_to_half(NAN);
    CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x3ff) != 0, "NaN stays NaN (0x%04x)", hn);
    CHECK(isnan(npy_half_to_float(0x7e00)) && isinf(npy_half_to_float(0x7c00)), "half NaN/inf to float");
    CHECK(npy_half_to_float(0x0001) == 0x1p-24f && npy_half_to_float(0x03ff) == 0x1.ff8p-15f,
          "subnormals to float");
    long bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = npy_half_to_float((uint16_t)h);
        if (isnan(f)) continue;
        bad += npy_float_to_half(f) != h;
    }
    CHECK(bad == 0, "%ld half values do not survive half->float->half", bad);
    /* Rounding of every midpoint between neighbouring positive halves goes to the even one. */
    bad = 0;
    for (uint32_t h = 0; h < 0x7bff; h++) {
        double lo = npy_half_to_float((uint16_t)h), hi = npy_half_to_float((uint16_t)(h + 1));
        float mid = (float)((lo + hi) / 2);
        uint16_t want = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        bad += npy_float_to_half(mid) != want;
    }
    CHECK(bad == 0, "%ld midpoints not rounded to even", bad);
}

int main(int argc, char **argv)
{
    if (argc > 1) g_work = argv[1];
    RUN(test_roundtrip);
    RUN(test_hand_made);
    RUN(test_half);
    return test_summary("test_npy");
}
