/* Shared machinery of libsparsecl_mpi: agreeing on failures, staging through host memory, the
 * row all-to-all, and the per-rank device choice. */
#include "mpi_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double smpi_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

scl_status smpi_fail(scl_mpi_plan *p, scl_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    return s;
}

/* One MINLOC reduction finds the lowest status and the first rank that had it; that rank then
 * broadcasts its message. Every rank takes part whatever its own outcome, which is what keeps a
 * failing rank from leaving the others blocked in the next collective. */
static scl_status agree_comm(MPI_Comm comm, int rank, scl_status mine, const char *msg, char *err,
                             size_t err_len)
{
    struct {
        int status, rank;
    } in = {(int)mine, rank}, out;
    if (MPI_Allreduce(&in, &out, 1, MPI_2INT, MPI_MINLOC, comm) != MPI_SUCCESS) {
        snprintf(err, err_len, "rank %d: MPI_Allreduce failed", rank);
        return SCL_ERR_IO;
    }
    if (out.status >= 0) return SCL_OK;
    char buf[768] = "";
    if (rank == out.rank) snprintf(buf, sizeof buf, "%s", msg && *msg ? msg : scl_status_string(mine));
    MPI_Bcast(buf, (int)sizeof buf, MPI_CHAR, out.rank, comm);
    snprintf(err, err_len, "rank %d: %s", out.rank, buf);
    return (scl_status)out.status;
}

scl_status smpi_agree(scl_mpi_plan *p, scl_status mine, const char *msg)
{
    char local[1024];
    snprintf(local, sizeof local, "%s", msg ? msg : "");
    return agree_comm(p->comm, p->rank, mine, local, p->err, sizeof p->err);
}

scl_status smpi_read(scl_mpi_plan *p, cl_mem buf, void *host, size_t bytes)
{
    if (!bytes) return SCL_OK;
    cl_int e = clEnqueueReadBuffer(scl_runtime_queue(p->rt), buf, CL_TRUE, 0, bytes, host, 0, NULL, NULL);
    if (e != CL_SUCCESS)
        return smpi_fail(p, SCL_ERR_OPENCL, "clEnqueueReadBuffer of %zu bytes: CL error %d", bytes, e);
    return SCL_OK;
}

scl_status smpi_write(scl_mpi_plan *p, cl_mem buf, const void *host, size_t bytes)
{
    if (!bytes) return SCL_OK;
    cl_int e = clEnqueueWriteBuffer(scl_runtime_queue(p->rt), buf, CL_TRUE, 0, bytes, host, 0, NULL, NULL);
    if (e != CL_SUCCESS)
        return smpi_fail(p, SCL_ERR_OPENCL, "clEnqueueWriteBuffer of %zu bytes: CL error %d", bytes, e);
    return SCL_OK;
}

cl_mem smpi_buffer(scl_mpi_plan *p, size_t bytes, scl_status *st)
{
    cl_int e;
    cl_mem m = clCreateBuffer(scl_runtime_context(p->rt), CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &e);
    if (e != CL_SUCCESS) {
        *st = smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "clCreateBuffer of %zu bytes: CL error %d", bytes, e);
        return NULL;
    }
    return m;
}

scl_status smpi_alltoallv_rows(scl_mpi_plan *p, const void *send, const int *scount, const int *sdispl,
                               void *recv, const int *rcount, const int *rdispl, size_t row_bytes)
{
    MPI_Datatype row;
    double t0 = smpi_now_ms();
    if (row_bytes > (size_t)1 << 30) return smpi_fail(p, SCL_ERR_UNSUPPORTED, "row of %zu bytes", row_bytes);
    MPI_Type_contiguous((int)row_bytes, MPI_BYTE, &row);
    MPI_Type_commit(&row);
    int rc = MPI_Alltoallv(send, scount, sdispl, row, recv, rcount, rdispl, row, p->comm);
    MPI_Type_free(&row);
    if (rc != MPI_SUCCESS) return smpi_fail(p, SCL_ERR_IO, "MPI_Alltoallv failed (code %d)", rc);
    for (int s = 0; s < p->size; s++) {
        if (s == p->rank) continue; /* a rank's own rows never leave it */
        p->traffic.sent += (double)scount[s] * (double)row_bytes;
        p->traffic.received += (double)rcount[s] * (double)row_bytes;
    }
    p->traffic.comm_ms += smpi_now_ms() - t0;
    return SCL_OK;
}

scl_status smpi_neighbor_post(scl_mpi_plan *p, MPI_Comm graph, const void *send, const int *scount,
                              const int *sdispl, void *recv, const int *rcount, const int *rdispl,
                              size_t row_bytes, smpi_inflight *f)
{
    int in = 0, out = 0, weighted = 0;
    f->t0 = smpi_now_ms();
    f->req = MPI_REQUEST_NULL;
    MPI_Dist_graph_neighbors_count(graph, &in, &out, &weighted);
    int *nb = malloc(sizeof *nb * (size_t)(4 * (in + out) + 2)), *src = nb, *dst = nb + in;
    if (!nb) MPI_Abort(p->comm, 1); /* a few ints: nothing sensible is left to agree with */
    int *sc = dst + out, *sd = sc + out, *rc = sd + out, *rd = rc + in, *w = rd + in;
    /* real arrays for the (unused) weights: gcc refuses MPI_UNWEIGHTED as an array */
    MPI_Dist_graph_neighbors(graph, in, src, w, out, dst, w + in);
    f->sent = f->received = 0;
    for (int i = 0; i < out; i++)
        sc[i] = scount[dst[i]], sd[i] = sdispl[dst[i]], f->sent += (double)sc[i] * (double)row_bytes;
    for (int i = 0; i < in; i++)
        rc[i] = rcount[src[i]], rd[i] = rdispl[src[i]], f->received += (double)rc[i] * (double)row_bytes;
    f->arrays = nb; /* the counts must outlive the request */
    MPI_Datatype row;
    MPI_Type_contiguous((int)row_bytes, MPI_BYTE, &row);
    MPI_Type_commit(&row);
    int e = MPI_Ineighbor_alltoallv(send, sc, sd, row, recv, rc, rd, row, graph, &f->req);
    MPI_Type_free(&row); /* freed when the exchange completes */
    return e == MPI_SUCCESS ? SCL_OK : smpi_fail(p, SCL_ERR_IO, "MPI_Ineighbor_alltoallv failed (code %d)", e);
}

/* Polls with short sleeps instead of MPI_Wait: Open MPI's wait spins, and a spinning rank takes the
 * core its own device (PoCL) or another rank computes on. */
scl_status smpi_neighbor_wait(scl_mpi_plan *p, smpi_inflight *f)
{
    int done = 0, e = MPI_SUCCESS;
    while (f->req != MPI_REQUEST_NULL && !done && (e = MPI_Test(&f->req, &done, MPI_STATUS_IGNORE)) == MPI_SUCCESS)
        if (!done) nanosleep(&(struct timespec){0, 50000}, NULL);
    free(f->arrays);
    f->arrays = NULL;
    p->traffic.sent += f->sent;
    p->traffic.received += f->received;
    p->traffic.comm_ms += smpi_now_ms() - f->t0;
    return e == MPI_SUCCESS ? SCL_OK : smpi_fail(p, SCL_ERR_IO, "MPI_Ineighbor_alltoallv failed (code %d)", e);
}

scl_status smpi_neighbor_rows(scl_mpi_plan *p, MPI_Comm graph, const void *send, const int *scount,
                              const int *sdispl, void *recv, const int *rcount, const int *rdispl,
                              size_t row_bytes)
{
    smpi_inflight f;
    scl_status st = smpi_neighbor_post(p, graph, send, scount, sdispl, recv, rcount, rdispl, row_bytes, &f);
    scl_status sw = smpi_neighbor_wait(p, &f);
    return st != SCL_OK ? st : sw;
}

/* The local rank's GPU: ranks on one node are numbered by MPI_COMM_TYPE_SHARED (standard MPI-3,
 * so the same under Open MPI and MPICH; OMPI_COMM_WORLD_LOCAL_RANK gives the same number). */
static void pick_selector(int local, char *sel, size_t len)
{
    int n = 0;
    sel[0] = '\0';
    if (scl_devices_list(NULL, 0, &n) != SCL_OK || n <= 0) return;
    scl_device_info *d = calloc((size_t)n, sizeof *d);
    if (!d) return;
    int got = 0, gpus = 0;
    if (scl_devices_list(d, n, &got) == SCL_OK) {
        for (int i = 0; i < got && i < n; i++)
            gpus += (d[i].type & CL_DEVICE_TYPE_GPU) != 0;
        for (int i = 0, g = 0; gpus > 0 && i < got && i < n; i++) {
            if (!(d[i].type & CL_DEVICE_TYPE_GPU)) continue;
            if (g++ == local % gpus) snprintf(sel, len, "%d", d[i].index);
        }
    }
    free(d);
}

scl_status scl_mpi_runtime_create(MPI_Comm comm, const char *selector, scl_runtime **out, char *msg,
                                  size_t msg_len)
{
    char sel[64] = "", err[1024] = "";
    int rank = 0;
    if (!out) return SCL_ERR_INVALID_ARGUMENT;
    *out = NULL;
    MPI_Comm_rank(comm, &rank);
    /* Collective, so every rank splits whether or not it needs the number. */
    MPI_Comm node;
    int local = 0;
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local);
    MPI_Comm_free(&node);
    const char *env = getenv("SPARSECL_DEVICE");
    if (selector && *selector)
        snprintf(sel, sizeof sel, "%s", selector);
    else if (!env || !*env)
        pick_selector(local, sel, sizeof sel);
    scl_status s = scl_runtime_create(sel, out);
    s = agree_comm(comm, rank, s, *out ? scl_last_error_message(*out) : "no runtime", err, sizeof err);
    if (msg && msg_len) snprintf(msg, msg_len, "%s", err);
    return s;
}

void smpi_rows_counts(scl_mpi_plan *p, smpi_rows *x)
{
    const int P = p->size;
    x->sc = calloc((size_t)P * 4, sizeof *x->sc), x->sb = x->rb = NULL;
    if (!x->sc) MPI_Abort(p->comm, 1); /* a few ints: nothing sensible is left to agree with */
    x->sd = x->sc + P, x->rc = x->sc + 2 * P, x->rd = x->sc + 3 * P;
}

scl_status smpi_rows_buffers(scl_mpi_plan *p, smpi_rows *x, size_t row_bytes)
{
    const int P = p->size;
    for (int s = 0, so = 0, ro = 0; s < P; s++)
        x->sd[s] = so, x->rd[s] = ro, so += x->sc[s], ro += x->rc[s];
    size_t ns = (size_t)(x->sd[P - 1] + x->sc[P - 1]), nr = (size_t)(x->rd[P - 1] + x->rc[P - 1]);
    x->sb = malloc(ns * row_bytes + 1), x->rb = malloc(nr * row_bytes + 1);
    scl_status st = SCL_OK;
    if (!x->sb || !x->rb) st = smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "exchange buffers of %zu rows", ns + nr);
    return smpi_agree(p, st, p->err); /* all ranks enter the exchange or none */
}

void smpi_rows_free(smpi_rows *x)
{
    free(x->sb);
    free(x->rb);
    free(x->sc);
}
