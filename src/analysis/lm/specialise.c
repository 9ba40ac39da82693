/* Specialisation: normalised mutual information between the top-1 expert and the token's domain
 * (topic) or token class (syntax), with a shuffled-label baseline, and lift tables
 * (docs/analysis.md §4). Top-1 = the slot with the largest combine weight. */
#include "analysis/lm/specialise.h"
#include "stats/stats.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/rng.h"
#include "dist/dist.h"
#include <stdio.h>
#include <string.h>

void specialise_init(SpecialiseAcc *s, const LmModel *m, int D, long cap, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->L = an_moe_layers(m, s->layers);
    s->D = D, s->cap = cap, s->seed = seed;
    if (s->L) s->EZ = m->layer_ffn[s->layers[0]].n_experts + m->layer_ffn[s->layers[0]].n_zero;
    s->by_dom = ml_alloc(sizeof(double) * ((long)s->L * s->EZ * D + 1));
    s->by_cls = ml_alloc(sizeof(double) * ((long)s->L * s->EZ * TOKCLASS_COUNT + 1));
    s->top1 = ml_alloc(sizeof(int16_t) * (cap * s->L + 1));
    s->cls = ml_alloc(cap + 1);
    s->dom = ml_alloc(sizeof(int16_t) * (cap + 1));
}

static int top1_of(const MoeActs *a, int n) {
    int best = 0;
    for (int j = 1; j < a->k; j++)
        if (a->topk_w[(long)n * a->k + j] > a->topk_w[(long)n * a->k + best]) best = j;
    return a->topk_idx[(long)n * a->k + best];
}

void specialise_layer(SpecialiseAcc *s, const AnBatch *b, const LmFfnRows *rows) {
    int l = an_moe_index(s->layers, s->L, rows->layer);
    if (l < 0) return;
    for (int i = 0; i < rows->n; i++) {
        long n = rows->row0 + i;
        int e = top1_of(rows->moe, i);
        s->by_dom[((long)l * s->EZ + e) * s->D + b->domains[n]] += 1;
        s->by_cls[((long)l * s->EZ + e) * TOKCLASS_COUNT + b->classes[n]] += 1;
        long p = b->offset + n; /* kept: the stream's first cap tokens, at their positions */
        if (p < s->cap) s->top1[p * s->L + l] = (int16_t)e;
    }
}

void specialise_accumulate(SpecialiseAcc *s, const AnBatch *b) {
    for (long p = b->offset; p < b->offset + b->N && p < s->cap; p++)
        s->cls[p] = b->classes[p - b->offset], s->dom[p] = (int16_t)b->domains[p - b->offset],
        s->n++;
}

void specialise_reduce(SpecialiseAcc *s) {
    dist_sum_f64(s->by_dom, (long)s->L * s->EZ * s->D);
    dist_sum_f64(s->by_cls, (long)s->L * s->EZ * TOKCLASS_COUNT);
    double n = (double)s->n;
    dist_sum_f64(&n, 1);
    s->n = (long)n;
    /* each rank filled its windows' positions of the kept tokens, zeros elsewhere */
    dist_merge_bytes(s->top1, (long)sizeof(int16_t) * s->n * s->L, 0);
    dist_merge_bytes(s->cls, s->n, 0);
    dist_merge_bytes(s->dom, (long)sizeof(int16_t) * s->n, 0);
}

double specialise_nmi(const SpecialiseAcc *s, int l, int what, int shuffled) {
    int Y = what ? TOKCLASS_COUNT : s->D;
    if (!shuffled)
        return stat_nmi((what ? s->by_cls : s->by_dom) + (long)l * s->EZ * Y, s->EZ, Y, NULL, NULL);
    /* the same kept tokens with their labels permuted: NMI that chance alone gives at this size */
    long n = s->n;
    int32_t *lab = ml_alloc(sizeof(int32_t) * (n + 1));
    for (long i = 0; i < n; i++) lab[i] = what ? s->cls[i] : s->dom[i];
    Rng rng;
    rng_seed(&rng, s->seed + 7919 * (uint64_t)l + what);
    for (long i = n - 1; i > 0; i--) {
        long j = (long)(rng_u64(&rng) % (uint64_t)(i + 1));
        int32_t t = lab[i];
        lab[i] = lab[j], lab[j] = t;
    }
    double *t = ml_alloc(sizeof(double) * s->EZ * Y);
    for (long i = 0; i < n; i++) t[(long)s->top1[i * s->L + l] * Y + lab[i]] += 1;
    double v = stat_nmi(t, s->EZ, Y, NULL, NULL);
    ml_free(t), ml_free(lab);
    return v;
}

/* lift[e][y] = P(e, y) / (P(e) P(y)); 0 where expert e or label y never occurs. */
static void lift_table(const double *t, int E, int Y, double *lift) {
    double tot = 0, *re = ml_alloc(sizeof(double) * E), *cy = ml_alloc(sizeof(double) * Y);
    for (int e = 0; e < E; e++)
        for (int y = 0; y < Y; y++)
            re[e] += t[e * Y + y], cy[y] += t[e * Y + y], tot += t[e * Y + y];
    for (int e = 0; e < E; e++)
        for (int y = 0; y < Y; y++)
            lift[e * Y + y] = re[e] > 0 && cy[y] > 0 ? t[e * Y + y] * tot / (re[e] * cy[y]) : 0;
    ml_free(re), ml_free(cy);
}

static int write_lift(const SpecialiseAcc *s, const char *dir, int what,
                      const char *const *labels) {
    int Y = what ? TOKCLASS_COUNT : s->D, E = s->EZ;
    const double *src = what ? s->by_cls : s->by_dom;
    double *lift = ml_alloc(sizeof(double) * ((long)s->L * E * Y + 1));
    for (int l = 0; l < s->L; l++) lift_table(src + (long)l * E * Y, E, Y, lift + (long)l * E * Y);
    int64_t shape[3] = {s->L, E, Y};
    const char *base = what ? "lift_class" : "lift_domain";
    char name[64];
    snprintf(name, sizeof name, "%s.npy", base);
    int rc = an_write_npy(dir, name, "<f8", shape, 3, lift);
    snprintf(name, sizeof name, "%s.csv", base);
    char *path = ml_path_join(dir, name);
    AtomicFile af;
    if (!rc && !(rc = afile_open(&af, path))) {
        afile_printf(&af, "layer,expert,%s,count,lift\n", what ? "class" : "domain");
        for (int l = 0; l < s->L; l++)
            for (int e = 0; e < E; e++)
                for (int y = 0; y < Y; y++) {
                    long i = ((long)l * E + e) * Y + y;
                    afile_printf(&af, "%d,%d,%s,%.0f,%.6f\n", s->layers[l], e, labels[y], src[i],
                                 lift[i]);
                }
        rc = afile_commit(&af);
    }
    ml_free(path), ml_free(lift);
    return rc;
}

int specialise_write(const SpecialiseAcc *s, const char *dir, const char *const *domain_names) {
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "layers");
    cJSON_AddNumberToObject(j, "shuffle_tokens", (double)s->n);
    for (int l = 0; l < s->L; l++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "layer", s->layers[l]);
        cJSON_AddNumberToObject(o, "nmi_domain", specialise_nmi(s, l, 0, 0));
        cJSON_AddNumberToObject(o, "nmi_domain_shuffled", specialise_nmi(s, l, 0, 1));
        cJSON_AddNumberToObject(o, "nmi_class", specialise_nmi(s, l, 1, 0));
        cJSON_AddNumberToObject(o, "nmi_class_shuffled", specialise_nmi(s, l, 1, 1));
        cJSON_AddItemToArray(arr, o);
    }
    int rc = an_write_json(dir, "specialise.json", j);
    cJSON_Delete(j);
    const char *cls[TOKCLASS_COUNT];
    for (int c = 0; c < TOKCLASS_COUNT; c++) cls[c] = token_class_name(c);
    if (!rc) rc = write_lift(s, dir, 0, domain_names);
    if (!rc) rc = write_lift(s, dir, 1, cls);
    return rc;
}

void specialise_free(SpecialiseAcc *s) {
    ml_free(s->by_dom), ml_free(s->by_cls), ml_free(s->top1), ml_free(s->cls), ml_free(s->dom);
    memset(s, 0, sizeof *s);
}
