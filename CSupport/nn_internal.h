// Helpers shared by the layer kernels (conv_*.c, pool.c, lrn.c); not part of the public API.
#ifndef NEURITE_NN_INTERNAL_H
#define NEURITE_NN_INTERNAL_H

#include "internal.h"

#include <stdlib.h>
#include <string.h>

// The thread count a kernel runs with: `threads` if positive, else the global setting; 1 in a
// serial build, and 1 when there are fewer than `min_items_per_thread`·2 work items (splitting a
// few microseconds of work costs more than it saves).
// Also sets the floating-point mode (nk_fp_prepare) of the calling thread and of that team.
static inline int nk__threads(int threads, int64_t items, int64_t min_items_per_thread) {
#ifdef _OPENMP
    int t = threads > 0 ? threads : nk_get_num_threads();
    if (t < 1) t = 1;
    if (min_items_per_thread > 0 && items < 2 * min_items_per_thread) t = 1;
    if (t > items) t = (int)(items > 0 ? items : 1);
    nk_fp_prepare(t);
    return t;
#else
    (void)threads; (void)items; (void)min_items_per_thread;
    nk_fp_prepare(1);
    return 1;
#endif
}

// 64-byte aligned scratch; NULL-safe free. Aborts on exhaustion (kernels have no error path).
static inline float *nk__alloc_floats(int64_t n) {
    size_t bytes = ((size_t)(n > 0 ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes);
    if (!p) abort();
    return (float *)p;
}

// nk_maxpool2d_backward's routing of `count` consecutive planes (dy, argmax and dx at the first of
// them; s gives the plane geometry), on the calling thread: for callers that need dx a few planes
// at a time (nk_conv2d_backward_filter_pooled, an image's planes where its filter gradient reads
// them). The same values as nk_maxpool2d_backward.
void nk__maxpool2d_backward_planes(const nk_pool2d_shape *s, int64_t count, const float *dy, const int32_t *argmax,
                                   float *dx);

#endif
