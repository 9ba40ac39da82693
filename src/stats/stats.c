#include "stats/stats.h"
#include "core/mem.h"
#include <math.h>
#include <stdlib.h>

double stat_entropy(const double *c, int n) {
    double s = 0, h = 0;
    for (int i = 0; i < n; i++) s += c[i];
    if (s <= 0) return 0;
    for (int i = 0; i < n; i++)
        if (c[i] > 0) h -= c[i] / s * log(c[i] / s);
    return h;
}

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

int stat_n50(const double *c, int n) {
    double *s = ml_alloc(sizeof(double) * (n ? n : 1)), tot = 0, acc = 0;
    for (int i = 0; i < n; i++) s[i] = c[i], tot += c[i];
    qsort(s, n, sizeof(double), cmp_desc);
    int k = 0;
    if (tot > 0)
        while (k < n && acc < 0.5 * tot) acc += s[k++];
    ml_free(s);
    return k;
}

double stat_jain(const double *c, int n) {
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) s += c[i], s2 += c[i] * c[i];
    return s2 > 0 ? s * s / (n * s2) : 0;
}

double stat_nmi(const double *t, int rows, int cols, double *mi_out, double *hy_out) {
    double tot = 0;
    double *r = ml_alloc(sizeof(double) * rows), *c = ml_alloc(sizeof(double) * cols);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            r[i] += t[i * cols + j], c[j] += t[i * cols + j], tot += t[i * cols + j];
    double mi = 0;
    if (tot > 0)
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) {
                double p = t[i * cols + j] / tot;
                if (p > 0) mi += p * log(p * tot * tot / (r[i] * c[j]));
            }
    double hx = stat_entropy(r, rows), hy = stat_entropy(c, cols);
    ml_free(r), ml_free(c);
    if (mi_out) *mi_out = mi;
    if (hy_out) *hy_out = hy;
    return hx > 0 && hy > 0 ? mi / sqrt(hx * hy) : 0;
}

double stat_js(const double *p, const double *q, int n) {
    double sp = 0, sq = 0, js = 0;
    for (int i = 0; i < n; i++) sp += p[i], sq += q[i];
    if (sp <= 0 || sq <= 0) return 0;
    for (int i = 0; i < n; i++) {
        double a = p[i] / sp, b = q[i] / sq, m = 0.5 * (a + b);
        if (a > 0) js += 0.5 * a * log(a / m);
        if (b > 0) js += 0.5 * b * log(b / m);
    }
    return js;
}

double stat_kl(const float *p, const float *q, int n) {
    double kl = 0;
    for (int i = 0; i < n; i++)
        if (p[i] > 0) kl += p[i] * (log(p[i]) - log(q[i] > 1e-30f ? q[i] : 1e-30));
    return kl;
}

double stat_sum_plogp(const float *p, int n) {
    double s = 0;
    for (int i = 0; i < n; i++)
        if (p[i] > 0) s += p[i] * log(p[i]);
    return s;
}

double stat_kl_logits(const float *p, double plogp, const float *z, int n, double lse) {
    double cross = 0;
    for (int i = 0; i < n; i++) cross += p[i] * (z[i] - lse);
    return plogp - cross;
}

double stat_mean(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return n ? s / n : NAN;
}

double stat_sd(const double *x, int n) {
    if (n < 2) return 0;
    double m = stat_mean(x, n), s = 0;
    for (int i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
    return sqrt(s / (n - 1));
}

static double cosine_of(double ab, double aa, double bb) {
    if (sqrt(aa) < 1e-12 || sqrt(bb) < 1e-12) return 0;
    return ab / sqrt(aa * bb);
}

double stat_cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++)
        ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return cosine_of(ab, aa, bb);
}

/* A product of two floats is exact in double, so a fused multiply-add gives what a multiply and
 * an add give: each sum below is stat_cosine's, addition for addition. */
void stat_cosine3(const float *const a[3], const float *const b[3], int n, double out[3]) {
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *b0 = b[0], *b1 = b[1], *b2 = b[2];
    double s[9] = {0};
    for (int i = 0; i < n; i++) {
        s[0] += (double)a0[i] * b0[i], s[1] += (double)a0[i] * a0[i], s[2] += (double)b0[i] * b0[i];
        s[3] += (double)a1[i] * b1[i], s[4] += (double)a1[i] * a1[i], s[5] += (double)b1[i] * b1[i];
        s[6] += (double)a2[i] * b2[i], s[7] += (double)a2[i] * a2[i], s[8] += (double)b2[i] * b2[i];
    }
    for (int p = 0; p < 3; p++) out[p] = cosine_of(s[3 * p], s[3 * p + 1], s[3 * p + 2]);
}

/* Continued fraction for the incomplete beta (modified Lentz). */
static double betacf(double a, double b, double x) {
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 300; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d, c = 1 + aa / c;
        if (fabs(d) < tiny) d = tiny;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d, h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d, c = 1 + aa / c;
        if (fabs(d) < tiny) d = tiny;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15) break;
    }
    return h;
}

double stat_betainc(double a, double b, double x) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2)) return exp(lbt) * betacf(a, b, x) / a;
    return 1 - exp(lbt) * betacf(b, a, 1 - x) / b;
}

double stat_t_cdf(double t, double df) {
    if (isnan(t) || df <= 0) return NAN;
    if (isinf(t)) return t > 0 ? 1 : 0;
    double tail = 0.5 * stat_betainc(0.5 * df, 0.5, df / (df + t * t)); /* P(T > |t|) */
    return t > 0 ? 1 - tail : tail;
}

double stat_t_quantile(double p, double df) {
    if (!(p > 0 && p < 1) || !(df > 0)) return NAN;
    double lo = -1e6, hi = 1e6; /* the CDF is monotone: bisection to double precision */
    for (int i = 0; i < 200 && hi - lo > 1e-12 * (1 + fabs(lo)); i++) {
        double mid = 0.5 * (lo + hi);
        if (stat_t_cdf(mid, df) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

double stat_ttest_1samp(const double *d, int n, double *t_out) {
    double m = stat_mean(d, n), sd = stat_sd(d, n), t;
    if (n < 2)
        t = NAN;
    else if (sd == 0)
        t = m == 0 ? 0 : (m > 0 ? INFINITY : -INFINITY);
    else
        t = m / (sd / sqrt(n));
    if (t_out) *t_out = t;
    if (isnan(t)) return NAN;
    if (isinf(t)) return 0;
    return 2 * stat_t_cdf(-fabs(t), n - 1);
}

double stat_welch(const double *a, int na, const double *b, int nb, double *se_out,
                  double *df_out) {
    double va = stat_sd(a, na), vb = stat_sd(b, nb);
    va = va * va / na, vb = vb * vb / nb;
    double se = sqrt(va + vb);
    double df = (va + vb) * (va + vb) / (va * va / (na - 1) + vb * vb / (nb - 1));
    if (se_out) *se_out = se;
    if (df_out) *df_out = df;
    return (stat_mean(a, na) - stat_mean(b, nb)) / se;
}

double stat_tost(const double *a, int na, const double *b, int nb, double delta, double *diff) {
    double d = stat_mean(a, na) - stat_mean(b, nb);
    if (diff) *diff = d;
    if (na < 2 || nb < 2) return NAN;
    double se, df;
    stat_welch(a, na, b, nb, &se, &df);
    if (se == 0) return fabs(d) < delta ? 0 : 1;
    double p1 = 1 - stat_t_cdf((d + delta) / se, df); /* H0: d ≤ −δ */
    double p2 = stat_t_cdf((d - delta) / se, df);     /* H0: d ≥ +δ */
    return p1 > p2 ? p1 : p2;
}

typedef struct {
    double p;
    int i;
} PIdx;
static int cmp_p(const void *a, const void *b) {
    double x = ((const PIdx *)a)->p, y = ((const PIdx *)b)->p;
    return (x > y) - (x < y);
}

void stat_bh(const double *p, double *q, int n) {
    PIdx *s = ml_alloc(sizeof(PIdx) * (n ? n : 1));
    int m = 0;
    for (int i = 0; i < n; i++) {
        q[i] = NAN;
        if (!isnan(p[i])) s[m].p = p[i], s[m].i = i, m++;
    }
    qsort(s, m, sizeof(PIdx), cmp_p);
    double run = 1;
    for (int r = m - 1; r >= 0; r--) { /* step-up: running minimum from the largest p */
        double v = s[r].p * m / (r + 1);
        if (v < run) run = v;
        q[s[r].i] = run;
    }
    ml_free(s);
}

typedef struct {
    double v;
    int i;
} ValIdx;

static int cmp_validx(const void *a, const void *b) {
    const ValIdx *x = a, *y = b;
    if (x->v != y->v) return (x->v > y->v) - (x->v < y->v);
    return (x->i > y->i) - (x->i < y->i);
}

void stat_rank(const double *x, int n, double *r) {
    ValIdx *s = ml_alloc(sizeof(ValIdx) * (n ? n : 1));
    for (int i = 0; i < n; i++) s[i] = (ValIdx){x[i], i};
    qsort(s, n, sizeof(ValIdx), cmp_validx);
    for (int a = 0; a < n;) {
        int b = a;
        while (b + 1 < n && s[b + 1].v == s[a].v) b++;
        double avg = 0.5 * (a + b) + 1; /* ranks a+1 .. b+1 share their mean */
        for (int k = a; k <= b; k++) r[s[k].i] = avg;
        a = b + 1;
    }
    ml_free(s);
}

double stat_pearson(const double *a, const double *b, int n) {
    if (n < 2) return NAN;
    double ma = stat_mean(a, n), mb = stat_mean(b, n), sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) {
        double da = a[i] - ma, db = b[i] - mb;
        sab += da * db, saa += da * da, sbb += db * db;
    }
    if (saa <= 0 || sbb <= 0) return NAN;
    double r = sab / sqrt(saa * sbb);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

double stat_spearman(const double *a, const double *b, int n) {
    double *ra = ml_alloc(sizeof(double) * (n ? n : 1)),
           *rb = ml_alloc(sizeof(double) * (n ? n : 1));
    stat_rank(a, n, ra);
    stat_rank(b, n, rb);
    double r = stat_pearson(ra, rb, n);
    ml_free(ra), ml_free(rb);
    return r;
}

double stat_perm_p(double obs, const double *null, int P) {
    if (isnan(obs)) return NAN;
    int ge = 0;
    for (int i = 0; i < P; i++) ge += null[i] >= obs - 1e-12; /* ties count against the effect */
    return (1.0 + ge) / (1.0 + P);
}

void stat_wilson(double k, double n, double z, double *lo, double *hi) {
    if (n <= 0) {
        *lo = *hi = NAN;
        return;
    }
    double p = k / n, z2 = z * z, den = 1 + z2 / n, c = (p + z2 / (2 * n)) / den;
    double h = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / den;
    *lo = c - h < 0 ? 0 : c - h;
    *hi = c + h > 1 ? 1 : c + h;
}

void stat_shuffle(int *perm, int n, Rng *rng) {
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(rng, (uint32_t)i + 1), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
}
