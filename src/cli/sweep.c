/* moelens sweep --grid FILE: trains every (axes combination × seed) into SWEEP/<arm>-seed<s>/,
 * resumable, then `compare` over all runs (when built) and `report SWEEP` (docs/demo.md). */
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "cli/selfexec.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "model/lm_config.h"
#include "report/metrics.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_AXES 8
#define MAX_VALUES 16
#define MAX_ARMS 16
#define MAX_ARM_SETS 16

typedef struct {
    char key[64];
    int n;
    char val[MAX_VALUES][64];
} Axis;

/* A named arm: settings of its own (e.g. a dense baseline's width), crossed with the axes. */
typedef struct {
    char name[64];
    char sets[MAX_ARM_SETS][128];
    int n_sets;
} NamedArm;

typedef struct {
    char preset[32], data[1024], out[1024];
    char sets[64][128];
    int n_sets;
    Axis axes[MAX_AXES];
    int n_axes;
    NamedArm arms[MAX_ARMS];
    int n_arms;
    long seeds[64];
    int n_seeds;
    double margin_rel; /* > 0: compare's TOST margin relative to perplexity */
    int paired;        /* compare --paired: tests on per-seed differences */
    char *claims;      /* the grid's claims list as JSON text (compare --claims), or NULL */
} Grid;

/* A JSON scalar as the text `--set` takes. */
static int scalar_text(const cJSON *v, char *buf, size_t n) {
    if (cJSON_IsString(v))
        snprintf(buf, n, "%s", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(buf, n, "%.17g", v->valuedouble);
    else if (cJSON_IsBool(v))
        snprintf(buf, n, "%d", cJSON_IsTrue(v));
    else
        return -1;
    return 0;
}

/* "set"-style object → KEY=VALUE strings (at most cap). */
static int load_sets(const char *path, const char *what, const cJSON *e, char (*sets)[128], int cap,
                     int *n) {
    const cJSON *s;
    cJSON_ArrayForEach(s, e) {
        char v[64];
        if (*n == cap || scalar_text(s, v, sizeof v))
            return ml_error("%s: %s.%s: expected a string or number", path, what, s->string);
        snprintf(sets[(*n)++], 128, "%s=%s", s->string, v);
    }
    return 0;
}

/* "arms": {"NAME": {KEY: VALUE, ...}, ...} */
static int load_arms(const char *path, const cJSON *e, Grid *g) {
    const cJSON *a;
    cJSON_ArrayForEach(a, e) {
        if (g->n_arms == MAX_ARMS || !cJSON_IsObject(a) || !a->string[0] ||
            strlen(a->string) >= sizeof g->arms[0].name || strchr(a->string, '/'))
            return ml_error("%s: arms.%s: expected up to %d named objects of settings", path,
                            a->string, MAX_ARMS);
        NamedArm *na = &g->arms[g->n_arms++];
        snprintf(na->name, sizeof na->name, "%s", a->string);
        char what[96];
        snprintf(what, sizeof what, "arms.%s", a->string);
        if (load_sets(path, what, a, na->sets, MAX_ARM_SETS, &na->n_sets)) return -1;
    }
    return 0;
}

static int grid_load(const char *path, Grid *g) {
    memset(g, 0, sizeof *g);
    snprintf(g->preset, sizeof g->preset, "tiny");
    snprintf(g->data, sizeof g->data, "data/text");
    char *buf;
    size_t len;
    if (ml_read_file(path, &buf, &len)) return -1;
    cJSON *j = cJSON_Parse(buf);
    ml_free(buf);
    if (!cJSON_IsObject(j))
        return cJSON_Delete(j), ml_error("%s: expected a JSON object (docs/demo.md)", path);
    int rc = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        const char *k = e->string;
        if (!strcmp(k, "preset") && cJSON_IsString(e))
            snprintf(g->preset, sizeof g->preset, "%s", e->valuestring);
        else if (!strcmp(k, "data") && cJSON_IsString(e))
            snprintf(g->data, sizeof g->data, "%s", e->valuestring);
        else if (!strcmp(k, "out") && cJSON_IsString(e))
            snprintf(g->out, sizeof g->out, "%s", e->valuestring);
        else if (!strcmp(k, "set") && cJSON_IsObject(e))
            rc = load_sets(path, "set", e, g->sets, 64, &g->n_sets);
        else if (!strcmp(k, "arms") && cJSON_IsObject(e))
            rc = load_arms(path, e, g);
        else if (!strcmp(k, "margin_rel") && cJSON_IsNumber(e) && e->valuedouble > 0 &&
                 e->valuedouble < 1)
            g->margin_rel = e->valuedouble;
        else if (!strcmp(k, "paired") && cJSON_IsBool(e))
            g->paired = cJSON_IsTrue(e);
        else if (!strcmp(k, "claims") && cJSON_IsArray(e))
            free(g->claims), g->claims = cJSON_PrintUnformatted(e);
        else if (!strcmp(k, "about") && cJSON_IsString(e))
            ; /* free text for the reader */
        else if (!strcmp(k, "axes") && cJSON_IsObject(e)) {
            const cJSON *a;
            cJSON_ArrayForEach(a, e) {
                int n = cJSON_GetArraySize(a);
                if (g->n_axes == MAX_AXES || !cJSON_IsArray(a) || n < 1 || n > MAX_VALUES) {
                    rc = ml_error("%s: axes.%s: expected a list of 1..%d values", path, a->string,
                                  MAX_VALUES);
                    break;
                }
                Axis *ax = &g->axes[g->n_axes++];
                snprintf(ax->key, sizeof ax->key, "%s", a->string);
                for (int i = 0; i < n && !rc; i++)
                    if (scalar_text(cJSON_GetArrayItem(a, i), ax->val[i], sizeof ax->val[i]))
                        rc = ml_error("%s: axes.%s[%d]: expected a string or number", path,
                                      a->string, i);
                ax->n = n;
            }
        } else if (!strcmp(k, "seeds") && cJSON_IsArray(e)) {
            const cJSON *s;
            cJSON_ArrayForEach(s, e) {
                if (!cJSON_IsNumber(s) || !(s->valuedouble >= 0 && s->valuedouble < 0x1p53) ||
                    s->valuedouble != (long)s->valuedouble || g->n_seeds == 64) {
                    rc = ml_error("%s: seeds: expected up to 64 non-negative integers", path);
                    break;
                }
                g->seeds[g->n_seeds++] = (long)s->valuedouble;
            }
        } else
            rc = ml_error(
                "%s: unknown or mistyped key '%s' (expected preset, data, out, set, arms, axes, "
                "seeds, margin_rel (0..1), paired (true/false), claims (a list), about)",
                path, k);
        if (rc) break;
    }
    cJSON_Delete(j);
    if (rc) free(g->claims), g->claims = NULL;
    if (!rc && !g->n_seeds) g->seeds[g->n_seeds++] = 1;
    return rc;
}

/* Arm name of combination c: "NAMEDARM_key-value_key-value" ("base" without arms and axes), safe
 * as a folder name. arm < 0: no named arms. */
static void arm_name(const Grid *g, int arm, const int *idx, char *buf, size_t n) {
    size_t o = 0;
    buf[0] = 0;
    if (arm >= 0) o += snprintf(buf, n, "%s", g->arms[arm].name);
    for (int a = 0; a < g->n_axes && o < n; a++)
        o += snprintf(buf + o, n - o, "%s%s-%s", o ? "_" : "", g->axes[a].key,
                      g->axes[a].val[idx[a]]);
    if (!buf[0]) snprintf(buf, n, "base");
    for (char *c = buf; *c; c++)
        if (*c == '/' || *c == ' ') *c = '_';
}

/* Finished: model.safetensors written and metrics reach the configured step count. */
static int run_finished(const char *dir) {
    char *model = ml_path_join(dir, "model.safetensors"), *cfgp = ml_path_join(dir, "config.json"),
         *mp = ml_path_join(dir, "metrics.jsonl"), *buf = NULL;
    int done = 0;
    size_t len;
    if (ml_file_exists(model) && !ml_read_file(cfgp, &buf, &len)) {
        cJSON *c = cJSON_Parse(buf);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(c, "steps");
        Metrics m;
        if (cJSON_IsNumber(st) && !metrics_load(mp, &m)) {
            double last = -1;
            for (int i = 0; i < m.n; i++)
                if (isfinite(m.step[i]) && m.step[i] > last) last = m.step[i];
            for (int i = 0; i < m.n_val; i++)
                if (isfinite(m.val_step[i]) && m.val_step[i] > last) last = m.val_step[i];
            done = last >= st->valuedouble;
            metrics_free(&m);
        }
        cJSON_Delete(c);
    }
    ml_free(buf), ml_free(model), ml_free(cfgp), ml_free(mp);
    return done;
}

/* The config a combination trains with (named arm, < 0: none; axis values idx), built as
 * `train lm` would build it from the same options. */
static int arm_config(const Grid *g, int arm, const int *idx, long seed, LmConfig *c) {
    char kv[160];
    if (lm_config_preset(c, g->preset)) return -1;
    for (int i = 0; i < g->n_sets; i++)
        if (lm_config_set_kv(c, g->sets[i])) return -1;
    for (int i = 0; arm >= 0 && i < g->arms[arm].n_sets; i++)
        if (lm_config_set_kv(c, g->arms[arm].sets[i])) return -1;
    for (int x = 0; x < g->n_axes; x++) {
        snprintf(kv, sizeof kv, "%s=%s", g->axes[x].key, g->axes[x].val[idx[x]]);
        if (lm_config_set_kv(c, kv)) return -1;
    }
    snprintf(kv, sizeof kv, "seed=%ld", seed);
    return lm_config_set_kv(c, kv) || lm_config_finalize(c) ? -1 : 0;
}

/* Combination c: its named arm (-1 without arms) and axis values. */
static int combo_of(const Grid *g, int c, int per_arm, int *idx) {
    int r = c % per_arm;
    for (int a = g->n_axes - 1; a >= 0; a--) idx[a] = r % g->axes[a].n, r /= g->axes[a].n;
    return g->n_arms ? c / per_arm : -1;
}

/* Every arm's config is checked before any trains, so a bad axis value fails at once (and in
 * --dry-run), not after hours of earlier arms. */
static int validate_arms(const Grid *g, const char *path, int combos, int per_arm) {
    for (int c = 0; c < combos; c++) {
        int idx[MAX_AXES], named = combo_of(g, c, per_arm, idx);
        for (int s = 0; s < g->n_seeds; s++) {
            LmConfig cfg;
            if (arm_config(g, named, idx, g->seeds[s], &cfg)) {
                char arm[512];
                arm_name(g, named, idx, arm, sizeof arm);
                return ml_error("%s: arm %s-seed%ld: %s", path, arm, g->seeds[s], ml_errmsg());
            }
        }
    }
    return 0;
}

static int train_one(const Grid *g, int arm, const int *idx, long seed, const char *dir) {
    char *ck = ml_path_join(dir, "checkpoint.safetensors");
    int resume = ml_file_exists(ck);
    ml_free(ck);
    const char *a[200];
    char kv[MAX_AXES + 1][160];
    int n = 0;
    a[n++] = "train", a[n++] = "lm", a[n++] = "--out", a[n++] = dir, a[n++] = "--data",
    a[n++] = g->data;
    if (resume)
        a[n++] = "--resume";
    else {
        a[n++] = "--preset", a[n++] = g->preset;
        for (int i = 0; i < g->n_sets; i++) a[n++] = "--set", a[n++] = g->sets[i];
        for (int i = 0; arm >= 0 && i < g->arms[arm].n_sets; i++)
            a[n++] = "--set", a[n++] = g->arms[arm].sets[i];
        for (int x = 0; x < g->n_axes; x++) {
            snprintf(kv[x], sizeof kv[x], "%s=%s", g->axes[x].key, g->axes[x].val[idx[x]]);
            a[n++] = "--set", a[n++] = kv[x];
        }
        snprintf(kv[MAX_AXES], sizeof kv[MAX_AXES], "seed=%ld", seed);
        a[n++] = "--set", a[n++] = kv[MAX_AXES];
    }
    a[n] = NULL;
    if (resume) fprintf(stderr, "sweep: resuming %s from its checkpoint\n", dir);
    return self_run(a, NULL);
}

typedef struct {
    const char *grid, *out;
    int dry;
} SweepArgs;

static const CliOpt sweep_opts[] = {
    {"--grid", "FILE.json", OPT_STR, offsetof(SweepArgs, grid), NULL, "the grid (required)"},
    {"--out", "SWEEP", OPT_STR, offsetof(SweepArgs, out), NULL,
     "sweep folder (default: the grid's \"out\", else runs/sweep)"},
    {"--dry-run", NULL, OPT_FLAG, offsetof(SweepArgs, dry), NULL,
     "list the runs and their state without training"},
};

static int cmd_sweep(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf(
            "usage: moelens sweep --grid FILE.json [--out SWEEP] [--dry-run]\n\n"
            "Trains every combination of the grid's axes for every seed into SWEEP/<arm>-seed<s>/\n"
            "(moelens train lm), then compares the arms (moelens compare, TOST) and writes\n"
            "SWEEP/report.html. Resumable: finished runs are skipped, a run with a checkpoint\n"
            "continues with --resume. Grid (docs/demo.md):\n"
            "  {\"preset\": \"tiny\", \"data\": \"data/text\", \"out\": \"runs/sweep\",\n"
            "   \"set\": {\"steps\": 300}, \"axes\": {\"router\": [\"learned\", \"hash\"], "
            "\"top_k\": [1, 2]},\n"
            "   \"seeds\": [1, 2, 3]}\n"
            "Named arms cross the axes: \"arms\": {\"dense\": {\"moe_every\": 0}, ...};\n"
            "\"margin_rel\": 0.02 sets compare's TOST margin to 2 %% of perplexity; \"claims\": "
            "[...]\n"
            "are judged by compare (--claims) into the report's findings.\n"
            "\n");
        cli_print_opts(CLI_OPTS(sweep_opts));
        return 0;
    }
    SweepArgs args = {0};
    cli_parse("sweep", CLI_OPTS(sweep_opts), &args, argc, argv, NULL, 0);
    const char *grid_path = args.grid, *out = args.out;
    int dry = args.dry;
    if (!grid_path) ml_fatal("sweep: --grid FILE.json is required");
    Grid g;
    if (grid_load(grid_path, &g)) ml_fatal("%s", ml_errmsg());
    if (!out) out = g.out[0] ? g.out : "runs/sweep";
    long per_arm = 1, n_named = g.n_arms ? g.n_arms : 1;
    for (int a = 0; a < g.n_axes; a++) per_arm *= g.axes[a].n;
    long combos = per_arm * n_named;
    if (combos * g.n_seeds > 10000)
        ml_fatal("%s: %ld runs (arms × axes × seeds); at most 10000", grid_path,
                 combos * g.n_seeds);
    if (validate_arms(&g, grid_path, (int)combos, (int)per_arm)) ml_fatal("%s", ml_errmsg());
    if (!dry && ml_mkdir_p(out)) ml_fatal("%s", ml_errmsg());
    int total = combos * g.n_seeds, k = 0, trained = 0, skipped = 0;
    char **dirs = ml_alloc(sizeof(char *) * total);
    for (int c = 0; c < combos; c++) {
        int idx[MAX_AXES], named = combo_of(&g, c, (int)per_arm, idx);
        char arm[512], name[600];
        arm_name(&g, named, idx, arm, sizeof arm);
        for (int s = 0; s < g.n_seeds; s++, k++) {
            snprintf(name, sizeof name, "%s-seed%ld", arm, g.seeds[s]);
            dirs[k] = ml_path_join(out, name);
            int done = run_finished(dirs[k]);
            fprintf(stderr, "sweep [%d/%d] %s%s\n", k + 1, total, name,
                    done  ? ": finished, skipped"
                    : dry ? ": to train"
                          : "");
            if (done || dry) {
                skipped += done;
                continue;
            }
            int rc = train_one(&g, named, idx, g.seeds[s], dirs[k]);
            if (rc)
                ml_fatal("sweep: training %s failed (exit %d); rerun the sweep to resume", dirs[k],
                         rc);
            trained++;
        }
    }
    if (!dry) {
        const char *has[] = {"compare", NULL};
        if (self_has(has)) {
            char *cj = ml_path_join(out, "compare.json");
            const char **a = ml_alloc(sizeof(char *) * (total + 8));
            int n = 0;
            a[n++] = "compare";
            /* only finished runs: a study cut short still reports what it has */
            for (int i = 0; i < total; i++)
                if (run_finished(dirs[i])) a[n++] = dirs[i];
            a[n++] = "--out", a[n++] = cj;
            char rel[32], *claims = NULL;
            if (g.margin_rel > 0)
                snprintf(rel, sizeof rel, "%.17g", g.margin_rel), a[n++] = "--margin-rel",
                                                                  a[n++] = rel;
            if (g.paired) a[n++] = "--paired";
            if (g.claims) {
                claims = ml_path_join(out, "claims.json");
                if (ml_write_file_atomic(claims, g.claims, strlen(g.claims)))
                    ml_fatal("%s", ml_errmsg());
                a[n++] = "--claims", a[n++] = claims;
            }
            a[n] = NULL;
            char *table = ml_path_join(out, "compare.txt");
            if (self_run(a, table))
                ml_warn("sweep: compare failed; the report shows the runs only");
            ml_free(a), ml_free(cj), ml_free(table), ml_free(claims);
        } else
            fprintf(stderr, "sweep: note: this build has no 'compare' command; skipped\n");
        const char *rep[] = {"report", out, NULL};
        if (self_run(rep, NULL)) ml_fatal("sweep: report failed");
    }
    fprintf(stderr, "sweep: %d runs: %d trained, %d already finished\n", total, trained, skipped);
    for (int i = 0; i < total; i++) ml_free(dirs[i]);
    ml_free(dirs);
    free(g.claims);
    return 0;
}
COMMAND("sweep", cmd_sweep, "train a grid of runs (design choices x seeds), compare, report")
