#include "gguf/gguf_prune.h"
#include "core/error.h"
#include "core/mem.h"
#include "gguf/gguf_write.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tensors of a block that hold one slab per routed expert, expert axis outermost: the stacked
 * SwiGLU weights (and the fused gate+up of newer converters), their biases, the router rows and
 * the router's selection bias. Matched on the name part after "blk.N." up to the next dot. */
static const char *const per_expert[] = {"ffn_gate_exps",    "ffn_up_exps",  "ffn_down_exps",
                                         "ffn_gate_up_exps", "ffn_gate_inp", "exp_probs_b"};

/* Metadata this writer sets itself (a re-pruned file gets fresh values). */
static const char *const prune_keys[] = {"moelens.prune.criterion", "moelens.prune.source_experts",
                                         "moelens.prune.kept"};

static int arch_key(const GgufFile *g, const char *suffix, char *buf, size_t n) {
    GgufStr arch;
    if (gguf_get_str(g, "general.architecture", &arch)) return -1;
    snprintf(buf, n, "%.*s.%s", (int)arch.len, arch.ptr, suffix);
    return 0;
}

int gguf_moe_shape(const GgufFile *g, int *n_expert, int *top_k, int *n_block) {
    char ke[160], kk[160], kb[160];
    uint32_t e = 0, k = 0, b = 0;
    if (arch_key(g, "expert_count", ke, sizeof ke) || arch_key(g, "expert_used_count", kk, 160) ||
        arch_key(g, "block_count", kb, sizeof kb) || gguf_opt_u32(g, ke, &e))
        return -1;
    if (e == 0) return ml_error("%s: not a MoE model (no '%s')", g->path, ke);
    if (gguf_get_u32(g, kk, &k) || gguf_get_u32(g, kb, &b)) return -1;
    *n_expert = (int)e, *top_k = (int)k, *n_block = (int)b;
    return 0;
}

int gguf_block_has_experts(const GgufFile *g, int b) {
    char nm[64];
    snprintf(nm, sizeof nm, "blk.%d.ffn_gate_inp.weight", b);
    return gguf_tensor(g, nm) != NULL;
}

/* Block of a per-expert tensor (-1: not one). */
static int per_expert_block(const char *name) {
    int b, n = 0;
    if (sscanf(name, "blk.%d.%n", &b, &n) != 1 || !n) return -1;
    const char *rest = name + n, *dot = strchr(rest, '.');
    size_t len = dot ? (size_t)(dot - rest) : strlen(rest);
    for (size_t i = 0; i < sizeof per_expert / sizeof *per_expert; i++)
        if (strlen(per_expert[i]) == len && !strncmp(rest, per_expert[i], len)) return b;
    return -1;
}

static int check_plan(const GgufFile *g, const GgufPrunePlan *p, int E, int k, int nb) {
    if (p->n_keep < 1 || p->n_keep > E)
        return ml_error("%s: keeping %d experts per block: expected 1..%d", g->path, p->n_keep, E);
    int top = p->top_k ? p->top_k : k;
    if (top > p->n_keep)
        return ml_error("%s: top-k %d exceeds the %d experts kept per block (ask for --top-k %d or "
                        "fewer)",
                        g->path, top, p->n_keep, p->n_keep);
    for (int b = 0; b < nb; b++) {
        if (!gguf_block_has_experts(g, b)) continue;
        const int32_t *row = p->kept + (long)b * p->n_keep;
        for (int j = 0; j < p->n_keep; j++)
            if (row[j] < 0 || row[j] >= E || (j && row[j] <= row[j - 1]))
                return ml_error("%s: block %d: kept expert list is not ascending ids in 0..%d",
                                g->path, b, E - 1);
    }
    return 0;
}

/* Slabs of the kept experts of t (adjacent ones merged into one run). */
static int expert_parts(const GgufTensor *t, const int32_t *row, int n_keep, int E,
                        GgufPart *parts) {
    uint64_t slab = t->nbytes / (uint64_t)E;
    int n = 0;
    for (int j = 0; j < n_keep; j++) {
        const uint8_t *src = t->data + (uint64_t)row[j] * slab;
        if (n && (const uint8_t *)parts[n - 1].data + parts[n - 1].bytes == src)
            parts[n - 1].bytes += slab;
        else
            parts[n++] = (GgufPart){src, slab};
    }
    return n;
}

static int add_tensors(GgufWriter *w, const GgufFile *g, const GgufPrunePlan *p, int E, int nb,
                       GgufPart *parts) {
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const GgufTensor *t = &g->tensors[i];
        int b = per_expert_block(t->name);
        uint64_t ne[4];
        memcpy(ne, t->ne, sizeof ne);
        if (b < 0 || b >= nb) {
            GgufPart whole = {t->data, t->nbytes};
            if (gguf_w_tensor_parts(w, t->name, t->type, (int)t->n_dims, ne, &whole, 1)) return -1;
            continue;
        }
        int outer = (int)t->n_dims - 1;
        if (ne[outer] != (uint64_t)E)
            return ml_error("%s: tensor '%s' has %llu slabs on its outermost axis, expected the "
                            "expert count %d",
                            g->path, t->name, (unsigned long long)ne[outer], E);
        ne[outer] = (uint64_t)p->n_keep;
        int n = expert_parts(t, p->kept + (long)b * p->n_keep, p->n_keep, E, parts);
        if (gguf_w_tensor_parts(w, t->name, t->type, (int)t->n_dims, ne, parts, n)) return -1;
    }
    return 0;
}

static int is_prune_key(const char *key) {
    for (size_t i = 0; i < sizeof prune_keys / sizeof *prune_keys; i++)
        if (!strcmp(key, prune_keys[i])) return 1;
    return 0;
}

/* The file's metadata with the expert counts replaced in place, then the prune record. */
static int add_metadata(GgufWriter *w, const GgufFile *g, const GgufPrunePlan *p, int E, int k,
                        int nb) {
    char ke[160], kk[160];
    arch_key(g, "expert_count", ke, sizeof ke), arch_key(g, "expert_used_count", kk, sizeof kk);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const GgufKV *kv = &g->kv[i];
        int r;
        if (!strcmp(kv->key, "general.alignment") || is_prune_key(kv->key))
            continue; /* the writer aligns to 32, the default */
        else if (!strcmp(kv->key, ke))
            r = gguf_w_u32(w, ke, (uint32_t)p->n_keep);
        else if (!strcmp(kv->key, kk))
            r = gguf_w_u32(w, kk, (uint32_t)(p->top_k ? p->top_k : k));
        else
            r = gguf_w_copy_kv(w, kv);
        if (r) return -1;
    }
    int32_t *ids = ml_alloc(sizeof(int32_t) * ((size_t)nb * p->n_keep + 1));
    uint64_t n = 0;
    for (int b = 0; b < nb; b++)
        if (gguf_block_has_experts(g, b))
            for (int j = 0; j < p->n_keep; j++) ids[n++] = p->kept[(long)b * p->n_keep + j];
    int r = (p->criterion && gguf_w_str(w, prune_keys[0], p->criterion)) ||
            gguf_w_u32(w, prune_keys[1], (uint32_t)E) ||
            gguf_w_array(w, prune_keys[2], GGUF_T_INT32, ids, n);
    ml_free(ids);
    return r ? -1 : 0;
}

int gguf_prune_write(const GgufFile *g, const GgufPrunePlan *p, const char *out) {
    int E, k, nb;
    if (gguf_moe_shape(g, &E, &k, &nb) || check_plan(g, p, E, k, nb)) return -1;
    GgufWriter *w = gguf_writer_new();
    GgufPart *parts = ml_alloc(sizeof(GgufPart) * (size_t)p->n_keep);
    int r = add_metadata(w, g, p, E, k, nb) || add_tensors(w, g, p, E, nb, parts);
    ml_free(parts);
    if (r) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ml_errmsg());
        gguf_writer_free(w);
        return ml_error("%s: not written: %s", out, msg);
    }
    return gguf_writer_write(w, out);
}
