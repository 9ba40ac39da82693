/* A tiny LM for analysis tests: d_model 32, 2 heads, expert width 32, vocab 64, seq_len 16, with
 * the given router kind, E experts, top-k and layer count (inference only, no gradients). */
#pragma once
#include "model/lm.h"

void test_small_lm(LmModel *m, const char *router, int E, int k, int n_layer);
