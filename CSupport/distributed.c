// Distributed data parallelism: the few MPI calls Neurite makes, wrapped in C because Open MPI's
// MPI_COMM_WORLD, MPI_FLOAT and MPI_SUM are macros over global symbols that Swift cannot import.
// Without the MPI trait every function is a single-process stand-in (rank 0 of 1), so the Swift
// side needs no conditional code.
#include "neurite.h"

#include <stdlib.h>

#ifdef NEURITE_MPI
#include <mpi.h>

#define NK_MAX_REQUESTS 256
static MPI_Request g_requests[NK_MAX_REQUESTS];
static int g_request_count = 0;
static int g_initialized_here = 0;

int nk_dist_available(void) { return 1; }

int nk_dist_init(void) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) return 0;
    // Funneled: only the thread that called init makes MPI calls (the kernels' team workers never do).
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return -1;
    // Errors come back as codes (then turned into thrown Swift errors) instead of aborting here.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    g_initialized_here = 1;
    return 0;
}

void nk_dist_finalize(void) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (g_initialized_here && !finalized) MPI_Finalize();
}

static int active(void) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    return initialized && !finalized;
}

int nk_dist_rank(void) {
    if (!active()) return 0;
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int nk_dist_size(void) {
    if (!active()) return 1;
    int n = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

// MPI counts are ints: send large buffers in pieces of at most 2^30 elements.
#define NK_MPI_CHUNK ((int64_t)1 << 30)

int nk_dist_allreduce_sum_f32(float *buf, int64_t n) {
    if (!active() || n <= 0) return 0;
    for (int64_t o = 0; o < n; o += NK_MPI_CHUNK) {
        int c = (int)(n - o < NK_MPI_CHUNK ? n - o : NK_MPI_CHUNK);
        if (MPI_Allreduce(MPI_IN_PLACE, buf + o, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) return -1;
    }
    return 0;
}

int nk_dist_allreduce_sum_f64(double *buf, int64_t n) {
    if (!active() || n <= 0) return 0;
    if (n > NK_MPI_CHUNK) return -1;
    return MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

int nk_dist_iallreduce_sum_f32(float *buf, int64_t n) {
    if (!active() || n <= 0) return 0;
    for (int64_t o = 0; o < n; o += NK_MPI_CHUNK) {
        if (g_request_count == NK_MAX_REQUESTS && nk_dist_wait_all() != 0) return -1;
        int c = (int)(n - o < NK_MPI_CHUNK ? n - o : NK_MPI_CHUNK);
        if (MPI_Iallreduce(MPI_IN_PLACE, buf + o, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                           &g_requests[g_request_count]) != MPI_SUCCESS) return -1;
        g_request_count++;
    }
    return 0;
}

int nk_dist_wait_all(void) {
    if (g_request_count == 0) return 0;
    int rc = MPI_Waitall(g_request_count, g_requests, MPI_STATUSES_IGNORE);
    g_request_count = 0;
    return rc == MPI_SUCCESS ? 0 : -1;
}

int nk_dist_broadcast_f32(float *buf, int64_t n, int root) {
    if (!active() || n <= 0) return 0;
    if (n > NK_MPI_CHUNK) return -1;
    return MPI_Bcast(buf, (int)n, MPI_FLOAT, root, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

void nk_dist_abort(int code) {
    if (active()) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

#else

int nk_dist_available(void) { return 0; }
int nk_dist_init(void) { return -1; }
void nk_dist_finalize(void) {}
int nk_dist_rank(void) { return 0; }
int nk_dist_size(void) { return 1; }
int nk_dist_allreduce_sum_f32(float *buf, int64_t n) { (void)buf; (void)n; return 0; }
int nk_dist_allreduce_sum_f64(double *buf, int64_t n) { (void)buf; (void)n; return 0; }
int nk_dist_iallreduce_sum_f32(float *buf, int64_t n) { (void)buf; (void)n; return 0; }
int nk_dist_wait_all(void) { return 0; }
int nk_dist_broadcast_f32(float *buf, int64_t n, int root) { (void)buf; (void)n; (void)root; return 0; }
void nk_dist_abort(int code) { exit(code); }

#endif
