/* The sweep section: every run folder under SWEEP (a sub-folder with metrics.jsonl), grouped into
 * arms by name (ARM-seedS), with final numbers per run and per arm (mean ± sd over seeds). */
#include "core/fileio.h"
#include "core/mem.h"
#include "report/metrics.h"
#include "report/report_internal.h"
#include "report/sweep_runs.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_ARMS 64

typedef struct {
    char name[128];
    int n;
    double sum, sq;                                             /* final val ppl over seeds */
    double dsum[METRICS_MAX_DOMAINS], dsq[METRICS_MAX_DOMAINS]; /* per domain */
    int dn[METRICS_MAX_DOMAINS];
} Arm;

static int arm_index(Arm *arms, int *n_arms, const char *name) {
    for (int i = 0; i < *n_arms; i++)
        if (!strcmp(arms[i].name, name)) return i;
    if (*n_arms == MAX_ARMS) return -1;
    memset(&arms[*n_arms], 0, sizeof arms[0]);
    snprintf(arms[*n_arms].name, sizeof arms[0].name, "%s", name);
    return (*n_arms)++;
}

static double sd(double sum, double sq, int n) {
    if (n < 2) return NAN;
    double m = sum / n, v = (sq - n * m * m) / (n - 1);
    return v > 0 ? sqrt(v) : 0;
}

void section_sweep(Page *p) {
    SweepRuns runs;
    if (sweep_runs_list(p->dir, &runs) || !runs.n) return;
    page_section(
        p, "sweep", "Runs of the sweep",
        "Every sub-folder with a metrics.jsonl; arm = folder name without its -seedS suffix.");
    Metrics *m = ml_alloc(sizeof(Metrics) * runs.n);
    int *ok = ml_alloc(sizeof(int) * runs.n);
    Arm *arms = ml_alloc(sizeof(Arm) * MAX_ARMS);
    int n_arms = 0, n_dom = 0;
    char *dom[METRICS_MAX_DOMAINS];
    const char *hdr[6] = {"run", "arm", "seed", "steps", "final train loss", "final val ppl"};
    table_open(&p->body, hdr, 6);
    for (int i = 0; i < runs.n; i++) {
        char *mp = ml_path_join(runs.run[i].dir, "metrics.jsonl");
        ok[i] = !metrics_load(mp, &m[i]);
        ml_free(mp);
        char rel[300], seed[24], steps[24], loss[32], ppl[32];
        snprintf(rel, sizeof rel, "%s/metrics.jsonl", runs.run[i].name);
        page_consume(p, rel);
        snprintf(seed, sizeof seed, "%d", runs.run[i].seed);
        if (!ok[i]) {
            table_row(
                &p->body,
                (const char *[]){runs.run[i].name, runs.run[i].arm, seed, "unreadable", "", ""}, 6);
            continue;
        }
        Metrics *r = &m[i];
        snprintf(steps, sizeof steps, "%.0f", metrics_last(r->step, r->n));
        snprintf(loss, sizeof loss, "%.4f", metrics_last(r->loss, r->n));
        double v = metrics_last(r->val_ppl, r->n_val);
        snprintf(ppl, sizeof ppl, "%.3f", v);
        table_row(&p->body,
                  (const char *[]){runs.run[i].name, runs.run[i].arm, seed, steps, loss, ppl}, 6);
        int a = arm_index(arms, &n_arms, runs.run[i].arm);
        if (a < 0 || !isfinite(v)) continue;
        arms[a].n++, arms[a].sum += v, arms[a].sq += v * v;
        for (int d = 0; d < r->n_domains; d++) {
            int k = 0;
            while (k < n_dom && strcmp(dom[k], r->domain[d])) k++;
            if (k == n_dom) {
                if (n_dom == METRICS_MAX_DOMAINS) continue;
                dom[n_dom++] = r->domain[d];
            }
            double x = metrics_last(r->domain_ppl[d], r->n_val);
            if (isfinite(x)) arms[a].dsum[k] += x, arms[a].dsq[k] += x * x, arms[a].dn[k]++;
        }
    }
    table_close(&p->body);
    sb_puts(&p->body, "<div class=\"figs\">\n");
    /* validation loss of every run */
    SvgSeries *s = ml_alloc(sizeof(SvgSeries) * runs.n);
    int ns = 0;
    for (int i = 0; i < runs.n; i++)
        if (ok[i] && m[i].n_val)
            s[ns++] = (SvgSeries){runs.run[i].name, m[i].val_step, m[i].val_loss, m[i].n_val};
    SvgLineOpts lo = {
        .f = {.title = "Validation loss of every run",
              .xlabel = "step",
              .ylabel = "nats / token",
              .source = "RUN/metrics.jsonl of each run",
              .caption = "Validation loss over training, one line per run (arm and seed)."}};
    if (ns) svg_line_chart(&p->body, s, ns, &lo);
    ml_free(s);
    /* final perplexity per arm and domain, mean ± sd over seeds */
    if (n_arms) {
        int G = n_dom + 1;
        const char **groups = ml_alloc(sizeof(char *) * G),
                   **names = ml_alloc(sizeof(char *) * n_arms);
        double *v = ml_alloc(sizeof(double) * G * n_arms),
               *e = ml_alloc(sizeof(double) * G * n_arms);
        for (int d = 0; d < n_dom; d++) groups[d] = dom[d];
        groups[n_dom] = "all";
        for (int a = 0; a < n_arms; a++) {
            names[a] = arms[a].name;
            for (int d = 0; d < n_dom; d++) {
                int n = arms[a].dn[d];
                v[a * G + d] = n ? arms[a].dsum[d] / n : NAN,
                          e[a * G + d] = sd(arms[a].dsum[d], arms[a].dsq[d], n);
            }
            v[a * G + n_dom] = arms[a].n ? arms[a].sum / arms[a].n : NAN;
            e[a * G + n_dom] = sd(arms[a].sum, arms[a].sq, arms[a].n);
        }
        SvgBarOpts bo = {
            .f = {.title = "Final validation perplexity per arm",
                  .ylabel = "perplexity",
                  .source = "RUN/metrics.jsonl (last val_ppl, val_domains)",
                  .caption =
                      "Mean over seeds of each arm's last evaluation, per domain; bars: ± one "
                      "standard deviation across seeds."},
            .err = e};
        svg_bar_chart(&p->body, groups, G, names, n_arms, v, &bo);
        sb_puts(&p->body, "</div>\n");
        const char *h2[4] = {"arm", "seeds", "val ppl mean", "val ppl sd"};
        table_open(&p->body, h2, 4);
        for (int a = 0; a < n_arms; a++) {
            char n[16], mu[32], s2[32];
            snprintf(n, sizeof n, "%d", arms[a].n);
            snprintf(mu, sizeof mu, "%.3f", v[a * G + n_dom]);
            snprintf(s2, sizeof s2, "%.3f", e[a * G + n_dom]);
            table_row(&p->body, (const char *[]){arms[a].name, n, mu, s2}, 4);
        }
        table_close(&p->body);
        ml_free(groups), ml_free(names), ml_free(v), ml_free(e);
    } else
        sb_puts(&p->body, "</div>\n");
    for (int i = 0; i < runs.n; i++) {
        char rel[300];
        snprintf(rel, sizeof rel, "%s/report.html", runs.run[i].name);
        if (page_exists(p, rel)) {
            sb_puts(&p->body, "<p class=\"note\">Report of run <a href=\"");
            sb_escape(&p->body, rel);
            sb_puts(&p->body, "\">");
            sb_escape(&p->body, runs.run[i].name);
            sb_puts(&p->body, "</a></p>\n");
        }
    }
    for (int i = 0; i < runs.n; i++)
        if (ok[i]) metrics_free(&m[i]);
    ml_free(m), ml_free(ok), ml_free(arms);
    sweep_runs_free(&runs);
}

/* compare.json (moelens compare, docs/analysis.md §6): the design-arm table and TOST pairs. */
void section_compare(Page *p) {
    cJSON *j = page_json(p, "compare.json");
    page_consume(p, "compare.txt");
    if (!j) return;
    const cJSON *arms = cJSON_GetObjectItemCaseSensitive(j, "arms"),
                *pairs = cJSON_GetObjectItemCaseSensitive(j, "pairs");
    const cJSON *margin = cJSON_GetObjectItemCaseSensitive(j, "margin");
    page_section(
        p, "arms", "Design arms and equivalence (TOST)",
        "Arm = the sweep's arm (folder name without -seedS), else router / routing level / top-k "
        "of each run's config; value = its last validation "
        "perplexity. Two arms are equivalent when the TOST p-value at the margin is below 0.05.");
    int n = cJSON_GetArraySize(arms);
    if (n > 0 && n <= MAX_ARMS) {
        const char *names[MAX_ARMS];
        double v[MAX_ARMS], e[MAX_ARMS];
        const char *h[4] = {"arm", "runs", "val ppl mean", "val ppl sd"};
        table_open(&p->body, h, 4);
        for (int i = 0; i < n; i++) {
            const cJSON *a = cJSON_GetArrayItem(arms, i),
                        *nm = cJSON_GetObjectItemCaseSensitive(a, "arm");
            const cJSON *cn = cJSON_GetObjectItemCaseSensitive(a, "n"),
                        *mu = cJSON_GetObjectItemCaseSensitive(a, "mean"),
                        *s = cJSON_GetObjectItemCaseSensitive(a, "sd");
            names[i] = cJSON_IsString(nm) ? nm->valuestring : "?";
            v[i] = cJSON_IsNumber(mu) ? mu->valuedouble : NAN,
            e[i] = cJSON_IsNumber(s) ? s->valuedouble : NAN;
            char c1[16], c2[32], c3[32];
            snprintf(c1, sizeof c1, "%.0f", cJSON_IsNumber(cn) ? cn->valuedouble : NAN);
            snprintf(c2, sizeof c2, "%.3f", v[i]);
            snprintf(c3, sizeof c3, "%.3f", e[i]);
            table_row(&p->body, (const char *[]){names[i], c1, c2, c3}, 4);
        }
        table_close(&p->body);
        SvgBarOpts bo = {
            .f = {.title = "Validation perplexity per design arm",
                  .ylabel = "perplexity",
                  .source = "compare.json (arms)",
                  .caption =
                      "Mean over seeds of the last validation perplexity; bars: ± one sample sd."},
            .err = e};
        sb_puts(&p->body, "<div class=\"figs\">\n");
        svg_bar_chart(&p->body, names, n, (const char *[]){"val ppl"}, 1, v, &bo);
        sb_puts(&p->body, "</div>\n");
    }
    int np = cJSON_GetArraySize(pairs);
    if (np > 0) {
        char h5[64];
        const cJSON *rel = cJSON_GetObjectItemCaseSensitive(j, "margin_rel");
        if (cJSON_IsNumber(rel))
            snprintf(h5, sizeof h5, "equivalent (margin %.3g %% of ppl)", 100 * rel->valuedouble);
        else
            snprintf(h5, sizeof h5, "equivalent (margin %.3g ppl)",
                     cJSON_IsNumber(margin) ? margin->valuedouble : NAN);
        const char *h[5] = {"arm a", "arm b", "mean a − mean b", "p TOST", h5};
        table_open(&p->body, h, 5);
        for (int i = 0; i < np; i++) {
            const cJSON *q = cJSON_GetArrayItem(pairs, i),
                        *a = cJSON_GetObjectItemCaseSensitive(q, "a"),
                        *b = cJSON_GetObjectItemCaseSensitive(q, "b"),
                        *d = cJSON_GetObjectItemCaseSensitive(q, "diff"),
                        *pt = cJSON_GetObjectItemCaseSensitive(q, "p_tost"),
                        *eq = cJSON_GetObjectItemCaseSensitive(q, "equivalent");
            char c3[32], c4[32];
            snprintf(c3, sizeof c3, "%.3f", cJSON_IsNumber(d) ? d->valuedouble : NAN);
            if (cJSON_IsNumber(pt))
                snprintf(c4, sizeof c4, "%.3g", pt->valuedouble);
            else
                snprintf(c4, sizeof c4, "n/a (< 2 runs)");
            table_row(
                &p->body,
                (const char *[]){cJSON_IsString(a) ? a->valuestring : "?",
                                 cJSON_IsString(b) ? b->valuestring : "?", c3, c4,
                                 cJSON_IsBool(eq) ? (cJSON_IsTrue(eq) ? "yes" : "no") : "n/a"},
                5);
        }
        table_close(&p->body);
    }
    cJSON_Delete(j);
}
