/* Table-driven options: a command declares its options once, as rows {name, value placeholder,
 * kind, field, help}, and one function parses argv into its option struct while another prints
 * the --help lines from the same rows, so an option cannot be parsed without being documented.
 *
 *     typedef struct { const char *out; int n; } Args;
 *     static const CliOpt opts[] = {
 *         {"--out", "DIR", OPT_STR, offsetof(Args, out), NULL, "output folder"},
 *         {"--n", "N", OPT_INT, offsetof(Args, n), NULL, "how many (default 4)"},
 *     };
 *     cli_parse("cmd", CLI_OPTS(opts), &args, argc, argv, pos, 1);
 */
#pragma once
#include <stddef.h>

typedef enum {
    OPT_FLAG,   /* no value: sets an int field to 1 */
    OPT_STR,    /* const char * field: the value as given */
    OPT_INT,    /* int field: a strict integer within int range */
    OPT_LONG,   /* long field */
    OPT_U64,    /* uint64_t field (seeds): a strict integer */
    OPT_DOUBLE, /* double field: a strict number */
    OPT_FLOAT,  /* float field */
    OPT_FN,     /* parse(cmd, args, value): the row's own parse, which exits on a bad value */
} CliOptKind;

typedef struct {
    const char *name; /* "--max-images" */
    const char *arg;  /* the value's placeholder in --help ("N"); NULL for OPT_FLAG */
    CliOptKind kind;
    size_t offset; /* of the field in the command's option struct (not OPT_FN) */
    void (*parse)(const char *cmd, void *args, const char *value);
    const char *help; /* '\n' starts a continuation line, aligned under the first */
} CliOpt;

typedef struct {
    const CliOpt *rows;
    int n;
} CliOpts;
#define CLI_OPTS(a) ((CliOpts){(a), (int)(sizeof(a) / sizeof((a)[0]))})

/* A table and the struct its rows' offsets point into: a command parses its own options and
 * shared groups (the corpus options of `data text` and `tokenizer train`) in one pass. */
typedef struct {
    CliOpts opts;
    void *args;
    /* Or a family of value options whose table lives in the library (the routing interventions,
     * analysis/intervene.h): takes(opt) says whether an option is one of them, parse(cmd, args,
     * opt, value) parses it (exiting on a bad value). opts is then empty. */
    int (*takes)(const char *opt);
    void (*parse)(const char *cmd, void *args, const char *opt, const char *value);
} CliGroup;

/* Parses argv[1..argc-1]: options by the tables into their structs, other words into
 * pos[0..max_pos-1] in order. Exits with one error line on an unknown option, a missing or
 * malformed value, or more than max_pos words. Returns the number of words. */
int cli_parse_groups(const char *cmd, const CliGroup *groups, int n_groups, int argc, char **argv,
                     const char **pos, int max_pos);
/* The same for one table. */
int cli_parse(const char *cmd, CliOpts opts, void *args, int argc, char **argv, const char **pos,
              int max_pos);
/* A command without options whose one argument is a path: with --help prints usage and returns
 * NULL; else returns the path, or exits with one error line (an option, a second word, or none:
 * "<cmd>: needs <what> (see moelens <cmd> --help)"). */
const char *cli_parse_path(const char *cmd, int argc, char **argv, const char *what,
                           const char *usage);
/* The --help lines of the tables: "  --name ARG   help", help columns aligned across them. */
void cli_print_tables(const CliOpts *tables, int n_tables);
void cli_print_opts(CliOpts opts);
