/* Routing sensitivity on constructed cases with known answers: identical pairs (zero JS, zero
 * sensitivity, nothing significant), a hash router whose two texts go to known different experts
 * (sign of S, JS = ln 2), masking (a masked expert is never picked), BH and the pairs file. */
#include "analysis/lm/analysis.h"
#include "analysis/lm/sensitivity.h"
#include "stats/stats.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/rng.h"
#include "lm_small.h"
#include "test.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* n pairs of random texts (lengths 3..10); same != 0: b is a copy of a. */
static void random_pairs(SensPairs *p, int n, int same, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    int32_t buf[2][8][16];
    const int32_t *a[8], *b[8];
    int na[8], nb[8];
    for (int i = 0; i < n; i++) {
        na[i] = 3 + (int)rng_below(&r, 8), nb[i] = same ? na[i] : 3 + (int)rng_below(&r, 8);
        for (int t = 0; t < 16; t++)
            buf[0][i][t] = (int32_t)rng_below(&r, 64), buf[1][i][t] = (int32_t)rng_below(&r, 64);
        a[i] = buf[0][i], b[i] = same ? buf[0][i] : buf[1][i];
    }
    sens_pairs_from_ids(p, n, a, na, b, nb);
}

TEST(sensitivity_identical_pairs_zero) {
    LmModel m;
    test_small_lm(&m, "learned", 4, 2, 2);
    SensPairs p;
    random_pairs(&p, 6, 1, 3);
    SensOptions o = {2, 0, 16, 2, 1};
    SensResult r;
    CHECK(sensitivity_run(&m, &p, NULL, &o, &r) == 0);
    int LE = r.L * r.EZ, exact = 1;
    for (int i = 0; i < r.n * r.L; i++) exact &= r.js[i] == 0.0;
    for (int i = 0; i < LE; i++) exact &= r.S[i] == 0.0 && r.t[i] == 0.0 && r.q[i] == 1.0;
    CHECK_MSG(exact, "identical pairs must give zero JS, zero S and p_BH = 1");
    double margin;
    CHECK(sens_preference(&r, 0, &margin) == 0.0 && margin == 0.0);
    for (int c = 1; c < 3; c++) { /* masking changes both texts alike: still no preference */
        CHECK(r.n_group[c] == 2);
        CHECK(sens_preference(&r, c, &margin) == 0.0 && margin == 0.0);
    }
    sensitivity_free(&r), sens_pairs_free(&p), lm_free(&m);
}

TEST(sensitivity_hash_router_sign) {
    LmModel m;
    test_small_lm(&m, "hash", 4, 1, 2);

    double P[64 * 4];
    /* the expert of every token in layer 0: find two tokens with different experts */
    int t1 = 0, t2 = -1, e1 = -1, e2 = -1;
    for (int tok = 0; tok < 64 && t2 < 0; tok++) {
        int32_t id = tok;
        sens_score_text(&m, &id, 1, NULL, P, NULL);
        int e = 0;
        while (P[e] != 1.0) e++;
        if (tok == 0)
            e1 = e;
        else if (e != e1)
            t2 = tok, e2 = e;
    }
    CHECK(t2 > 0);
    int32_t a[4] = {t1, t1, t1, t1}, b[4] = {t2, t2, t2, t2};
    const int32_t *pa[3] = {a, a, a}, *pb[3] = {b, b, b};
    int na[3] = {4, 3, 2}, nb[3] = {4, 4, 3};
    SensPairs p;
    sens_pairs_from_ids(&p, 3, pa, na, pb, nb);
    SensOptions o = {10, 0, 16, 2, 1};
    SensResult r;
    CHECK(sensitivity_run(&m, &p, NULL, &o, &r) == 0);
    CHECK(r.S[e1] == 1.0 && r.S[e2] == -1.0); /* layer 0: a always e1, b always e2 */
    CHECK(r.t[e1] == INFINITY && r.p[e1] == 0.0 && r.q[e1] == 0.0);
    for (int i = 0; i < 3; i++) CHECK_NEAR(r.js[i * r.L], log(2), 1e-12);
    CHECK(r.rank[0] == e1 || r.rank[0] == e2);
    /* hash routing has no logits to mask: no groups */
    CHECK(r.n_group[1] == 0 && r.n_group[2] == 0 && isnan(sens_preference(&r, 1, NULL)));
    sensitivity_free(&r), sens_pairs_free(&p), lm_free(&m);
}

TEST(sensitivity_masked_expert_never_picked) {
    LmModel m;
    test_small_lm(&m, "learned", 4, 1, 2);
    int32_t ids[12];
    for (int i = 0; i < 12; i++) ids[i] = (i * 7) % 64;
    double picks[2 * 4], P[2 * 4];
    double lp0 = sens_score_text(&m, ids, 12, NULL, P, picks);
    int busy = 0;
    for (int e = 1; e < 4; e++)
        if (picks[e] > picks[busy]) busy = e;
    CHECK(picks[busy] > 0);
    float bias[2 * 4] = {0};
    bias[busy] = -INFINITY;
    SensMask mk = {2, 4, bias};
    double lp1 = sens_score_text(&m, ids, 12, &mk, P, picks);
    CHECK(picks[busy] == 0 && P[busy] == 0);
    CHECK(picks[0] + picks[1] + picks[2] + picks[3] == 12);
    CHECK(lp1 != lp0); /* the busiest expert's absence changes the likelihood */
    CHECK(m.route == NULL); /* the mask is passed to the forward, not left on the model */
    /* the whole pipeline: masked groups never picked, k experts left per layer */
    SensPairs p;
    random_pairs(&p, 5, 0, 9);
    SensOptions o = {10, 0, 16, 2, 1};
    SensResult r;
    CHECK(sensitivity_run(&m, &p, NULL, &o, &r) == 0);
    CHECK(r.n_group[1] == 4 && r.n_group[2] == 4); /* 2 layers × min(E − k, E/2) */
    CHECK(r.masked_picks[1] == 0 && r.masked_picks[2] == 0);
    for (int c = 1; c < 3; c++) {
        int per_layer[2] = {0};
        for (int j = 0; j < r.n_group[c]; j++) per_layer[r.group[c][j] / 4]++;
        CHECK(per_layer[0] <= 3 && per_layer[1] <= 3);
    }
    for (int j = 0; j < 4; j++) /* groups are disjoint, top more sensitive than bottom */
        for (int i = 0; i < 4; i++) {
            CHECK(r.group[1][j] != r.group[2][i]);
            CHECK(fabs(r.S[r.group[1][j]]) >= fabs(r.S[r.group[2][i]]));
        }
    sensitivity_free(&r), sens_pairs_free(&p), lm_free(&m);
}

TEST(sensitivity_bh_known_vector) {
    double p[9] = {0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, NAN}, q[9];
    double want[8] = {0.008, 0.032, 0.0672, 0.0672, 0.0672, 0.08, 0.074 * 8 / 7, 0.205};
    stat_bh(p, q, 9);
    for (int i = 0; i < 8; i++) CHECK_NEAR(q[i], want[i], 1e-12);
    CHECK(isnan(q[8]));
}

static Tokenizer *byte_tokenizer(void) {
    const char *texts[1] = {"ab"};
    size_t lens[1] = {2};
    BpeTrainOptions bo = {257, 0};
    Tokenizer *t = NULL;
    tokenizer_train(&t, texts, lens, 1, &bo);
    return t;
}

TEST(sensitivity_pairs_file) {
    LmTok tok = {byte_tokenizer(), NULL, NULL};
    char *path = ml_path_join(test_tmpdir(), "pairs.tsv");
    const char *good = "# stereotype\tanti\n\nthe man\tthe woman\r\nab\tabc\n";
    ml_write_file_atomic(path, good, strlen(good));
    SensPairs p;
    CHECK(sens_pairs_load(&p, path, &tok, 16) == 0);
    CHECK(p.n == 2 && p.line[0] == 3 && p.line[1] == 4);
    CHECK(p.na[0] == 7 && p.nb[0] == 9 && p.a[0][4] == 'm' && p.na[1] == 2 && p.nb[1] == 3);
    sens_pairs_free(&p);
    const char *bad[3] = {"a\tb\nno tab here\n", "a\tb\nx\ty\tz\n", "a\tb\n\tb\n"};
    const char *why[3] = {"pairs.tsv:2: expected", "more than one tab", "pairs.tsv:2: text a"};
    for (int i = 0; i < 3; i++) {
        ml_write_file_atomic(path, bad[i], strlen(bad[i]));
        CHECK(sens_pairs_load(&p, path, &tok, 16) == -1);
        CHECK_MSG(strstr(ml_errmsg(), why[i]) != NULL, "got: %s", ml_errmsg());
    }
    const char *lng = "short\ta text that is much longer than sixteen bytes\n";
    ml_write_file_atomic(path, lng, strlen(lng));
    CHECK(sens_pairs_load(&p, path, &tok, 16) == -1 && strstr(ml_errmsg(), ":1: text b has"));
    ml_write_file_atomic(path, "# only a comment\n", 17);
    CHECK(sens_pairs_load(&p, path, &tok, 16) == -1 && strstr(ml_errmsg(), "no pairs"));
    ml_free(path), tokenizer_free(tok.tok);
}
