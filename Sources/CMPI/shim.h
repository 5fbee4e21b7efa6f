// Open MPI from the system (Debian: libopenmpi-dev), found through pkg-config (ompi-c). Only the
// `MPI` package trait brings it in; CSupport/distributed.c wraps the few calls Neurite makes, since
// MPI_COMM_WORLD, MPI_FLOAT and MPI_SUM are macros over globals that Swift cannot import.
#include <mpi.h>
