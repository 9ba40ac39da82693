/* Windows of the analysed text: shard windows (as lm_evaluate) or id chunks (as lm_score_ids). */
#include "analysis/lm/analyze.h"
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

/* Units (docstats.h) of source s: its shard's documents, or its chunks (an id source's file is one
 * document; its chunks are scored independently). */
long an_src_units(const AnalyzeData *d, int s, int T) {
    if (!d->ids) return shard_num_docs(d->src[s]);
    return an_src_windows(d, s, T) + (an_src_tail(d, s, T) > 0);
}

void an_src_window_units(const AnalyzeData *d, int s, long w, int T, int len, long base,
                         int32_t *units) {
    if (d->ids) {
        for (int t = 0; t < len; t++) units[t] = (int32_t)(base + w);
        return;
    }
    const TokenShard *sh = d->src[s];
    long lo = 0, hi = shard_num_docs(sh) - 1, first = w * T;
    while (lo < hi) { /* last document starting at or before the window's first token */
        long mid = (lo + hi + 1) / 2;
        if (shard_doc_start(sh, mid) <= first)
            lo = mid;
        else
            hi = mid - 1;
    }
    for (int t = 0; t < len; t++) {
        while (lo + 1 < shard_num_docs(sh) && shard_doc_start(sh, lo + 1) <= first + t) lo++;
        units[t] = (int32_t)(base + lo);
    }
}

/* Windows taken from a source: evenly spread, like lm_evaluate's subset. An id source's short last
 * chunk is analysed (alone, as one batch) when every chunk is. */
AnSrcPlan an_src_plan(const AnalyzeData *d, int s, int T, int B, long budget) {
    AnSrcPlan q = {.T = T, .B = B, .all = an_src_windows(d, s, T)};
    q.nw = budget > 0 && budget < q.all ? budget : q.all;
    q.tail = budget <= 0 || budget > q.all ? an_src_tail(d, s, T) : 0;
    q.batches = (q.nw + B - 1) / B + (q.tail > 0);
    return q;
}

void an_batch_shape(const AnSrcPlan *q, long bi, int *b, int *Tb) {
    if (bi < q->batches - (q->tail > 0))
        *b = (int)(q->nw - bi * q->B < q->B ? q->nw - bi * q->B : q->B), *Tb = q->T;
    else
        *b = 1, *Tb = q->tail;
}

void an_fill_batch(const AnalyzeData *d, int s, const AnSrcPlan *q, long bi, long unit0,
                   const AnBatchBufs *f) {
    int b, Tb, T = q->T;
    an_batch_shape(q, bi, &b, &Tb);
    if (bi == q->batches - 1 && q->tail > 0) { /* the short last chunk */
        an_src_window(d, s, q->all, T, f->in, f->tg, f->dom);
        if (f->units) an_src_window_units(d, s, q->all, T, Tb, unit0, f->units);
        return;
    }
    for (int i = 0; i < b; i++) {
        long w = (bi * q->B + i) * q->all / q->nw, o = (long)i * T;
        an_src_window(d, s, w, T, f->in + o, f->tg + o, f->dom + o);
        if (f->units) an_src_window_units(d, s, w, T, T, unit0, f->units + o);
    }
}
