/* Per-expert logit lens (docs/analysis.md §2): for MoE layer l, token t and each selected expert i,
 * decode h = r + g_i·o_i (r: residual entering the FFN block, o_i: the expert's unweighted output,
 * g_i its combine weight) through the final norm and the unembedding, and compare with the model's
 * final next-token distribution. Restricted to a token subsample: each decode is a V×C product. */
#include "analysis/lm/lens.h"
#include "stats/stats.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "dist/dist.h"
#include "nn/wmat.h"
#include "nn/linear.h"
#include "nn/fastexp.h"
#include "nn/norm.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* floats of [rows, V] logits: at least 16 MiB (83 rows at a 50k vocabulary), or 1/64 of the
 * model's bytes where that is more (file + 10 % holds either way). Each GEMM dequantises the whole
 * head of a quantised file, so fewer rows cost time: on the 50k Q4_K_M bench file 41-row chunks
 * made the lens 25 % slower than the 256 rows (49 MiB) of before; at real sizes (a 3.7 GiB file
 * and up) the 1/64 share gives the full LENS_CHUNK rows even at a 152k vocabulary. */
#define LENS_LOGITS (4L << 20)
#define LENS_TOP 5

static long logit_budget(const LmModel *m) {
    long model_bytes = m->gguf ? (long)m->gguf->size : m->n_params * (long)sizeof(float);
    long share = model_bytes / 64 / (long)sizeof(float);
    return share > LENS_LOGITS ? share : LENS_LOGITS;
}

static int scratch_open(LensAcc *z);

static void rows_header(AtomicFile *af) {
    afile_printf(af, "pos,domain,layer,slot,expert,weight,final_pred,input_token,p_final_pred,kl");
    for (int t = 0; t < LENS_TOP; t++) afile_printf(af, ",top%d", t + 1);
    afile_printf(af, "\n");
}

int lens_init(LensAcc *z, const LmModel *m, long lens_tokens, long total_tokens, const char *dir) {
    memset(z, 0, sizeof *z);
    z->L = an_moe_layers(m, z->layers);
    z->V = m->cfg.vocab_size, z->cap = lens_tokens;
    if (z->L) {
        const MoeConfig *f = &m->layer_ffn[z->layers[0]];
        z->EZ = f->n_experts + f->n_zero, z->k = lm_route_k(m, z->layers[0]);
    }
    z->stride = lens_tokens > 0 && total_tokens > lens_tokens ? total_tokens / lens_tokens : 1;
    long LE = (long)z->L * z->EZ + 1;
    z->kl = ml_alloc(sizeof(double) * LE), z->p_pred = ml_alloc(sizeof(double) * LE);
    z->agree = ml_alloc(sizeof(double) * LE), z->cnt = ml_alloc(sizeof(double) * LE);
    long rows = logit_budget(m) / (z->V > 0 ? z->V : 1);
    z->chunk = rows > LENS_CHUNK ? LENS_CHUNK : rows < 1 ? 1 : (int)rows;
    z->scratch_h = ml_alloc_floats((long)z->chunk * m->cfg.d_model);
    z->scratch_n = ml_alloc_floats((long)z->chunk * m->cfg.d_model);
    z->scratch_logits = ml_alloc_floats((long)z->chunk * z->V);
    z->fd = -1, z->dir = dir;
    int rc = lens_tokens > 0 && scratch_open(z) < 0; /* now, not after a batch's forward */
    if (!rc && dir) {
        char *path = ml_path_join(dir, "lens_tokens.csv");
        rc = afile_open(&z->rows_file, path) != 0;
        ml_free(path);
        z->streaming = !rc;
        if (!rc) rows_header(&z->rows_file);
    }
    if (rc) lens_free(z);
    return rc ? -1 : 0;
}

/* The captures' scratch file, unlinked as soon as it exists: it goes when the process does. */
static int scratch_open(LensAcc *z) {
    const char *base = z->dir ? z->dir : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *tpl = ml_path_join(base, ".lens_scratch.XXXXXX");
    z->fd = mkstemp(tpl);
    if (z->fd >= 0)
        unlink(tpl);
    else
        z->failed = ml_error("analyze: lens: cannot create a scratch file in %s: %s", base,
                             strerror(errno));
    ml_free(tpl);
    return z->fd;
}

/* n floats at float offset off of the scratch file, written (write = 1) or read; a short or failed
 * transfer marks the lens failed (the first error is the message). */
static void scratch_io(LensAcc *z, int write, float *p, long n, long off) {
    char *b = (char *)p;
    size_t left = sizeof(float) * (size_t)n;
    off_t at = (off_t)off * (off_t)sizeof(float);
    while (left && !z->failed) {
        ssize_t r = write ? pwrite(z->fd, b, left, at) : pread(z->fd, b, left, at);
        if (r <= 0)
            z->failed = ml_error("analyze: lens: scratch file %s failed: %s",
                                 write ? "write" : "read", r < 0 ? strerror(errno) : "short");
        else
            b += r, left -= (size_t)r, at += r;
    }
}

static void rows_printf(LensAcc *z, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rows_printf(LensAcc *z, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        char *end = z->rows ? z->rows + z->rows_len : NULL; /* first call: only measures */
        int n = vsnprintf(end, z->rows_cap - z->rows_len, fmt, ap);
        va_end(ap);
        if (z->rows && (size_t)n < z->rows_cap - z->rows_len) {
            z->rows_len += n;
            return;
        }
        z->rows_cap = z->rows_cap * 2 + 4096 + n;
        z->rows = realloc(z->rows, z->rows_cap);
    }
}

static int argmax(const float *p, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[b]) b = i;
    return b;
}

typedef struct {
    int pred, top[LENS_TOP]; /* model's final prediction; lens top tokens, best first */
    double kl, p_pred;       /* KL(final ‖ lens); lens probability of the final prediction */
} LensDecode;

/* KL of one row of lens logits from the final distribution pf (stat_kl_logits: pf's Σ p log p and
 * its prediction pred computed once per token), then its softmax (in place) and the top tokens in
 * one pass (insertion into a short sorted list). */
static void decode_row(LensDecode *d, float *lg, const float *pf, double plogp, int pred, int V) {
    float mx = lg[argmax(lg, V)];
    double s = 0;
    for (int v = 0; v < V; v++) s += fast_expf(lg[v] - mx);
    d->kl = stat_kl_logits(pf, plogp, lg, V, mx + log(s));
    float inv = (float)(1.0 / s);
    for (int v = 0; v < V; v++) lg[v] = fast_expf(lg[v] - mx) * inv;
    d->pred = pred;
    d->p_pred = lg[d->pred];
    int n = 0;
    for (int v = 0; v < V; v++) {
        if (n == LENS_TOP && lg[v] <= lg[d->top[n - 1]]) continue;
        int i = n < LENS_TOP ? n++ : n - 1;
        while (i > 0 && lg[v] > lg[d->top[i - 1]]) d->top[i] = d->top[i - 1], i--;
        d->top[i] = v;
    }
}

/* The sampled tokens: global positions that are multiples of the stride, the first cap of them
 * (the same set whichever rank runs a batch). In a batch at offset o, row n is the sel_index-th
 * sampled row (when sampled). */
static long multiples_below(long x, long stride) {
    return (x + stride - 1) / stride;
}
static long sel_index(const LensAcc *z, const AnBatch *b, long n) {
    return multiples_below(b->offset + n, z->stride) - multiples_below(b->offset, z->stride);
}
static long room(const LensAcc *z, const AnBatch *b) { /* of the cap, after the batches before */
    long before = multiples_below(b->offset, z->stride);
    return before < z->cap ? z->cap - before : 0;
}
static long sel_count(const LensAcc *z, const AnBatch *b) {
    long all = sel_index(z, b, b->N), left = room(z, b);
    return all < left ? all : left;
}
static int sampled(const LensAcc *z, const AnBatch *b, long n, long *si) {
    if ((b->offset + n) % z->stride) return 0;
    *si = sel_index(z, b, n);
    return *si < room(z, b);
}

void lens_layer(LensAcc *z, const AnBatch *b, const LmFfnRows *rows) {
    int l = an_moe_index(z->layers, z->L, rows->layer), C = b->m->cfg.d_model;
    long nsel = sel_count(z, b);
    if (l < 0 || nsel <= 0 || z->fd < 0 || z->failed) return;
    const MoeActs *a = rows->moe;
    if (nsel > z->sel_cap || a->k != z->bk) { /* sized at the batch's first layer */
        ml_free(z->sel_w), ml_free(z->sel_e), ml_free(z->slot_h), ml_free(z->pend_pf);
        ml_free(z->pend_plogp), ml_free(z->pend_pred);
        z->slot_h = ml_alloc_floats((long)a->k * C);
        z->pend_cap = z->chunk / (z->L * a->k) + 2; /* tokens a chunk's rows span, and one more */
        z->pend_pf = ml_alloc_floats((long)z->pend_cap * z->V);
        z->pend_plogp = ml_alloc(sizeof(double) * z->pend_cap);
        z->pend_pred = ml_alloc(sizeof(int) * z->pend_cap);
        z->sel_cap = nsel > z->sel_cap ? nsel : z->sel_cap, z->bk = a->k;
        long slots = z->sel_cap * z->L * z->bk;
        z->sel_w = ml_alloc_floats(slots), z->sel_e = ml_alloc(sizeof(int32_t) * slots);
    }
    float *h = z->slot_h;
    for (int i = 0; i < rows->n; i++) {
        long si;
        if (!sampled(z, b, rows->row0 + i, &si)) continue;
        const float *res = rows->resid + (long)i * C;
        for (int j = 0; j < a->k; j++) {
            long slot = (si * z->L + l) * z->bk + j, s = (long)i * a->k + j;
            const float *o = a->expert_out + s * C;
            float w = a->topk_w[s];
            for (int c = 0; c < C; c++) h[(long)j * C + c] = res[c] + w * o[c];
            z->sel_w[slot] = w, z->sel_e[slot] = a->topk_idx[s];
        }
        scratch_io(z, 1, h, (long)a->k * C, (si * z->L + l) * z->bk * C);
    }
}

/* Decodes nr consecutive capture slots (rows, in slot order: token, layer, slot), each against
 * its token's final distribution (row tok[r] of pend_pf). */
static void decode_chunk(LensAcc *z, const AnBatch *b, const LensRow *rows, const int *tok,
                         int nr) {
    LmModel *m = b->m;
    int C = m->cfg.d_model, V = z->V;
    long slot0 = ((long)rows[0].s * z->L + rows[0].l) * z->bk + rows[0].j;
    scratch_io(z, 0, z->scratch_h, (long)nr * C, slot0 * C);
    if (z->failed) return;
    float *mean = ml_alloc_floats(nr), *rstd = ml_alloc_floats(nr);
    if (m->cfg.block == BLOCK_GPT2)
        layernorm_forward(z->scratch_n, mean, rstd, z->scratch_h, m->params.lnf_w, m->params.lnf_b,
                          nr, C, m->cfg.norm_eps);
    else
        rmsnorm_forward(z->scratch_n, rstd, z->scratch_h, m->params.lnf_w, nr, C, m->cfg.norm_eps);
    ml_free(mean), ml_free(rstd);
    wref_forward(z->scratch_logits, z->scratch_n,
                 wref_pick(m->params.lm_head, m->params.q_lm_head, 0), NULL, nr, C, V);
    LensDecode dec[LENS_CHUNK];
#pragma omp parallel for schedule(dynamic, 4)
    for (int r = 0; r < nr; r++) /* the V-wide work per row, in parallel; results kept in order */
        decode_row(&dec[r], z->scratch_logits + (long)r * V, z->pend_pf + (long)tok[r] * V,
                   z->pend_plogp[tok[r]], z->pend_pred[tok[r]], V);
    for (int r = 0; r < nr; r++) {
        const LensDecode *d = &dec[r];
        int l = rows[r].l;
        long slot = slot0 + r;
        int e = z->sel_e[slot];
        long le = (long)l * z->EZ + e;
        z->kl[le] += d->kl, z->p_pred[le] += d->p_pred, z->agree[le] += d->top[0] == d->pred;
        z->cnt[le] += 1;
        if (z->top1_n == z->top1_cap) {
            z->top1_cap = z->top1_cap * 2 + 1024;
            z->top1_keys = realloc(z->top1_keys, sizeof(int64_t) * z->top1_cap);
        }
        z->top1_keys[z->top1_n++] = le * V + d->top[0];
        rows_printf(z, "%ld,%d,%d,%d,%d,%.6f,%d,%d,%.6g,%.6g", b->offset + rows[r].n,
                    b->domains[rows[r].n], z->layers[l], rows[r].j, e, z->sel_w[slot], d->pred,
                    b->tokens[rows[r].n], d->p_pred, d->kl);
        for (int t = 0; t < LENS_TOP; t++) rows_printf(z, ",%d", d->top[t]);
        rows_printf(z, "\n");
    }
}

/* The pending rows, decoded as one GEMM: chunks run across head blocks (a 128-row block holds only
 * a few sampled tokens at the defaults), each token's final distribution copied aside until its
 * last row is decoded. */
static void flush_rows(LensAcc *z, const AnBatch *b) {
    if (!z->nr) return;
    decode_chunk(z, b, z->pend, z->pend_tok, z->nr);
    z->nr = 0;
}

/* The sampled tokens among these output rows (row0.. of the batch, probs their final
 * distributions): every layer and slot of each, in slot order (the sampled tokens of a batch have
 * consecutive indices, so a chunk is one read of the scratch file). */
void lens_head(LensAcc *z, const AnBatch *b, long row0, int n, const float *probs) {
    if (sel_count(z, b) <= 0 || z->fd < 0 || z->failed) return;
    for (int i = 0; i < n; i++) {
        long si;
        if (!sampled(z, b, row0 + i, &si)) continue;
        /* a free slot: the chunk's tokens so far hold the others (pend_cap > tokens a chunk spans)
         */
        int slot = z->nr ? (z->pend_tok[z->nr - 1] + 1) % z->pend_cap : 0;
        float *pf = z->pend_pf + (long)slot * z->V;
        memcpy(pf, probs + (long)i * z->V, sizeof(float) * z->V);
        z->pend_plogp[slot] = stat_sum_plogp(pf, z->V), z->pend_pred[slot] = argmax(pf, z->V);
        for (int l = 0; l < z->L; l++)
            for (int j = 0; j < z->bk; j++) {
                z->pend[z->nr] = (LensRow){(int)(row0 + i), (int)si, l, j};
                z->pend_tok[z->nr++] = slot;
                if (z->nr == z->chunk) flush_rows(z, b);
            }
    }
}

void lens_accumulate(LensAcc *z, const AnBatch *b) {
    if (!z->failed) flush_rows(z, b); /* the batch's last rows */
    z->nr = 0;
    long nsel = sel_count(z, b);
    z->n += nsel > 0 ? nsel : 0;
}

void lens_round(LensAcc *z) {
    long bytes; /* rank 0's rows since the last round come first: it re-appends them */
    char *all =
        dist_gather_bytes(z->rows + z->rows_mark, (long)(z->rows_len - z->rows_mark), &bytes, 0);
    z->rows_len = z->rows_mark;
    if (all && bytes && z->streaming) {
        if (afile_write(&z->rows_file, all, (size_t)bytes) && !z->failed) z->failed = -1;
    } else if (all && bytes) {
        rows_printf(z, "%.*s", (int)bytes, all);
    }
    z->rows_mark = z->rows_len;
    ml_free(all);
}

void lens_reduce(LensAcc *z) {
    long LE = (long)z->L * z->EZ;
    dist_sum_f64(z->kl, LE), dist_sum_f64(z->p_pred, LE);
    dist_sum_f64(z->agree, LE), dist_sum_f64(z->cnt, LE);
    double n = (double)z->n;
    dist_sum_f64(&n, 1);
    z->n = (long)n;
    long bytes; /* every decode's key; lens_write sorts them, so their order does not matter */
    int64_t *keys = dist_gather_bytes(z->top1_keys, sizeof(int64_t) * z->top1_n, &bytes, 0);
    free(z->top1_keys);
    z->top1_keys = NULL, z->top1_n = z->top1_cap = 0;
    if (keys) {
        z->top1_n = z->top1_cap = bytes / (long)sizeof(int64_t);
        z->top1_keys = malloc(sizeof(int64_t) * (z->top1_n + 1));
        memcpy(z->top1_keys, keys, (size_t)bytes);
        ml_free(keys);
    }
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static int utf8_valid(const unsigned char *s, size_t n) {
    int len = s[0] < 0x80         ? 1
              : (s[0] >> 5) == 6  ? 2
              : (s[0] >> 4) == 14 ? 3
              : (s[0] >> 3) == 30 ? 4
                                  : 0;
    if (!len || (size_t)len > n) return 0;
    for (int i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

/* A token's text for CSV/JSON: bytes with control characters and bytes that are not whole UTF-8
 * characters (byte-level tokens split them) escaped as \xNN, so the files stay valid UTF-8. */
static void token_text(const AnVocab *tok, int id, char *out, size_t cap) {
    size_t len, o = 0;
    const unsigned char *s = (const unsigned char *)an_vocab_bytes(tok, id, &len);
    for (size_t i = 0; i < len && o + 5 < cap;) {
        unsigned char c = s[i];
        int u = utf8_valid(s + i, len - i);
        if (c < 32 || c == '"' || c == ',' || c == '\\' || !u) {
            o += snprintf(out + o, cap - o, "\\x%02x", c), i++;
        } else if (o + (size_t)u + 5 < cap) {
            memcpy(out + o, s + i, (size_t)u), o += (size_t)u, i += (size_t)u;
        } else {
            break;
        }
    }
    out[o] = 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int lens_write(LensAcc *z, const char *dir, const AnVocab *tok) {
    if (z->failed) return -1; /* the scratch file's or a row append's error is the message */
    AtomicFile af;
    int rc;
    if (z->streaming) { /* every round's rows are in it already */
        z->streaming = 0;
        if (afile_commit(&z->rows_file)) return -1;
    } else {
        char *path = ml_path_join(dir, "lens_tokens.csv");
        rc = afile_open(&af, path);
        ml_free(path);
        if (rc) return -1;
        rows_header(&af);
        if (z->rows_len) afile_write(&af, z->rows, z->rows_len);
        if (afile_commit(&af)) return -1;
    }
    char *path = ml_path_join(dir, "lens_experts.csv");
    rc = afile_open(&af, path);
    ml_free(path);
    if (rc) return -1;
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "experts");
    cJSON_AddNumberToObject(j, "tokens", (double)z->n);
    cJSON_AddNumberToObject(j, "stride", (double)z->stride);
    afile_printf(&af, "layer,expert,decodes,mean_kl,mean_p_final_pred,agree_final,top_tokens\n");
    double *klm = ml_alloc(sizeof(double) * ((long)z->L * z->EZ + 1));
    /* (layer·expert, lens top-1) of every decode, sorted: counts per expert without [L, E, V] */
    int64_t *keys = ml_alloc(sizeof(int64_t) * (z->top1_n + 1));
    if (z->top1_n) memcpy(keys, z->top1_keys, sizeof(int64_t) * z->top1_n);
    qsort(keys, z->top1_n, sizeof(int64_t), cmp_i64);
    int32_t *tok_id = ml_alloc(sizeof(int32_t) * (z->top1_n + 1));
    long *tok_n = ml_alloc(sizeof(long) * (z->top1_n + 1)), pos = 0;
    for (int l = 0; l < z->L; l++)
        for (int e = 0; e < z->EZ; e++) {
            long le = (long)l * z->EZ + e;
            double n = z->cnt[le];
            klm[le] = n > 0 ? z->kl[le] / n : NAN;
            if (n <= 0) continue;
            cJSON *o = cJSON_CreateObject(), *tt = cJSON_CreateArray();
            cJSON_AddNumberToObject(o, "layer", z->layers[l]);
            cJSON_AddNumberToObject(o, "expert", e);
            cJSON_AddNumberToObject(o, "decodes", n);
            cJSON_AddNumberToObject(o, "mean_kl", z->kl[le] / n);
            cJSON_AddNumberToObject(o, "mean_p_final_pred", z->p_pred[le] / n);
            cJSON_AddNumberToObject(o, "agree_final", z->agree[le] / n);
            afile_printf(&af, "%d,%d,%.0f,%.6f,%.6f,%.6f,", z->layers[l], e, n, z->kl[le] / n,
                         z->p_pred[le] / n, z->agree[le] / n);
            /* this expert's decodes: a run of the sorted keys, one sub-run per top-1 token */
            long lo = pos;
            while (pos < z->top1_n && keys[pos] / z->V == le) pos++;
            int nd = 0;
            for (long i = lo; i < pos; i++) {
                int v = (int)(keys[i] % z->V);
                if (!nd || tok_id[nd - 1] != v) tok_id[nd] = v, tok_n[nd++] = 0;
                tok_n[nd - 1]++;
            }
            int used[LENS_TOP];
            for (int t = 0; t < LENS_TOP; t++) { /* most frequent first; ties: the lower id */
                int bi = -1;
                for (int i = 0; i < nd; i++) {
                    int taken = 0;
                    for (int u = 0; u < t; u++) taken |= used[u] == i;
                    if (!taken && (bi < 0 || tok_n[i] > tok_n[bi])) bi = i;
                }
                used[t] = bi;
                if (bi < 0) break;
                char txt[96];
                token_text(tok, tok_id[bi], txt, sizeof txt);
                cJSON *x = cJSON_CreateObject();
                cJSON_AddNumberToObject(x, "id", tok_id[bi]);
                cJSON_AddStringToObject(x, "text", txt);
                cJSON_AddNumberToObject(x, "count", tok_n[bi]);
                cJSON_AddItemToArray(tt, x);
                afile_printf(&af, "%s%d:%s", t ? " " : "", tok_id[bi], txt);
            }
            afile_printf(&af, "\n");
            cJSON_AddItemToObject(o, "top_tokens", tt);
            cJSON_AddItemToArray(arr, o);
        }
    rc = afile_commit(&af);
    int64_t shape[2] = {z->L, z->EZ};
    if (!rc) rc = an_write_npy(dir, "lens_kl.npy", "<f8", shape, 2, klm);
    if (!rc) rc = an_write_json(dir, "lens.json", j);
    ml_free(klm), ml_free(keys), ml_free(tok_id), ml_free(tok_n);
    cJSON_Delete(j);
    return rc;
}

void lens_free(LensAcc *z) {
    ml_free(z->kl), ml_free(z->p_pred), ml_free(z->agree), ml_free(z->cnt);
    free(z->top1_keys);
    ml_free(z->scratch_h), ml_free(z->scratch_n), ml_free(z->scratch_logits);
    ml_free(z->sel_w), ml_free(z->sel_e), ml_free(z->slot_h), ml_free(z->pend_pf);
    ml_free(z->pend_plogp), ml_free(z->pend_pred);
    if (z->fd >= 0) close(z->fd);
    if (z->streaming) afile_abort(&z->rows_file); /* not committed: dropped */
    free(z->rows);
    memset(z, 0, sizeof *z);
    z->fd = -1;
}
