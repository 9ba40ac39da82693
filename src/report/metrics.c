#include "report/metrics.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static double *nan_array(int n) {
    double *a = ml_alloc(sizeof(double) * (n > 0 ? n : 1));
    for (int i = 0; i < n; i++) a[i] = NAN;
    return a;
}

static int layer_slot(Metrics *m, int layer, int cap) {
    for (int i = 0; i < m->n_layers; i++)
        if (m->layer_id[i] == layer) return i;
    if (m->n_layers == METRICS_MAX_LAYERS) return -1;
    int i = m->n_layers++;
    m->layer_id[i] = layer;
    m->util[i] = nan_array(cap), m->max_share[i] = nan_array(cap), m->dead[i] = nan_array(cap);
    return i;
}

static int domain_slot(Metrics *m, const char *name, int cap) {
    for (int i = 0; i < m->n_domains; i++)
        if (!strcmp(m->domain[i], name)) return i;
    if (m->n_domains == METRICS_MAX_DOMAINS) return -1;
    int i = m->n_domains++;
    m->domain[i] = ml_strdup(name);
    m->domain_ppl[i] = nan_array(cap);
    return i;
}

static void add_train(Metrics *m, const cJSON *o, int cap) {
    int i = m->n++;
    m->step[i] = num(o, "step"), m->loss[i] = num(o, "loss"), m->lr[i] = num(o, "lr");
    m->grad_norm[i] = num(o, "grad_norm"), m->aux[i] = num(o, "aux");
    const cJSON *e, *ex = cJSON_GetObjectItemCaseSensitive(o, "experts");
    cJSON_ArrayForEach(e, ex) {
        double l = num(e, "layer");
        int s = isfinite(l) ? layer_slot(m, (int)l, cap) : -1;
        if (s < 0) continue;
        m->util[s][i] = num(e, "utilisation"), m->max_share[s][i] = num(e, "max_share"),
        m->dead[s][i] = num(e, "dead");
    }
}

static void add_val(Metrics *m, const cJSON *o, int cap) {
    int i = m->n_val++;
    m->val_step[i] = num(o, "step"), m->val_loss[i] = num(o, "val_loss"),
    m->val_ppl[i] = num(o, "val_ppl");
    const cJSON *d, *doms = cJSON_GetObjectItemCaseSensitive(o, "val_domains");
    cJSON_ArrayForEach(d, doms) {
        int s = d->string ? domain_slot(m, d->string, cap) : -1;
        if (s >= 0) m->domain_ppl[s][i] = num(d, "ppl");
    }
}

int metrics_load(const char *path, Metrics *m) {
    memset(m, 0, sizeof *m);
    char *buf;
    size_t len;
    if (ml_read_file(path, &buf, &len)) return -1;
    int cap = 1;
    for (size_t i = 0; i < len; i++) cap += buf[i] == '\n';
    m->step = nan_array(cap), m->loss = nan_array(cap), m->lr = nan_array(cap);
    m->grad_norm = nan_array(cap), m->aux = nan_array(cap);
    m->val_step = nan_array(cap), m->val_loss = nan_array(cap), m->val_ppl = nan_array(cap);
    int line_no = 0;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        line_no++;
        if (!line[strspn(line, " \t\r")]) continue;
        cJSON *o = cJSON_Parse(line);
        if (!cJSON_IsObject(o)) {
            cJSON_Delete(o);
            ml_free(buf);
            metrics_free(m);
            return ml_error("%s:%d: expected one JSON object per line", path, line_no);
        }
        if (cJSON_GetObjectItemCaseSensitive(o, "val_loss"))
            add_val(m, o, cap);
        else if (cJSON_GetObjectItemCaseSensitive(o, "loss"))
            add_train(m, o, cap);
        cJSON_Delete(o);
    }
    ml_free(buf);
    return 0;
}

void metrics_free(Metrics *m) {
    double **arrays[] = {&m->step, &m->loss,     &m->lr,       &m->grad_norm,
                         &m->aux,  &m->val_step, &m->val_loss, &m->val_ppl};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) ml_free(*arrays[i]);
    for (int l = 0; l < m->n_layers; l++)
        ml_free(m->util[l]), ml_free(m->max_share[l]), ml_free(m->dead[l]);
    for (int d = 0; d < m->n_domains; d++) ml_free(m->domain[d]), ml_free(m->domain_ppl[d]);
    memset(m, 0, sizeof *m);
}

double metrics_last(const double *v, int n) {
    for (int i = n - 1; i >= 0; i--)
        if (isfinite(v[i])) return v[i];
    return NAN;
}
