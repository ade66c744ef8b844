/*
 * CPU feature detection (CPUID + XGETBV), done once.  The kernel table (kernels.c) picks SIMD
 * variants from these flags; builds never use -march=native.  An ISA counts only if the OS
 * saves its register state (XCR0), so a VM that hides AVX-512 state gets the AVX2 kernels.
 * SEEKD_ISA=ref|avx2|avx512 in the environment caps the level (for tests and benchmarks).
 */
#include "engine/quant.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static struct eng__cpu g_cpu;
static pthread_once_t g_cpu_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) || defined(__i386__)
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

static void cpu_init(void)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    int fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    int ymm_ok = (xcr0 & 6) == 6, zmm_ok = (xcr0 & 0xe6) == 0xe6;
    if (!avx || !ymm_ok)
        return;
    g_cpu.fma = fma;
    g_cpu.f16c = f16c;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        g_cpu.avx2 = (b >> 5) & 1;
        if (zmm_ok) {
            g_cpu.avx512f = (b >> 16) & 1;
            g_cpu.avx512bw = (b >> 30) & 1;
            g_cpu.avx512vl = (b >> 31) & 1;
            g_cpu.avx512vnni = (c >> 11) & 1;
        }
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
        g_cpu.avxvnni = (a >> 4) & 1;
        if (zmm_ok)
            g_cpu.avx512bf16 = (a >> 5) & 1;
    }
    const char *cap = getenv("SEEKD_ISA");
    if (cap && (!strcmp(cap, "ref") || !strcmp(cap, "avx2"))) {
        g_cpu.avx512f = g_cpu.avx512bw = g_cpu.avx512vl = g_cpu.avx512vnni = g_cpu.avx512bf16 = 0;
        if (!strcmp(cap, "ref"))
            g_cpu.avx2 = 0;
    }
#endif
}

const struct eng__cpu *eng__cpu(void)
{
    pthread_once(&g_cpu_once, cpu_init);
    return &g_cpu;
}
