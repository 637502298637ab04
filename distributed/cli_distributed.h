/* `sparsecl attend --distributed` and `sparsecl bench --distributed` (issue 19), and the few
 * helpers they share. The CLI's own files call the two entry points when built with MPI. */
#ifndef SCL_CLI_DISTRIBUTED_H
#define SCL_CLI_DISTRIBUTED_H

#include "sparsecl_mpi.h"

#include <stddef.h>
#include <stdint.h>

int scl_mpi_cli_attend(int argc, char **argv);
int scl_mpi_cli_bench(int argc, char **argv);

/* MPI_Init unless the program did; returns this rank and sets *size. */
int cli_mpi_begin(int *argc, char ***argv, int *size);
/* MPI_Finalize, then `code`, so `return cli_mpi_end(code);` ends a command. */
int cli_mpi_end(int code);
/* Agree on a step: every rank passes its exit code (0 = fine) and message; all return the
 * highest code, and rank 0 prints "sparsecl <cmd>: error: rank R: message" for it. */
int cli_mpi_agree(const char *cmd, int code, const char *msg);
/* "auto", "heads" or "kv" -> the exchange; -1 for anything else. */
int cli_mpi_exchange(const char *text);
const char *cli_mpi_exchange_name(scl_mpi_exchange e);

#endif
