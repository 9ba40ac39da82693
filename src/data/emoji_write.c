/* Emoji concept set on disk: attributes (binary and NMF), concept tables, and the image set. */
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/npy.h"
#include "data/emoji.h"
#include "data/nmf.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    int count;
} Attr;

static int cmp_attr(const void *a, const void *b) {
    return strcmp(((const Attr *)a)->name, ((const Attr *)b)->name);
}

/* Every attribute string a concept has, deduplicated by the caller via the sorted table. */
static int concept_attrs(const EmojiConcept *c, char **out) {
    int n = 0;
    char buf[300];
    for (int t = 0; t < c->n_tags; t++) {
        snprintf(buf, sizeof buf, "tag:%s", c->tags[t]);
        out[n++] = ml_strdup(buf);
    }
    for (int h = 0; h < c->n_hypernyms; h++) {
        snprintf(buf, sizeof buf, "wn:%s", c->hypernyms[h]);
        out[n++] = ml_strdup(buf);
    }
    return n;
}

void emoji_attributes(const EmojiConcepts *ec, int min_count, float **X, char ***names,
                      int *n_attr) {
    int cap = 0, most = 0;
    for (int c = 0; c < ec->n; c++) {
        int k = ec->c[c].n_tags + ec->c[c].n_hypernyms;
        cap += k, most = k > most ? k : most;
    }
    Attr *all = malloc(sizeof(Attr) * (cap + 1));
    char **tmp = malloc(sizeof(char *) * (most + 1));
    int na = 0;
    for (int c = 0; c < ec->n; c++) { /* count each attribute once per concept */
        int k = concept_attrs(&ec->c[c], tmp);
        for (int i = 0; i < k; i++) {
            int dup = 0;
            for (int j = 0; j < i && !dup; j++) dup = !strcmp(tmp[i], tmp[j]);
            if (dup)
                ml_free(tmp[i]);
            else
                all[na++] = (Attr){tmp[i], 1};
        }
    }
    qsort(all, na, sizeof(Attr), cmp_attr);
    int u = 0;
    for (int i = 0; i < na; i++) {
        if (u && !strcmp(all[u - 1].name, all[i].name)) {
            all[u - 1].count++;
            ml_free(all[i].name);
        } else {
            all[u++] = all[i];
        }
    }
    int m = 0;
    for (int i = 0; i < u; i++) {
        if (all[i].count >= min_count)
            all[m++] = all[i];
        else
            ml_free(all[i].name);
    }
    *n_attr = m;
    *names = ml_alloc(sizeof(char *) * (m + 1));
    for (int i = 0; i < m; i++) (*names)[i] = all[i].name;
    *X = ml_alloc_floats((size_t)ec->n * m + 1);
    for (int c = 0; c < ec->n; c++) {
        int k = concept_attrs(&ec->c[c], tmp);
        for (int i = 0; i < k; i++) {
            Attr probe = {tmp[i], 0};
            Attr *hit = bsearch(&probe, all, m, sizeof(Attr), cmp_attr);
            if (hit) (*X)[(size_t)c * m + (hit - all)] = 1.0f;
            ml_free(tmp[i]);
        }
    }
    free(tmp), free(all);
}

static cJSON *strings_json(char **s, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(s[i]));
    return a;
}

static int write_json(const char *dir, const char *name, cJSON *j) {
    char *text = cJSON_Print(j), *path = ml_path_join(dir, name);
    int rc = ml_write_file_atomic(path, text, strlen(text));
    cJSON_free(text), ml_free(path);
    cJSON_Delete(j);
    return rc;
}

static int write_concepts_json(const char *dir, const EmojiConcepts *ec) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < ec->n; i++) {
        const EmojiConcept *c = &ec->c[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", i);
        cJSON_AddStringToObject(o, "label", c->label);
        cJSON_AddStringToObject(o, "hexcode", c->hexcode);
        cJSON_AddStringToObject(o, "group", c->group);
        cJSON_AddStringToObject(o, "subgroup", c->subgroup);
        cJSON_AddNumberToObject(o, "animate", c->animate);
        cJSON_AddNumberToObject(o, "living", c->living);
        cJSON_AddNumberToObject(o, "fold_group", c->fold_group);
        cJSON_AddStringToObject(o, "wordnet_head", c->head);
        if (c->lexname) cJSON_AddStringToObject(o, "wordnet_lexname", c->lexname);
        cJSON_AddItemToObject(o, "hypernyms", strings_json(c->hypernyms, c->n_hypernyms));
        cJSON_AddItemToObject(o, "tags", strings_json(c->tags, c->n_tags));
        cJSON_AddItemToArray(arr, o);
    }
    return write_json(dir, "concepts.json", arr);
}

/* CSV field: quoted, inner quotes doubled. */
static void csv_field(AtomicFile *af, const char *s, int last) {
    afile_write(af, "\"", 1);
    for (; *s; s++) {
        if (*s == '"') afile_write(af, "\"", 1);
        afile_write(af, s, 1);
    }
    afile_write(af, last ? "\"\n" : "\",", 2);
}

static int write_concepts_csv(const char *dir, const EmojiConcepts *ec) {
    char *path = ml_path_join(dir, "concepts.csv");
    AtomicFile af;
    int rc = afile_open(&af, path);
    ml_free(path);
    if (rc) return -1;
    afile_printf(&af, "id,label,hexcode,group,subgroup,animate,living,fold_group,wordnet_head,"
                      "wordnet_lexname,hypernyms,tags\n");
    for (int i = 0; i < ec->n; i++) {
        const EmojiConcept *c = &ec->c[i];
        char hyp[4096] = "", tags[4096] = "";
        for (int k = 0; k < c->n_hypernyms; k++)
            snprintf(hyp + strlen(hyp), sizeof hyp - strlen(hyp), "%s%s", k ? ";" : "",
                     c->hypernyms[k]);
        for (int k = 0; k < c->n_tags; k++)
            snprintf(tags + strlen(tags), sizeof tags - strlen(tags), "%s%s", k ? ";" : "",
                     c->tags[k]);
        afile_printf(&af, "%d,", i);
        csv_field(&af, c->label, 0);
        afile_printf(&af, "%s,%s,%s,%d,%d,%d,", c->hexcode, c->group, c->subgroup, c->animate,
                     c->living, c->fold_group);
        csv_field(&af, c->head, 0);
        afile_printf(&af, "%s,", c->lexname ? c->lexname : "");
        csv_field(&af, hyp, 0);
        csv_field(&af, tags, 1);
    }
    return afile_commit(&af);
}

static int write_attributes(const char *dir, const EmojiConcepts *ec, int min_count, int k,
                            uint64_t seed) {
    float *X;
    char **names;
    int m;
    emoji_attributes(ec, min_count, &X, &names, &m);
    int64_t shape[2] = {ec->n, m};
    char *p = ml_path_join(dir, "attributes.npy");
    int rc = npy_write_f32(p, X, shape, 2);
    ml_free(p);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "source",
                            "emojibase tags (tag:) and WordNet hypernyms of the "
                            "label's head noun (wn:); derived from labels, not from "
                            "human similarity judgements");
    cJSON_AddNumberToObject(j, "min_concepts", min_count);
    cJSON_AddItemToObject(j, "names", strings_json(names, m));
    if (!rc)
        rc = write_json(dir, "attributes.json", j);
    else
        cJSON_Delete(j);
    if (!rc && k > 0 && m > 0) {
        float *W = ml_alloc_floats((size_t)ec->n * k), *H = ml_alloc_floats((size_t)k * m);
        nmf_fit(X, ec->n, m, k, 300, seed, W, H, NULL);
        int64_t ws[2] = {ec->n, k}, hs[2] = {k, m};
        char *pw = ml_path_join(dir, "attributes_nmf.npy");
        char *ph = ml_path_join(dir, "attributes_nmf_basis.npy");
        rc = npy_write_f32(pw, W, ws, 2) || npy_write_f32(ph, H, hs, 2) ? -1 : 0;
        ml_free(pw), ml_free(ph), ml_free(W), ml_free(H);
    }
    for (int i = 0; i < m; i++) ml_free(names[i]);
    ml_free(names), ml_free(X);
    return rc;
}

int emoji_write(const char *dir, const ImageSet *set, const EmojiConcepts *ec, int min_count,
                int nmf_dims, uint64_t seed) {
    if (ml_mkdir_p(dir)) return -1;
    /* meta.json (written last by imageset_save) marks the folder complete */
    if (write_concepts_json(dir, ec) || write_concepts_csv(dir, ec) ||
        write_attributes(dir, ec, min_count, nmf_dims, seed))
        return -1;
    return imageset_save(set, dir);
}
