#include "data/textset.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/progress.h"
#include "data/shard.h"
#include <cjson/cJSON.h>
#include <string.h>

int textset_train_tokenizer(Tokenizer **t, const Corpus *c, int vocab_size, int verbose) {
    const char **texts = ml_alloc((size_t)(c->n_docs + 1) * sizeof(char *));
    size_t *lens = ml_alloc((size_t)(c->n_docs + 1) * sizeof(size_t));
    long n = 0;
    for (long i = 0; i < c->n_docs; i++)
        if (!c->docs[i].val) texts[n] = c->docs[i].text, lens[n++] = c->docs[i].len;
    BpeTrainOptions o = {vocab_size, verbose};
    int rc = tokenizer_train(t, texts, lens, n, &o);
    ml_free(texts), ml_free(lens);
    return rc;
}

typedef struct {
    long docs[2];
    size_t bytes[2];
    long tokens[2];
} DomainStats;

int textset_build(const Corpus *c, const char *out_dir, const TextSetOptions *opt) {
    if (!c->n_domains || !c->n_docs) return ml_error("text set: the corpus is empty");
    if (ml_mkdir_p(out_dir)) return -1;
    char *tok_path =
        opt->tokenizer ? ml_strdup(opt->tokenizer) : ml_path_join(out_dir, "tokenizer.txt");
    Tokenizer *t = NULL;
    int rc = 0;
    if (!opt->tokenizer && (opt->retrain || !ml_file_exists(tok_path))) {
        double t0 = ml_now();
        rc = textset_train_tokenizer(&t, c, opt->vocab_size, opt->verbose);
        if (!rc) rc = tokenizer_save(t, tok_path);
        if (!rc && opt->verbose)
            fprintf(stderr, "tokenizer: trained in %.1fs, saved %s\n", ml_now() - t0, tok_path);
    } else {
        rc = tokenizer_load(&t, tok_path);
    }
    if (rc) {
        tokenizer_free(t), ml_free(tok_path);
        return -1;
    }
    DomainStats *st = ml_alloc((size_t)c->n_domains * sizeof *st);
    ShardWriter *w[2] = {NULL, NULL};
    char *paths[2] = {ml_path_join(out_dir, "train.tokens"), ml_path_join(out_dir, "val.tokens")};
    for (int s = 0; s < 2 && !rc; s++)
        rc = shard_writer_open(&w[s], paths[s], tokenizer_vocab_size(t), c->n_domains,
                               (const char *const *)c->domain_names);
    double t0 = ml_now();
    size_t total_bytes = 0;
    Progress prog;
    if (opt->verbose) progress_start(&prog, "encoding", c->n_docs);
    for (long i = 0; i < c->n_docs && !rc; i++) {
        const CorpusDoc *d = &c->docs[i];
        int32_t *ids;
        long n;
        tokenizer_encode(t, d->text, d->len, &ids, &n);
        int32_t *doc = ml_alloc((size_t)(n + 1) * sizeof(int32_t));
        memcpy(doc, ids, (size_t)n * sizeof(int32_t));
        doc[n] = tokenizer_eot(t);
        rc = shard_writer_add_doc(w[d->val], doc, n + 1, d->domain);
        ml_free(ids), ml_free(doc);
        st[d->domain].docs[d->val]++, st[d->domain].bytes[d->val] += d->len,
            st[d->domain].tokens[d->val] += n + 1;
        total_bytes += d->len;
        if (opt->verbose && i % 500 == 0) progress_update(&prog, i, NULL);
    }
    double secs = ml_now() - t0;
    if (opt->verbose) {
        char extra[128];
        snprintf(extra, sizeof extra, "%.1f MB in %.1fs (%.1f MB/s)", total_bytes / 1e6, secs,
                 total_bytes / 1e6 / (secs > 0 ? secs : 1e-9));
        progress_end(&prog, extra);
    }
    for (int s = 0; s < 2; s++) {
        if (!rc)
            rc = shard_writer_commit(w[s]);
        else
            shard_writer_abort(w[s]);
        w[s] = NULL;
    }
    if (!rc) {
        cJSON *root = cJSON_CreateObject(), *doms = cJSON_AddArrayToObject(root, "domains");
        cJSON_AddStringToObject(root, "format", "moelens-text-set 1");
        cJSON_AddStringToObject(root, "tokenizer", opt->tokenizer ? tok_path : "tokenizer.txt");
        cJSON_AddNumberToObject(root, "vocab_size", tokenizer_vocab_size(t));
        cJSON_AddNumberToObject(root, "eot", tokenizer_eot(t));
        cJSON_AddStringToObject(root, "train", "train.tokens");
        cJSON_AddStringToObject(root, "val", "val.tokens");
        for (int d = 0; d < c->n_domains; d++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", c->domain_names[d]);
            cJSON_AddNumberToObject(o, "id", d);
            const char *split[2] = {"train", "val"};
            for (int s = 0; s < 2; s++) {
                cJSON *x = cJSON_AddObjectToObject(o, split[s]);
                cJSON_AddNumberToObject(x, "docs", (double)st[d].docs[s]);
                cJSON_AddNumberToObject(x, "bytes", (double)st[d].bytes[s]);
                cJSON_AddNumberToObject(x, "tokens", (double)st[d].tokens[s]);
            }
            cJSON_AddItemToArray(doms, o);
        }
        char *json = cJSON_Print(root), *jpath = ml_path_join(out_dir, "corpus.json");
        rc = ml_write_file_atomic(jpath, json, strlen(json));
        cJSON_free(json), cJSON_Delete(root), ml_free(jpath);
    }
    ml_free(paths[0]), ml_free(paths[1]), ml_free(st), ml_free(tok_path);
    tokenizer_free(t);
    return rc;
}

static int shard_info(const char *path, const char *label, FILE *out) {
    TokenShard *s;
    if (shard_open(&s, path)) return -1;
    long *docs = ml_alloc((size_t)shard_num_domains(s) * sizeof(long)),
         *toks = ml_alloc((size_t)shard_num_domains(s) * sizeof(long));
    for (long d = 0; d < shard_num_docs(s); d++)
        docs[shard_doc_domain(s, d)]++, toks[shard_doc_domain(s, d)] += shard_doc_len(s, d);
    fprintf(out, "%s: %ld tokens, %ld documents, vocab %d\n", label, shard_num_tokens(s),
            shard_num_docs(s), shard_vocab_size(s));
    for (int d = 0; d < shard_num_domains(s); d++)
        fprintf(out, "  %-12s %8ld docs %10ld tokens\n", shard_domain_name(s, d), docs[d], toks[d]);
    ml_free(docs), ml_free(toks);
    shard_close(s);
    return 0;
}

int textset_info(const char *path, FILE *out) {
    if (!ml_is_dir(path)) return shard_info(path, path, out);
    char *jpath = ml_path_join(path, "corpus.json"), *text;
    size_t len;
    int rc = ml_read_file(jpath, &text, &len);
    cJSON *root = rc ? NULL : cJSON_Parse(text);
    if (!rc) ml_free(text);
    if (!rc && !root) rc = ml_error("%s: not valid JSON", jpath);
    if (!rc) {
        const cJSON *doms = cJSON_GetObjectItem(root, "domains"), *d;
        fprintf(out, "text set %s: tokenizer %s, vocab %d\n", path,
                cJSON_GetStringValue(cJSON_GetObjectItem(root, "tokenizer")),
                (int)cJSON_GetNumberValue(cJSON_GetObjectItem(root, "vocab_size")));
        fprintf(out, "  %-12s %8s %8s %12s %12s %10s %10s  %s\n", "domain", "docs", "val docs",
                "bytes", "val bytes", "tokens", "val tok", "bytes/token");
        cJSON_ArrayForEach(d, doms) {
            const cJSON *tr = cJSON_GetObjectItem(d, "train"), *va = cJSON_GetObjectItem(d, "val");
#define NUM(o, k) cJSON_GetNumberValue(cJSON_GetObjectItem(o, k))
            double tok = NUM(tr, "tokens") + NUM(va, "tokens");
            fprintf(out, "  %-12s %8.0f %8.0f %12.0f %12.0f %10.0f %10.0f  %.2f\n",
                    cJSON_GetStringValue(cJSON_GetObjectItem(d, "name")), NUM(tr, "docs"),
                    NUM(va, "docs"), NUM(tr, "bytes"), NUM(va, "bytes"), NUM(tr, "tokens"),
                    NUM(va, "tokens"), tok > 0 ? (NUM(tr, "bytes") + NUM(va, "bytes")) / tok : 0);
#undef NUM
        }
        cJSON_Delete(root);
        const char *names[2] = {"train.tokens", "val.tokens"};
        for (int s = 0; s < 2 && !rc; s++) {
            char *p = ml_path_join(path, names[s]);
            FILE *f = fopen(p, "rb");
            long size = -1;
            if (f) fseek(f, 0, SEEK_END), size = ftell(f), fclose(f);
            rc = shard_info(p, names[s], out);
            if (!rc) fprintf(out, "  file size %.2f MB\n", size / 1e6);
            ml_free(p);
        }
    }
    ml_free(jpath);
    return rc;
}
