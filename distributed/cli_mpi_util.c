/* Helpers shared by the distributed commands: MPI start and end, agreeing on failures. */
#include "cli_distributed.h"

#include <stdio.h>
#include <string.h>

int cli_mpi_begin(int *argc, char ***argv, int *size)
{
    int init = 0, rank = 0;
    MPI_Initialized(&init);
    if (!init) MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    return rank;
}

int cli_mpi_end(int code)
{
    MPI_Finalize();
    return code;
}

/* MAXLOC finds the worst code and a rank that has it; that rank's message is broadcast so the
 * one line printed says what went wrong where. */
int cli_mpi_agree(const char *cmd, int code, const char *msg)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    struct {
        int code, rank;
    } in = {code, rank}, out;
    MPI_Allreduce(&in, &out, 1, MPI_2INT, MPI_MAXLOC, MPI_COMM_WORLD);
    if (!out.code) return 0;
    char buf[1024] = "";
    if (rank == out.rank) snprintf(buf, sizeof buf, "%s", msg ? msg : "failed");
    MPI_Bcast(buf, (int)sizeof buf, MPI_CHAR, out.rank, MPI_COMM_WORLD);
    if (rank == 0) fprintf(stderr, "sparsecl %s: error: rank %d: %s\n", cmd, out.rank, buf);
    return out.code;
}

int cli_mpi_exchange(const char *text)
{
    if (!text || strcmp(text, "auto") == 0) return SCL_MPI_AUTO;
    if (strcmp(text, "heads") == 0) return SCL_MPI_HEADS;
    if (strcmp(text, "kv") == 0) return SCL_MPI_KV;
    return -1;
}

const char *cli_mpi_exchange_name(scl_mpi_exchange e)
{
    return e == SCL_MPI_KV ? "kv" : e == SCL_MPI_HEADS ? "heads" : "auto";
}
