/* Does the gate route by content? One summary of a vision MoE's routing decisions on a set of
 * images (used by `train vision`'s evaluations and by the vision analysis; docs/vision.md,
 * "Gate collapse"):
 *   usage[e]    share of the images whose top-k holds expert e (Σ_e usage = k);
 *   entropy     mean per-image gate entropy (nats), also as a fraction of ln E;
 *   mi_bits     mutual information (bits) between the top-1 expert and a label, with the same
 *               statistic under P label shuffles (mean, and p = (1 + #{null ≥ observed})/(1 + P));
 *   collapsed   usage_max > 0.9 or entropy > 0.95 ln E (only when k < E).
 * Targets (issue 16): usage within [0.05, 0.80], entropy ≤ 0.7 ln E, MI ≥ 0.10 bits and ≥ 10× its
 * null mean with p < 0.01. */
#pragma once
#include <stdint.h>

#define GATE_COLLAPSE_USAGE 0.90   /* one expert in more than this share of top-k sets */
#define GATE_COLLAPSE_ENTROPY 0.95 /* mean gate entropy above this fraction of ln E */

typedef struct {
    int n, E, k, K, perms;
    double usage[256];
    double usage_min, usage_max;
    double entropy, entropy_frac;
    double mi_bits, mi_null_bits, mi_p;
    int collapsed;
    char reason[128]; /* why collapsed (empty when not) */
} GateSummary;

/* probs [n, E] gate probabilities, chosen [n, k] top-k experts (best first), labels [n] in [0, K)
 * (may be NULL: no MI). perms label shuffles, seeded. */
void gate_summary(const float *probs, const int32_t *chosen, int n, int E, int k,
                  const int32_t *labels, int K, int perms, uint64_t seed, GateSummary *s);
/* out[c] = the largest share of label c's images that one expert takes as top-1 (1 = all of them on
 * one expert), or -1 where label c has no image; labels [n] in [0, K). */
void gate_top1_max_share(const int32_t *chosen, int k, const int32_t *labels, int n, int E, int K,
                         double *out);
/* Mutual information (bits) of top-1 expert and label over n images. */
double gate_mi_bits(const int32_t *chosen, int k, const int32_t *labels, int n, int E, int K);
/* Share of the between-image part in rows x [n, d]: Σ‖x_i − x̄‖² / Σ‖x_i‖² (0 = every row the
 * same vector, 1 = rows centred). The gate's input and logits measured this way show collapse. */
double gate_between_share(const float *x, int n, int d);
/* Adds usage, usage_min/max, entropy, entropy_frac and (when measured) mi_bits, mi_null_bits,
 * mi_p, mi_perms to the JSON object o: the one spelling of a summary in eval.json,
 * metrics.jsonl and vision.json. */
struct cJSON;
void gate_summary_add_json(struct cJSON *o, const GateSummary *g);
