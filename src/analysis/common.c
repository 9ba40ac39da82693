/* Helpers shared by the analyses. */
#include "analysis/analysis.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/npy.h"
#include <stdlib.h>
#include <string.h>

int an_moe_layers(const LmModel *m, int *layers) {
    int n = 0;
    for (int l = 0; l < m->cfg.n_layer && n < 64; l++)
        if (m->layer_ffn[l].router != ROUTER_DENSE) layers[n++] = l;
    return n;
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
