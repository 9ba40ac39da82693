/* A run's metrics.jsonl (docs/lm.md) as arrays, for the report and the sweep: training lines
 * (step, loss, lr, grad_norm, aux, per-MoE-layer utilisation and max_share) and evaluation lines
 * (step, val_loss, val_ppl, per-domain ppl). Values a line lacks are NaN. */
#pragma once

#define METRICS_MAX_LAYERS 64
#define METRICS_MAX_DOMAINS 32

typedef struct {
    int n; /* training lines */
    double *step, *loss, *lr, *grad_norm, *aux;
    int n_layers; /* MoE layers reported in "experts" */
    int layer_id[METRICS_MAX_LAYERS];
    double *util[METRICS_MAX_LAYERS], *max_share[METRICS_MAX_LAYERS], *dead[METRICS_MAX_LAYERS];
    int n_val; /* evaluation lines */
    double *val_step, *val_loss, *val_ppl;
    int n_domains;
    char *domain[METRICS_MAX_DOMAINS];
    double *domain_ppl[METRICS_MAX_DOMAINS];
} Metrics;

/* Reads path; a missing file is an error, a malformed line is an error naming its line number. */
int metrics_load(const char *path, Metrics *m);
void metrics_free(Metrics *m);
/* Last finite value of a series (NaN if none). */
double metrics_last(const double *v, int n);
