/*
 * Internal to engine/: the x86 SIMD kernel variants.  Files ending in _avx2.c are compiled with
 * -mavx2 -mfma -mf16c, files ending in _avx512.c additionally with AVX-512 F/BW/VL/DQ/VNNI/BF16
 * (Makefile isa_flags); nothing in them may run before kernels.c has checked CPUID.  Each
 * install function overwrites the entries of the kernel table it has a variant for; the rest
 * keep their _ref (the arch-fallback rule: a missing variant is the reference).
 */
#ifndef SEEKD_ENGINE_ARCH_X86_H
#define SEEKD_ENGINE_ARCH_X86_H

#include "engine/quant.h"

/* Dispatch a token count nt (1..ENG__NT_MAX) to a kernel instantiated for that count as a
 * compile-time constant, so its per-token loops unroll: call(N) expands to the call for N.
 * The ENG__NT_MAX case (17) is the default. */
#define NT_SWITCH(call)                                                        \
    switch (nt) {                                                              \
    case 1: call(1); break;                                                    \
    case 2: call(2); break;                                                    \
    case 3: call(3); break;                                                    \
    case 4: call(4); break;                                                    \
    case 5: call(5); break;                                                    \
    case 6: call(6); break;                                                    \
    case 7: call(7); break;                                                    \
    case 8: call(8); break;                                                    \
    case 9: call(9); break;                                                    \
    case 10: call(10); break;                                                  \
    case 11: call(11); break;                                                  \
    case 12: call(12); break;                                                  \
    case 13: call(13); break;                                                  \
    case 14: call(14); break;                                                  \
    case 15: call(15); break;                                                  \
    case 16: call(16); break;                                                  \
    default: call(17); break;                                                  \
    }

void eng__kern_install_avx2(struct eng__kern *k);
void eng__kern_install_avx512(struct eng__kern *k);

#endif
