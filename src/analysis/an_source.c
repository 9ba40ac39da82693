/* Windows of the analysed text: shard windows (as lm_evaluate) or id chunks (as lm_score_ids). */
#include "analysis/analyze.h"
#include <string.h>

long an_src_windows(const AnalyzeData *d, int s, int T) {
    if (!d->ids) return shard_num_windows(d->src[s], T);
    return d->n_ids[s] / T;
}

int an_src_tail(const AnalyzeData *d, int s, int T) {
    if (!d->ids) return 0;
    int r = (int)(d->n_ids[s] % T);
    return r >= 2 ? r : 0;
}

int an_src_window(const AnalyzeData *d, int s, long w, int T, int32_t *in, int32_t *tg,
                  int32_t *dom) {
    if (!d->ids) {
        shard_window(d->src[s], w, T, in, tg, dom);
        for (int t = 0; t < T; t++) dom[t] += d->base[s];
        return T;
    }
    long c0 = w * T, n = d->n_ids[s];
    int len = (int)(n - c0 < T ? n - c0 : T);
    const int32_t *ids = d->ids[s] + c0;
    memcpy(in, ids, sizeof(int32_t) * len);
    for (int t = 0; t < len; t++) tg[t] = t + 1 < len ? ids[t + 1] : -1, dom[t] = d->base[s];
    return len;
}
