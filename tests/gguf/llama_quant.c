/* llama-quantize through the oracle's libllama (llama_model_quantize), so the tests can quantise
 * with the npm package's prebuilt libraries instead of building llama.cpp's tool (~17 min):
 *   llama_quant IN.gguf OUT.gguf TYPE [THREADS]
 * TYPE is one of the names llama-quantize takes for the types moelens reads. Same quantisation as
 * the tool: it is the very function llama-quantize calls. */
#include "oracle_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    enum llama_ftype ftype;
} TYPES[] = {
    {"F32", LLAMA_FTYPE_ALL_F32},          {"F16", LLAMA_FTYPE_MOSTLY_F16},
    {"BF16", LLAMA_FTYPE_MOSTLY_BF16},     {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
    {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},     {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S},
    {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"Q5_K_S", LLAMA_FTYPE_MOSTLY_Q5_K_S},
    {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},
};

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: llama_quant IN.gguf OUT.gguf TYPE [THREADS]\n");
        return 2;
    }
    int t = -1;
    for (int i = 0; i < (int)(sizeof TYPES / sizeof TYPES[0]); i++)
        if (!strcmp(argv[3], TYPES[i].name)) t = i;
    if (t < 0) return fprintf(stderr, "llama_quant: unknown type '%s'\n", argv[3]), 2;
    oracle_start(0);
    struct llama_model_quantize_params p = llama_model_quantize_default_params();
    p.ftype = TYPES[t].ftype;
    p.nthread = argc > 4 ? atoi(argv[4]) : 2;
    if (llama_model_quantize(argv[1], argv[2], &p)) {
        fprintf(stderr, "llama_quant: quantising %s to %s failed\n", argv[1], argv[3]);
        return 1;
    }
    return 0;
}
