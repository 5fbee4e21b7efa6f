// CPU detection, done once: which ISA the kernels use.
#include "neurite.h"
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static atomic_int g_active = -2; // -2 = not yet chosen

// The kernel table: one row per kernel file (kernels_<isa>.c defines it), in increasing order of
// preference; the last row the CPU supports is the default. A new ISA is its kernel file, its
// row here and its nk_isa value.
static const nk_kernels *const g_rows[] = {
    &nk_kernels_ref,
#if defined(__x86_64__)
    &nk_kernels_avx2,
    &nk_kernels_avx512,
#endif
};
#define NK_ROWS (sizeof g_rows / sizeof g_rows[0])

static const nk_kernels *row_of(nk_isa isa) {
    for (size_t i = 0; i < NK_ROWS; i++)
        if (g_rows[i]->isa == isa) return g_rows[i];
    return NULL;
}

int nk_isa_supported(nk_isa isa) {
    const nk_kernels *r = row_of(isa);
    return r && r->supported();
}

static nk_isa best_isa(void) {
    for (size_t i = NK_ROWS; i-- > 0;)
        if (g_rows[i]->supported()) return g_rows[i]->isa;
    return NK_ISA_REF;
}

static nk_isa choose(void) {
    const char *env = getenv("NEURITE_ISA");
    if (env && *env && strcmp(env, "auto") != 0)
        for (size_t i = 0; i < NK_ROWS; i++)
            if (strcmp(env, g_rows[i]->name) == 0 && g_rows[i]->supported()) return g_rows[i]->isa;
    return best_isa(); // unknown or unsupported names fall back to the best supported ISA
}

nk_isa nk_isa_active(void) {
    int a = atomic_load(&g_active);
    if (a >= 0) return (nk_isa)a;
    int expected = -2;
    atomic_compare_exchange_strong(&g_active, &expected, (int)choose());
    return (nk_isa)atomic_load(&g_active);
}

int nk_isa_set_active(nk_isa isa) {
    if (isa == NK_ISA_AUTO) { atomic_store(&g_active, (int)best_isa()); return 0; }
    if (!nk_isa_supported(isa)) return -1;
    atomic_store(&g_active, (int)isa);
    return 0;
}

const char *nk_isa_name(nk_isa isa) {
    const nk_kernels *r = row_of(isa);
    if (r) return r->name;
    return isa == NK_ISA_NEON ? "neon" : "auto"; // reserved: no NEON kernels are written yet
}

const char *nk_cpu_name(void) {
    static char name[128];
    static atomic_int done = 0;
    if (atomic_load(&done)) return name;
    char buf[128] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *p = strchr(line, ':');
                if (p) {
                    p++;
                    while (*p == ' ' || *p == '\t') p++;
                    size_t n = strcspn(p, "\n");
                    if (n >= sizeof buf) n = sizeof buf - 1;
                    memcpy(buf, p, n);
                    buf[n] = 0;
                }
                break;
            }
        }
        fclose(f);
    }
    memcpy(name, buf, sizeof name);
    atomic_store(&done, 1);
    return name;
}

// ---------------------------------------------------------------------------------------------
// Cache blocks for each row of the kernel table, from the machine's caches.
// ---------------------------------------------------------------------------------------------
// KC, the depth of one rank-kc update, fixes the order in which each element of C is summed (C is
// rounded after every KC block). It is the same on every CPU and ISA, so a product gives the same
// bits on any x86-64 machine and with any microkernel (tested: GemmTests). The analytic model
// below asks for 256 on 48 KiB 12-way L1s (Intel Sapphire Rapids, AMD Zen 5) with the 8x32 tile
// and 128 on 32 KiB 8-way ones (Zen 4). 256 is also what the SGEMM was tuned to on a real Zen 4
// (89-94 % of peak there: a broadcast-A microkernel streams B from L1 with two loads per 16 FMAs
// and tolerates misses to L2). On a Zen 5 with the Zen 4 profile forced (best of 3, 1 thread),
// KC 128 vs 256: 213 vs 208 GFLOP/s at 512³, 204 vs 197 at 1024³, 156 vs 188 at 2048³ — no
// consistent gain to buy with the identity. NEURITE_GEMM_KC=model (or a number) trades the
// identity for the model's value.
#define NK_GEMM_KC 256

static int env_int(const char *name, int *model) {
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    if (model && strcmp(v, "model") == 0) { *model = 1; return 0; }
    return atoi(v);
}

static int64_t way_bytes(const nk_cache_level *l) {
    return l->bytes / (l->ways > 0 ? l->ways : 1);
}

// The analytic model of Low, Igual, Smith and Quintana-Ortí ("Analytical Modeling Is Enough for
// High-Performance BLIS", ACM TOMS 2016), in units of cache ways so associativity conflicts are
// accounted for:
//  L1: the B micro-panel (kc x nr) stays resident while A micro-panels (mr x kc) stream through;
//      A gets C_A = floor((W1 - 1) / (1 + nr/mr)) ways, B the nr/mr times as many, one way is left
//      for C: kc = C_A · way / (mr · 4 bytes).
//  L2: the packed A block (mc x kc) stays resident while B micro-panels stream through: B needs
//      C_B = ceil(kc·nr·4 / way) ways, one more for C. The paper gives A all the rest; we give it
//      half, mc = floor((W2 - 1 - C_B) / 2) · way / (kc · 4), rounded down to a multiple of mr,
//      because the L2 also takes the C tiles and the hardware prefetcher's run-ahead on B: on a
//      Zen 5 (1 MiB 16-way L2, 1 thread, best of 4 rounds) 2048³ ran at 189 GFLOP/s with mc 256,
//      448 or 640 and 183 with the paper's 896; 1024³ at 212 / 208 / 207 / 204.
//  L3: the packed B block (kc x nc) shares this core's part of the L3 with the A block:
//      nc = ((W3 - 1)/W3 · L3/sharers - mc·kc·4) / (kc · 4), rounded down to nr, at most
//      NK_GEMM_NC_MAX (wider blocks save only the repacking of A, already < 1 % of the work).
#define NK_GEMM_NC_MAX 4096
static void gemm_model(const nk_cache_info *ci, int overrides, nk_kernels *c) {
    const int mr = c->mr, nr = c->nr;
    const nk_cache_level *l1 = &ci->l1d, *l2 = &ci->l2, *l3 = &ci->l3;
    int ca = (int)((l1->ways - 1) / (1.0 + (double)nr / mr));
    if (ca < 1) ca = 1;
    int kc = (int)(ca * way_bytes(l1) / (mr * (int64_t)sizeof(float)));
    c->kc_model = NK_MAX(16, kc / 8 * 8);
    int model = 0;
    const int kc_env = overrides ? env_int("NEURITE_GEMM_KC", &model) : 0;
    c->kc = kc_env > 0 ? kc_env : model ? c->kc_model : NK_GEMM_KC;
    kc = c->kc;
    const int64_t w2 = way_bytes(l2);
    const int64_t cb = (kc * (int64_t)nr * 4 + w2 - 1) / w2;
    int64_t mc = NK_MAX(1, (l2->ways - 1 - cb) / 2) * w2 / (kc * 4);
    mc = NK_MAX((int64_t)mr, mc / mr * mr);
    const int mc_env = overrides ? env_int("NEURITE_GEMM_MC", NULL) : 0;
    if (mc_env > 0) mc = NK_MAX(mr, mc_env / mr * mr);
    c->mc = (int)mc;
    const int64_t share = l3->bytes > 0 ? l3->bytes / NK_MAX(1, l3->shared) : 0;
    int64_t nc = share > 0 ? ((share / NK_MAX(1, l3->ways)) * (l3->ways - 1) - mc * kc * 4) / (kc * 4)
                           : NK_GEMM_NC_MAX;
    nc = NK_MIN((int64_t)NK_GEMM_NC_MAX, NK_MAX((int64_t)nr, nc / nr * nr));
    const int nc_env = overrides ? env_int("NEURITE_GEMM_NC", NULL) : 0;
    if (nc_env > 0) nc = NK_MAX(nr, nc_env / nr * nr);
    c->nc = (int)nc;
}

static nk_kernels g_gemm_tuned[NK_ROWS];
static char g_gemm_text[NK_ROWS][256];
static pthread_once_t g_gemm_once = PTHREAD_ONCE_INIT;

static void gemm_table_init(void) {
    const nk_cache_info *ci = nk__cache_info();
    for (size_t i = 0; i < NK_ROWS; i++) {
        nk_kernels c = *g_rows[i];
        gemm_model(ci, 1, &c);
        g_gemm_tuned[i] = c;
        snprintf(g_gemm_text[i], sizeof g_gemm_text[i],
                 "%s %dx%d MC %d KC %d NC %d (model KC %d) | caches (%s): L1d %lldK/%d, L2 %lldK/%d, "
                 "L3 %lldK/%d shared by %d",
                 nk_isa_name(c.isa), c.mr, c.nr, c.mc, c.kc, c.nc, c.kc_model, ci->source,
                 (long long)(ci->l1d.bytes >> 10), ci->l1d.ways, (long long)(ci->l2.bytes >> 10),
                 ci->l2.ways, (long long)(ci->l3.bytes >> 10), ci->l3.ways, ci->l3.shared);
    }
}

static size_t gemm_row(nk_isa isa) {
    pthread_once(&g_gemm_once, gemm_table_init);
    if (isa == NK_ISA_AUTO) isa = nk_isa_active();
    if (!nk_isa_supported(isa)) isa = NK_ISA_REF;
    for (size_t i = 0; i < NK_ROWS; i++)
        if (g_gemm_tuned[i].isa == isa) return i;
    return 0;
}

const nk_kernels *nk_kernels_for(nk_isa isa) { return &g_gemm_tuned[gemm_row(isa)]; }

const char *nk_sgemm_blocking_text(nk_isa isa) { return g_gemm_text[gemm_row(isa)]; }

int nk_sgemm_blocking_for_caches(nk_isa isa, const char *profile, int out[6]) {
    nk_cache_info ci;
    if (!nk__cache_with_profile(profile, &ci)) return -1;
    nk_kernels c = *g_rows[gemm_row(isa)];
    gemm_model(&ci, 0, &c);
    out[0] = c.mr; out[1] = c.nr; out[2] = c.mc; out[3] = c.kc; out[4] = c.nc; out[5] = c.kc_model;
    return (int)c.isa;
}

int nk_sgemm_blocking(nk_isa isa, int out[5]) {
    const nk_kernels *c = nk_kernels_for(isa);
    out[0] = c->mr; out[1] = c->nr; out[2] = c->mc; out[3] = c->kc; out[4] = c->nc;
    return (int)c->isa;
}
