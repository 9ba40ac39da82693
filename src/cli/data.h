/* `moelens data SUB ...` dispatches to sub-subcommands that register themselves, so a new data kind
 * is one file with one line:
 *     static int data_images(int argc, char **argv) { ... }   // argv[0] = "images"
 *     DATA_SUBCOMMAND("images", data_images, "prepare the image sets")
 * and `moelens data info PATH` asks each registered info handler in turn whether PATH is its kind:
 *     DATA_INFO_HANDLER(image_info_claims, image_info)   // int claims(path); int info(path) → exit
 * status
 */
#pragma once
#include "cli/cli_opts.h"
#include "data/corpus.h"
#include <stddef.h>

typedef int (*DataSubFn)(int argc, char **argv);
typedef int (*DataClaimsFn)(const char *path);
typedef int (*DataInfoFn)(const char *path);
void data_subcommand_register(const char *name, DataSubFn fn, const char *summary);
void data_info_register(DataClaimsFn claims, DataInfoFn info);

#define DATA_SUBCOMMAND(name, fn, summary)                                                         \
    __attribute__((constructor)) static void register_data_##fn(void) {                            \
        data_subcommand_register(name, fn, summary);                                               \
    }
#define DATA_INFO_HANDLER(claims, info)                                                            \
    __attribute__((constructor)) static void register_info_##info(void) {                          \
        data_info_register(claims, info);                                                          \
    }

/* The data folder: --data-dir, else $MOELENS_DATA, else "data". */
const char *data_dir_default(void);

/* Corpus options shared by `data text` and `tokenizer train`. */
typedef struct {
    const char *data_dir;
    const char *user[CORPUS_MAX_DOMAINS];
    int n_user;
    const char *only; /* comma-separated domain names, or NULL */
    size_t cap_bytes;
    double val_fraction;
} CorpusArgs;
void corpus_args_init(CorpusArgs *a);
/* Their option table (--data-dir, --domain, --only, --cap-mb, --val-fraction) for cli_opts. */
CliOpts corpus_args_opts(void);
/* Builds and splits the corpus (built-in domains read only when selected); fatal on error. */
void corpus_args_build(const CorpusArgs *a, Corpus *c, int verbose);
