// CPU detection, done once: which ISA the kernels use.
#include "neurite.h"
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static atomic_int g_active = -2; // -2 = not yet chosen

int nk_isa_supported(nk_isa isa) {
    switch (isa) {
    case NK_ISA_REF: return 1;
#if defined(__x86_64__) || defined(__i386__)
    case NK_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case NK_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("fma");
#endif
#if defined(__aarch64__)
    case NK_ISA_NEON: return 1;
#endif
    default: return 0;
    }
}

static nk_isa best_isa(void) {
    if (nk_isa_supported(NK_ISA_AVX512)) return NK_ISA_AVX512;
    if (nk_isa_supported(NK_ISA_AVX2)) return NK_ISA_AVX2;
    if (nk_isa_supported(NK_ISA_NEON)) return NK_ISA_NEON;
    return NK_ISA_REF;
}

static nk_isa choose(void) {
    const char *env = getenv("NEURITE_ISA");
    if (env && *env && strcmp(env, "auto") != 0) {
        nk_isa want = NK_ISA_REF;
        if (strcmp(env, "avx512") == 0) want = NK_ISA_AVX512;
        else if (strcmp(env, "avx2") == 0) want = NK_ISA_AVX2;
        else if (strcmp(env, "neon") == 0) want = NK_ISA_NEON;
        else if (strcmp(env, "ref") == 0) want = NK_ISA_REF;
        else return best_isa();
        return nk_isa_supported(want) ? want : best_isa();
    }
    return best_isa();
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
    switch (isa) {
    case NK_ISA_REF: return "ref";
    case NK_ISA_AVX2: return "avx2";
    case NK_ISA_AVX512: return "avx512";
    case NK_ISA_NEON: return "neon";
    default: return "auto";
    }
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
// SGEMM kernel table: microkernel + register tile + cache blocks per ISA.
// ---------------------------------------------------------------------------------------------
// Cache sizes of the machine these were tuned on (AMD EPYC Zen 4 under KVM): L1d 32 KiB and
// L2 1 MiB per core, L3 32 MiB shared. The B micro-panel (kc x nr) is reused by every A micro-panel
// of the block and must stay in L1; the packed A block (mc x kc) is reused by every B micro-panel
// and lives in L2; the packed B block (kc x nc) lives in L3. See gemm.c for measurements.
static const nk_gemm_config g_gemm_table[] = {
    {NK_ISA_REF, nk_f32_gemm_ukernel_4x16__ref, 4, 16, 256, 256, 2048},
#if defined(__x86_64__)
    {NK_ISA_AVX2, nk_f32_gemm_ukernel_6x16__avx2, 6, 16, 240, 256, 2048},
    {NK_ISA_AVX512, nk_f32_gemm_ukernel_8x32__avx512, 8, 32, 256, 256, 2048},
#endif
};

static nk_gemm_config g_gemm_tuned[sizeof g_gemm_table / sizeof g_gemm_table[0]];
static pthread_once_t g_gemm_once = PTHREAD_ONCE_INIT;

// NEURITE_GEMM_BLOCKS=mc,kc,nc overrides the cache blocks of every row (a tuning aid; rounded to
// multiples of MR / NR). Read once.
static void gemm_table_init(void) {
    const size_t n = sizeof g_gemm_table / sizeof g_gemm_table[0];
    long mc = 0, kc = 0, nc = 0;
    const char *env = getenv("NEURITE_GEMM_BLOCKS");
    if (env) sscanf(env, "%ld,%ld,%ld", &mc, &kc, &nc);
    for (size_t i = 0; i < n; i++) {
        nk_gemm_config c = g_gemm_table[i];
        if (mc > 0) c.mc = (int)NK_MAX(c.mr, mc / c.mr * c.mr);
        if (kc > 0) c.kc = (int)kc;
        if (nc > 0) c.nc = (int)NK_MAX(c.nr, nc / c.nr * c.nr);
        g_gemm_tuned[i] = c;
    }
}

const nk_gemm_config *nk_gemm_config_for(nk_isa isa) {
    pthread_once(&g_gemm_once, gemm_table_init);
    if (isa == NK_ISA_AUTO) isa = nk_isa_active();
    if (!nk_isa_supported(isa)) isa = NK_ISA_REF;
    const size_t n = sizeof g_gemm_table / sizeof g_gemm_table[0];
    for (size_t i = 0; i < n; i++)
        if (g_gemm_tuned[i].isa == isa) return &g_gemm_tuned[i];
    return &g_gemm_tuned[0];
}

int nk_sgemm_blocking(nk_isa isa, int out[5]) {
    const nk_gemm_config *c = nk_gemm_config_for(isa);
    out[0] = c->mr; out[1] = c->nr; out[2] = c->mc; out[3] = c->kc; out[4] = c->nc;
    return (int)c->isa;
}
