// The cache hierarchy of the CPU we run on, read once: the input of the SGEMM's block-size model
// (gemm_blocking.c). Sources, first that answers: NEURITE_CACHE (a profile, to reproduce another
// machine's blocking here), Linux sysfs, CPUID (leaf 4 on Intel, 0x8000001D on AMD), then a
// conservative default. A level the override does not name keeps the machine's value.
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static nk_cache_info g_cache;
static pthread_once_t g_cache_once = PTHREAD_ONCE_INIT;

// Ways a cache of `bytes` most likely has when a profile names only its size: a virtually indexed
// L1 holds 4 KiB (one page) per way, so 32 KiB -> 8, 48 KiB -> 12; L2 and L3 are 16-way on every
// recent x86 core but Zen 4's L2 (8-way: give it as l2:1M/8).
static int guess_ways(int level, int64_t bytes) {
    if (level == 1) return (int)NK_MAX(2, bytes / 4096);
    return 16;
}

static int read_long(const char *path, long *out) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int ok = fscanf(f, "%ld", out) == 1;
    fclose(f);
    return ok;
}

// "48K", "2M", "1048576" -> bytes (0 when unreadable).
static int64_t parse_size(const char *s, char **end) {
    double v = strtod(s, end);
    if (*end == s) return 0;
    switch (**end) {
    case 'k': case 'K': v *= 1024; (*end)++; break;
    case 'm': case 'M': v *= 1024 * 1024; (*end)++; break;
    case 'g': case 'G': v *= 1024.0 * 1024 * 1024; (*end)++; break;
    default: break;
    }
    if (**end == 'i' || **end == 'B') (*end)++; // "KiB", "KB"
    if (**end == 'B') (*end)++;
    return (int64_t)v;
}

// Number of CPUs in a sysfs cpu list ("0-3,8-11").
static int count_cpu_list(const char *s) {
    int n = 0;
    while (*s) {
        char *e;
        long a = strtol(s, &e, 10);
        if (e == s) break;
        long b = a;
        if (*e == '-') { s = e + 1; b = strtol(s, &e, 10); }
        n += (int)(b - a + 1);
        s = e;
        if (*s == ',') s++;
        else break;
    }
    return n > 0 ? n : 1;
}

static int from_sysfs(nk_cache_info *c) {
    int found = 0;
    for (int i = 0; i < 8; i++) {
        char path[128], buf[64];
        long level = 0, ways = 0, line = 64;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        if (!read_long(path, &level)) break;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        int typed = fgets(buf, sizeof buf, f) != NULL;
        fclose(f);
        if (!typed || strncmp(buf, "Instruction", 11) == 0) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        f = fopen(path, "r");
        if (!f) continue;
        int64_t size = 0;
        if (fgets(buf, sizeof buf, f)) { char *e; size = parse_size(buf, &e); }
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/ways_of_associativity", i);
        read_long(path, &ways);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/coherency_line_size", i);
        read_long(path, &line);
        int shared = 1;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/shared_cpu_list", i);
        f = fopen(path, "r");
        if (f) { if (fgets(buf, sizeof buf, f)) shared = count_cpu_list(buf); fclose(f); }
        if (level < 1 || level > 3 || size <= 0) continue;
        nk_cache_level *l = level == 1 ? &c->l1d : level == 2 ? &c->l2 : &c->l3;
        l->bytes = size;
        l->ways = ways > 0 ? (int)ways : guess_ways((int)level, size);
        l->line = line > 0 ? (int)line : 64;
        l->shared = shared;
        found |= 1 << (level - 1);
    }
    return (found & 3) == 3; // at least L1d and L2
}

static int from_cpuid(nk_cache_info *c) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, cx, d;
    if (!__get_cpuid(0, &a, &b, &cx, &d)) return 0;
    const int amd = b == 0x68747541; // "Auth"enticAMD
    const unsigned leaf = amd ? 0x8000001D : 4;
    if (amd) { if (!__get_cpuid(0x80000000, &a, &b, &cx, &d) || a < leaf) return 0; }
    else if (a < 4) return 0;
    int found = 0;
    for (unsigned i = 0; i < 16; i++) {
        __cpuid_count(leaf, i, a, b, cx, d);
        const unsigned type = a & 31, level = (a >> 5) & 7;
        if (type == 0) break;
        if (type == 2 || level < 1 || level > 3) continue; // instruction cache
        nk_cache_level *l = level == 1 ? &c->l1d : level == 2 ? &c->l2 : &c->l3;
        l->ways = (int)((b >> 22) + 1);
        l->line = (int)((b & 0xFFF) + 1);
        l->bytes = (int64_t)l->ways * (((b >> 12) & 0x3FF) + 1) * l->line * ((int64_t)cx + 1);
        l->shared = (int)(((a >> 14) & 0xFFF) + 1);
        found |= 1 << (level - 1);
    }
    return (found & 3) == 3;
#else
    (void)c;
    return 0;
#endif
}

// NEURITE_CACHE=l1d:48K/12,l2:2M/16,l3:32M/16 (ways optional; levels optional). Returns the
// number of levels it set.
static int parse_profile(nk_cache_info *c, const char *s) {
    int set = 0;
    while (s && *s) {
        while (*s == ' ' || *s == ',') s++;
        int level = 0;
        if (strncmp(s, "l1d:", 4) == 0 || strncmp(s, "L1d:", 4) == 0) { level = 1; s += 4; }
        else if (strncmp(s, "l1:", 3) == 0 || strncmp(s, "L1:", 3) == 0) { level = 1; s += 3; }
        else if ((s[0] == 'l' || s[0] == 'L') && (s[1] == '2' || s[1] == '3') && s[2] == ':') {
            level = s[1] - '0';
            s += 3;
        } else break;
        char *e;
        int64_t bytes = parse_size(s, &e);
        if (bytes <= 0) break;
        int ways = 0;
        if (*e == '/') { ways = (int)strtol(e + 1, &e, 10); }
        nk_cache_level *l = level == 1 ? &c->l1d : level == 2 ? &c->l2 : &c->l3;
        l->bytes = bytes;
        l->ways = ways > 0 ? ways : guess_ways(level, bytes);
        if (l->line <= 0) l->line = 64;
        if (l->shared <= 0) l->shared = 1;
        set++;
        s = e;
    }
    return set;
}

static void cache_init(void) {
    nk_cache_info c = {
        // A small, common machine: what we assume when neither sysfs nor CPUID answers.
        .l1d = {32 << 10, 8, 64, 1}, .l2 = {1 << 20, 16, 64, 1}, .l3 = {8 << 20, 16, 64, 4},
        .source = "default",
    };
    if (from_sysfs(&c)) c.source = "sysfs";
    else if (from_cpuid(&c)) c.source = "cpuid";
    const char *env = getenv("NEURITE_CACHE");
    if (env && *env && parse_profile(&c, env) > 0) c.source = "NEURITE_CACHE";
    g_cache = c;
}

const nk_cache_info *nk__cache_info(void) {
    pthread_once(&g_cache_once, cache_init);
    return &g_cache;
}

int nk__cache_with_profile(const char *profile, nk_cache_info *out) {
    *out = *nk__cache_info();
    if (!profile || !*profile) return 1;
    out->source = "profile";
    return parse_profile(out, profile) > 0;
}
