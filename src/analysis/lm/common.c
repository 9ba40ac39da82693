/* Helpers shared by the analyses. */
#include "analysis/lm/analysis.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/npy.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int an_moe_layers(const LmModel *m, int *layers) {
    int n = 0;
    for (int l = 0; l < m->cfg.n_layer && n < 64; l++)
        if (m->layer_ffn[l].router != ROUTER_DENSE) layers[n++] = l;
    return n;
}

static const char *row_name(const char *const *first, size_t stride, int i) {
    return *(const char *const *)((const char *)first + (size_t)i * stride);
}

void an_list_names(char *buf, size_t cap, const char *const *first, size_t stride, int n) {
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < n && at < cap; i++)
        at +=
            (size_t)snprintf(buf + at, cap - at, "%s%s", i ? ", " : "", row_name(first, stride, i));
}

int an_parse_names(const char *list, const char *const *first, size_t stride, int n, unsigned *bits,
                   const char *what) {
    *bits = 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        int found = 0;
        for (int i = 0; i < n; i++) {
            const char *name = row_name(first, stride, i);
            if (strlen(name) == len && !strncmp(p, name, len)) *bits |= 1u << i, found = 1;
        }
        if (!found) {
            char names[256];
            an_list_names(names, sizeof names, first, stride, n);
            return ml_error("--only: unknown %s '%.*s' (expected %s)", what, (int)len, p, names);
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

int an_moe_index(const int *layers, int L, int block) {
    for (int l = 0; l < L; l++)
        if (layers[l] == block) return l;
    return -1;
}

int an_write_json(const char *dir, const char *name, const cJSON *j) {
    char *s = cJSON_Print(j), *p = ml_path_join(dir, name);
    size_t n = strlen(s);
    s = realloc(s, n + 2); /* cJSON allocates with malloc */
    s[n] = '\n', s[n + 1] = 0;
    int r = ml_write_file_atomic(p, s, n + 1);
    free(s);
    ml_free(p);
    return r;
}

int an_write_npy(const char *dir, const char *name, const char *dtype, const int64_t *shape, int nd,
                 const void *data) {
    char *p = ml_path_join(dir, name);
    int rc = npy_write(p, dtype, shape, nd, data);
    ml_free(p);
    return rc;
}
