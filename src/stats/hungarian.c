#include "stats/hungarian.h"
#include "core/mem.h"
#include <math.h>

/* The e-maxx formulation: rows are added one at a time and an augmenting path is found with
 * Dijkstra-like potentials u (rows), v (columns); arrays are 1-based with column 0 as the root. */
double hungarian_max(const double *S, int n, int *match) {
    double big = 0;
    for (long i = 0; i < (long)n * n; i++)
        if (!isnan(S[i]) && fabs(S[i]) > big) big = fabs(S[i]);
    big = 4 * big + 1; /* NaN costs more than any real entry */
    double *u = ml_alloc(sizeof(double) * (n + 1)), *v = ml_alloc(sizeof(double) * (n + 1));
    double *minv = ml_alloc(sizeof(double) * (n + 1));
    int *p = ml_alloc(sizeof(int) * (n + 1)), *way = ml_alloc(sizeof(int) * (n + 1));
    char *used = ml_alloc(n + 1);
#define COST(i, j) (isnan(S[(long)(i)*n + (j)]) ? big : -S[(long)(i)*n + (j)])
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= n; j++) minv[j] = INFINITY, used[j] = 0;
        do {
            used[j0] = 1;
            int i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (int j = 1; j <= n; j++)
                if (!used[j]) {
                    double cur = COST(i0 - 1, j - 1) - u[i0] - v[j];
                    if (cur < minv[j]) minv[j] = cur, way[j] = j0;
                    if (minv[j] < delta) delta = minv[j], j1 = j;
                }
            for (int j = 0; j <= n; j++)
                if (used[j])
                    u[p[j]] += delta, v[j] -= delta;
                else
                    minv[j] -= delta;
            j0 = j1;
        } while (p[j0] != 0);
        do {
            int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
#undef COST
    double total = 0;
    for (int j = 1; j <= n; j++) match[p[j] - 1] = j - 1;
    for (int i = 0; i < n; i++) {
        double s = S[(long)i * n + match[i]];
        total += isnan(s) ? 0 : s;
    }
    ml_free(u), ml_free(v), ml_free(minv), ml_free(p), ml_free(way), ml_free(used);
    return total;
}
