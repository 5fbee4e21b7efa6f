// Declarations shared by the C sources only (not part of the public API).
#ifndef NEURITE_INTERNAL_H
#define NEURITE_INTERNAL_H

#include "neurite.h"

// The toolchain's clang ships no omp.h; declare the few runtime functions we call.
#ifdef _OPENMP
int omp_get_thread_num(void);
int omp_get_num_threads(void);
#endif

#define NK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define NK_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
