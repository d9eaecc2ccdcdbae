// Open MPI for Swift: mpi.h, and its handle macros (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...), which
// Swift does not import, as functions.
#include <mpi.h>

static inline MPI_Comm mk_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype mk_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype mk_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Op mk_mpi_sum(void) { return MPI_SUM; }
static inline void *mk_mpi_in_place(void) { return MPI_IN_PLACE; }
