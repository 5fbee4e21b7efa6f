// CPU detection, done once: which ISA the kernels use.
#include "neurite.h"
#include "internal.h"

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
