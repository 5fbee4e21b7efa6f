// Allocator tuning. Training allocates and frees the same large activation buffers every batch;
// with glibc's defaults every buffer above the mmap threshold is a fresh mmap, so each batch pays
// page faults and zeroing of new pages (measured: ~10 % of MLP training time in clear_page and
// page-fault handling). Raising the thresholds keeps those buffers in the heap for reuse.
#include "neurite.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

void nk_tune_allocator(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}
