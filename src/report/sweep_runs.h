/* The run folders of a sweep: sub-folders of SWEEP holding metrics.jsonl or config.json, named
 * ARM-seedS (the sweep command's naming; another name is an arm of its own with seed -1). */
#pragma once

typedef struct {
    char *name; /* folder name */
    char *dir;  /* SWEEP/name */
    char *arm;  /* name without "-seedS" */
    int seed;
} SweepRun;

typedef struct {
    int n;
    SweepRun *run; /* sorted by name */
} SweepRuns;

int sweep_runs_list(const char *sweep_dir, SweepRuns *out); /* -1 + ml_error if unreadable */
void sweep_runs_free(SweepRuns *r);
/* Splits "ARM-seedS" into arm (ml_strdup'd) and seed; seed -1 when the suffix is absent. */
char *sweep_arm_of(const char *name, int *seed);
