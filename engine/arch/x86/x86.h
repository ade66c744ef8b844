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

void eng__kern_install_avx2(struct eng__kern *k);
void eng__kern_install_avx512(struct eng__kern *k);

#endif
