/* moelens report: picks run or sweep sections by what the folder holds. */
#include "report/report.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "report/report_internal.h"
#include "report/sweep_runs.h"
#include <stdio.h>
#include <string.h>

static int is_run(const char *dir) {
    /* an analysis alone (analyze MODEL.gguf writes MODEL.gguf.run/analysis) counts as a run */
    const char *marks[] = {"metrics.jsonl", "config.json", "model.safetensors",
                           "analysis/analyze.json"};
    for (int i = 0; i < 4; i++) {
        char *p = ml_path_join(dir, marks[i]);
        int yes = ml_file_exists(p);
        ml_free(p);
        if (yes) return 1;
    }
    return 0;
}

static const char *base_name(const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    static char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)n, dir);
    const char *s = strrchr(buf, '/');
    return s && s[1] ? s + 1 : buf;
}

int report_write(const char *dir, const char *out_path) {
    if (!ml_is_dir(dir))
        return ml_error("%s: no such folder (expected a run or a sweep folder)", dir);
    SweepRuns runs = {0};
    int run = is_run(dir);
    if (!run) {
        if (sweep_runs_list(dir, &runs)) return -1;
        if (!runs.n) {
            sweep_runs_free(&runs);
            return ml_error(
                "%s: neither a run (metrics.jsonl, config.json or model.safetensors) nor a sweep "
                "(sub-folders that are runs)",
                dir);
        }
    }
    Page p;
    page_init(&p, dir);
    char title[300], sub[300];
    if (run) {
        snprintf(title, sizeof title, "moelens run %s", base_name(dir));
        snprintf(sub, sizeof sub, "Report of the run folder %s", dir);
        section_run_summary(&p);
        if (page_is_vision(&p)) {
            section_vision_training(&p);
            section_vision_analysis(&p);
        } else {
            section_training(&p);
            section_expert_load(&p);
            section_lm_analysis(&p);
        }
        section_other_files(&p, "analysis");
    } else {
        snprintf(title, sizeof title, "moelens sweep %s", base_name(dir));
        snprintf(sub, sizeof sub, "Report of the sweep folder %s: %d runs", dir, runs.n);
        section_sweep(&p);
        section_findings(&p);
        section_compare(&p);
        section_vision_compare(&p);
        section_other_files(&p, "compare");
    }
    sweep_runs_free(&runs);
    char *out = out_path ? ml_strdup(out_path) : ml_path_join(dir, "report.html");
    int r = page_write(&p, title, sub, out);
    ml_free(out);
    page_free(&p);
    return r;
}
