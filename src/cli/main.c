#include "cli/cli.h"
#include "core/error.h"
#include "dist/dist.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COMMANDS 64
static struct {
    const char *name, *summary;
    CommandFn fn;
} commands[MAX_COMMANDS];
static int n_commands;

void command_register(const char *name, CommandFn fn, const char *summary) {
    if (n_commands < MAX_COMMANDS)
        commands[n_commands++] = (typeof(commands[0])){name, summary, fn};
}

int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    return 0;
}

void cli_unknown_option(const char *cmd, const char *opt) {
    ml_fatal("%s: unknown option '%s' (see moelens %s --help)", cmd, opt, cmd);
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) ml_fatal("%s: option '%s' needs a value", cmd, argv[*i]);
    return argv[++*i];
}

long cli_long(const char *cmd, const char *opt, const char *value) {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (!*value || *end) ml_fatal("%s: option '%s' expects an integer, got '%s'", cmd, opt, value);
    if (errno == ERANGE) ml_fatal("%s: option '%s': %s is out of range", cmd, opt, value);
    return v;
}

double cli_double(const char *cmd, const char *opt, const char *value) {
    char *end;
    double v = strtod(value, &end);
    if (!*value || *end) ml_fatal("%s: option '%s' expects a number, got '%s'", cmd, opt, value);
    return v;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const typeof(commands[0]) *)a)->name, ((const typeof(commands[0]) *)b)->name);
}

static void usage(FILE *out) {
    fprintf(out, "moelens: train sparse Mixture-of-Experts models and see what each expert does\n\n"
                 "usage: moelens COMMAND [options]   (moelens COMMAND --help for its options)\n\n"
                 "commands:\n");
    for (int i = 0; i < n_commands; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv); /* a no-op unless started by mpirun */
    qsort(commands, n_commands, sizeof commands[0], by_name);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 1 : 0;
    }
    if (dist_size() > 1 && strcmp(argv[1], "train") && strcmp(argv[1], "analyze"))
        ml_fatal("%s: runs in one process; under mpirun only `train lm` and `analyze` (LM) are "
                 "distributed", /* N copies would write the same files */
                 argv[1]);
    for (int i = 0; i < n_commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "moelens: error: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 1;
}
