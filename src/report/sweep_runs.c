#include "report/sweep_runs.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *sweep_arm_of(const char *name, int *seed) {
    const char *s = strstr(name, "-seed");
    for (const char *q = s; q; q = strstr(q + 1, "-seed")) s = q; /* the last one */
    *seed = -1;
    if (s && s[5]) {
        char *end;
        long v = strtol(s + 5, &end, 10);
        if (!*end && v >= 0) {
            *seed = (int)v;
            char *arm = ml_strdup(name);
            arm[s - name] = 0;
            return arm;
        }
    }
    return ml_strdup(name);
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const SweepRun *)a)->name, ((const SweepRun *)b)->name);
}

int sweep_runs_list(const char *dir, SweepRuns *out) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return ml_error("%s: cannot open folder (%s)", dir, strerror(errno));
    int cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char *sub = ml_path_join(dir, e->d_name);
        char *m = ml_path_join(sub, "metrics.jsonl"), *c = ml_path_join(sub, "config.json");
        int is_run = ml_is_dir(sub) && (ml_file_exists(m) || ml_file_exists(c));
        ml_free(m), ml_free(c);
        if (!is_run) {
            ml_free(sub);
            continue;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            SweepRun *r = realloc(out->run, sizeof *r * cap);
            if (!r) ml_fatal("out of memory listing %s", dir);
            out->run = r;
        }
        SweepRun *r = &out->run[out->n++];
        r->name = ml_strdup(e->d_name), r->dir = sub, r->arm = sweep_arm_of(e->d_name, &r->seed);
    }
    closedir(d);
    if (out->n) qsort(out->run, out->n, sizeof *out->run, by_name);
    return 0;
}

void sweep_runs_free(SweepRuns *r) {
    for (int i = 0; i < r->n; i++)
        ml_free(r->run[i].name), ml_free(r->run[i].dir), ml_free(r->run[i].arm);
    free(r->run);
    memset(r, 0, sizeof *r);
}
