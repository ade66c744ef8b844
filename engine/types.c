/* The table of tensor types seekd understands: block sizes and byte sizes from the ggml block
 * layouts (llama-cpp-facts.md 1.3), and the error strings of the engine. */
#include "engine/engine.h"

#include <string.h>

static const struct eng_type_info types[ENG_TYPE__COUNT] = {
    [ENG_TYPE_F32] = {"F32", 1, 4, 1},      [ENG_TYPE_F16] = {"F16", 1, 2, 1},
    [ENG_TYPE_Q4_0] = {"Q4_0", 32, 18, 1},  [ENG_TYPE_Q4_1] = {"Q4_1", 32, 20, 1},
    [ENG_TYPE_Q5_0] = {"Q5_0", 32, 22, 1},  [ENG_TYPE_Q5_1] = {"Q5_1", 32, 24, 1},
    [ENG_TYPE_Q8_0] = {"Q8_0", 32, 34, 1},  [ENG_TYPE_Q8_1] = {"Q8_1", 32, 36, 0},
    [ENG_TYPE_Q2_K] = {"Q2_K", 256, 84, 1}, [ENG_TYPE_Q3_K] = {"Q3_K", 256, 110, 1},
    [ENG_TYPE_Q4_K] = {"Q4_K", 256, 144, 1}, [ENG_TYPE_Q5_K] = {"Q5_K", 256, 176, 1},
    [ENG_TYPE_Q6_K] = {"Q6_K", 256, 210, 1}, [ENG_TYPE_Q8_K] = {"Q8_K", 256, 292, 0},
    [ENG_TYPE_BF16] = {"BF16", 1, 2, 1},
};

const struct eng_type_info *eng_type_info(int type)
{
    if (type < 0 || type >= ENG_TYPE__COUNT || !types[type].name)
        return NULL;
    return &types[type];
}

size_t eng_type_row_size(int type, int64_t n)
{
    const struct eng_type_info *t = eng_type_info(type);
    if (!t || n < 0 || n % t->blck)
        return 0;
    return (size_t)(n / t->blck) * t->bytes;
}

const char *eng_strerror(int err)
{
    switch (err) {
    case ENG_OK: return "ok";
    case ENG_EFORMAT: return "malformed file";
    case ENG_EUNSUPPORTED: return "unsupported";
    case ENG_ENOTFOUND: return "not found";
    case ENG_ESHAPE: return "wrong tensor shape";
    case ENG_ECANCELLED: return "cancelled";
    case ENG_EINCOMPATIBLE: return "incompatible models";
    case ENG_ECONTEXT: return "context full";
    case ENG_EINVAL: return "invalid argument";
    default: return err < 0 && err > -4096 ? strerror(-err) : "unknown error";
    }
}
