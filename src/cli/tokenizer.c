/* `moelens tokenizer train|encode|decode`: the byte-level BPE of docs/tokenizer.md on its own. */
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "cli/data.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/progress.h"
#include "data/textset.h"
#include "data/tokenizer.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int vocab;
    const char *out;
} TrainArgs;

static const CliOpt train_opts[] = {
    {"--vocab", "N", OPT_INT, offsetof(TrainArgs, vocab), NULL,
     "vocabulary size, end-of-text included (default 8192)"},
    {"--out", "FILE", OPT_STR, offsetof(TrainArgs, out), NULL,
     "where to save it (default DATA_DIR/text/tokenizer.txt)"},
};

static int tok_train(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: moelens tokenizer train [options]\n\nTrains a byte-level BPE tokenizer on "
               "the train split of the corpus.\n\n");
        cli_print_tables((CliOpts[]){corpus_args_opts(), CLI_OPTS(train_opts)}, 2);
        return 0;
    }
    CorpusArgs a;
    corpus_args_init(&a);
    TrainArgs ta = {.vocab = 8192};
    CliGroup groups[] = {{.opts = corpus_args_opts(), .args = &a},
                         {.opts = CLI_OPTS(train_opts), .args = &ta}};
    cli_parse_groups("tokenizer train", groups, 2, argc, argv, NULL, 0);
    int vocab = ta.vocab;
    const char *out = ta.out;
    char *path = out ? ml_strdup(out) : ml_path_join(a.data_dir, "text/tokenizer.txt");
    Corpus c;
    corpus_args_build(&a, &c, 1);
    double t0 = ml_now();
    Tokenizer *t;
    if (textset_train_tokenizer(&t, &c, vocab, 1)) ml_fatal("%s", ml_errmsg());
    double secs = ml_now() - t0;
    char *slash = strrchr(path, '/');
    if (slash) {
        *slash = 0;
        if (*path && ml_mkdir_p(path)) ml_fatal("%s", ml_errmsg());
        *slash = '/';
    }
    if (tokenizer_save(t, path)) ml_fatal("%s", ml_errmsg());
    printf("tokenizer: vocab %d (%d merges) trained in %.2fs, saved %s\n", tokenizer_vocab_size(t),
           tokenizer_num_merges(t), secs, path);
    tokenizer_free(t), corpus_free(&c), ml_free(path);
    return 0;
}

typedef struct {
    const char *tok;
    int print_ids;
} EncodeArgs;

static const CliOpt encode_opts[] = {
    {"--tokenizer", "FILE", OPT_STR, offsetof(EncodeArgs, tok), NULL, "the tokenizer (required)"},
    {"--ids", NULL, OPT_FLAG, offsetof(EncodeArgs, print_ids), NULL,
     "print the ids instead of the counts"},
};

static int tok_encode(int argc, char **argv) {
    const char *cmd = "tokenizer encode";
    if (cli_wants_help(argc, argv)) {
        printf("usage: moelens tokenizer encode --tokenizer FILE [--ids] TEXTFILE\n\n"
               "Encodes a file; prints token count, bytes per token and speed, or with --ids the "
               "ids.\n");
        cli_print_opts(CLI_OPTS(encode_opts));
        return 0;
    }
    const char *file = NULL;
    EncodeArgs ea = {0};
    cli_parse(cmd, CLI_OPTS(encode_opts), &ea, argc, argv, &file, 1);
    const char *tok = ea.tok;
    int print_ids = ea.print_ids;
    if (!tok || !file) ml_fatal("%s: needs --tokenizer FILE and a text file", cmd);
    Tokenizer *t;
    char *text;
    size_t len;
    if (tokenizer_load(&t, tok) || ml_read_file(file, &text, &len)) ml_fatal("%s", ml_errmsg());
    double t0 = ml_now();
    int32_t *ids;
    long n;
    tokenizer_encode(t, text, len, &ids, &n);
    double secs = ml_now() - t0;
    if (print_ids)
        for (long i = 0; i < n; i++) printf("%d%c", ids[i], i + 1 == n ? '\n' : ' ');
    else
        printf("%s: %zu bytes, %ld tokens, %.2f bytes/token, %.1f MB/s\n", file, len, n,
               n ? (double)len / n : 0, len / 1e6 / (secs > 0 ? secs : 1e-9));
    ml_free(ids), ml_free(text), tokenizer_free(t);
    return 0;
}

typedef struct {
    const char *tok;
} DecodeArgs;
static const CliOpt decode_opts[] = {
    {"--tokenizer", "FILE", OPT_STR, offsetof(DecodeArgs, tok), NULL,
     "tokenizer.txt the ids belong to (required)"},
};

static int tok_decode(int argc, char **argv) {
    const char *cmd = "tokenizer decode";
    if (cli_wants_help(argc, argv)) {
        printf("usage: moelens tokenizer decode --tokenizer FILE < ids\n\nReads "
               "whitespace-separated ids, writes the bytes.\n");
        cli_print_opts(CLI_OPTS(decode_opts));
        return 0;
    }
    DecodeArgs da = {0};
    cli_parse(cmd, CLI_OPTS(decode_opts), &da, argc, argv, NULL, 0);
    if (!da.tok) ml_fatal("%s: needs --tokenizer FILE", cmd);
    Tokenizer *t;
    if (tokenizer_load(&t, da.tok)) ml_fatal("%s", ml_errmsg());
    long n = 0, cap = 1024;
    int32_t *ids = ml_alloc((size_t)cap * 4);
    int v;
    while (scanf("%d", &v) == 1) {
        if (n == cap) {
            int32_t *g = ml_alloc((size_t)cap * 8);
            memcpy(g, ids, (size_t)cap * 4), ml_free(ids), ids = g, cap *= 2;
        }
        ids[n++] = v;
    }
    char *bytes;
    size_t len;
    if (tokenizer_decode(t, ids, n, &bytes, &len)) ml_fatal("%s", ml_errmsg());
    fwrite(bytes, 1, len, stdout);
    ml_free(bytes), ml_free(ids), tokenizer_free(t);
    return 0;
}

static int cmd_tokenizer(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "train")) return tok_train(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "encode")) return tok_encode(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "decode")) return tok_decode(argc - 1, argv + 1);
    FILE *f = argc >= 2 && strcmp(argv[1], "--help") && strcmp(argv[1], "-h") ? stderr : stdout;
    fprintf(f, "usage: moelens tokenizer train|encode|decode [options]   (--help on each)\n"
               "  train    train the byte-level BPE on the corpus\n"
               "  encode   encode a text file (count, speed, or ids)\n"
               "  decode   ids on stdin to bytes on stdout\n");
    return f == stderr;
}
COMMAND("tokenizer", cmd_tokenizer, "train and use the byte-level BPE tokenizer")
