#include "cli/cli_opts.h"
#include "cli/cli.h"
#include "core/error.h"
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const CliOpt *find_opt(const CliGroup *groups, int n_groups, const char *name, void **args) {
    for (int g = 0; g < n_groups; g++)
        for (int i = 0; i < groups[g].opts.n; i++)
            if (!strcmp(groups[g].opts.rows[i].name, name)) {
                *args = groups[g].args;
                return &groups[g].opts.rows[i];
            }
    return NULL;
}

static const CliGroup *find_family(const CliGroup *groups, int n_groups, const char *name) {
    for (int g = 0; g < n_groups; g++)
        if (groups[g].takes && groups[g].takes(name)) return &groups[g];
    return NULL;
}

static void set_opt(const char *cmd, const CliOpt *o, void *args, const char *v) {
    void *p = (char *)args + o->offset;
    switch (o->kind) {
    case OPT_FLAG:
        *(int *)p = 1;
        break;
    case OPT_STR:
        *(const char **)p = v;
        break;
    case OPT_INT: {
        long x = cli_long(cmd, o->name, v);
        if (x < INT32_MIN || x > INT32_MAX)
            ml_fatal("%s: option '%s': %ld is out of range", cmd, o->name, x);
        *(int *)p = (int)x;
        break;
    }
    case OPT_LONG:
        *(long *)p = cli_long(cmd, o->name, v);
        break;
    case OPT_U64:
        *(uint64_t *)p = (uint64_t)cli_long(cmd, o->name, v);
        break;
    case OPT_DOUBLE:
        *(double *)p = cli_double(cmd, o->name, v);
        break;
    case OPT_FLOAT:
        *(float *)p = (float)cli_double(cmd, o->name, v);
        break;
    case OPT_FN:
        o->parse(cmd, args, v);
        break;
    }
}

int cli_parse_groups(const char *cmd, const CliGroup *groups, int n_groups, int argc, char **argv,
                     const char **pos, int max_pos) {
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        void *args = NULL;
        const CliOpt *o = a[0] == '-' ? find_opt(groups, n_groups, a, &args) : NULL;
        const CliGroup *family = o || a[0] != '-' ? NULL : find_family(groups, n_groups, a);
        if (family)
            family->parse(cmd, family->args, a, cli_value(cmd, argc, argv, &i));
        else if (o)
            set_opt(cmd, o, args, o->kind == OPT_FLAG ? NULL : cli_value(cmd, argc, argv, &i));
        else if (a[0] == '-')
            cli_unknown_option(cmd, a);
        else if (n_pos < max_pos)
            pos[n_pos++] = a;
        else
            ml_fatal("%s: unexpected argument '%s'", cmd, a);
    }
    return n_pos;
}

int cli_parse(const char *cmd, CliOpts opts, void *args, int argc, char **argv, const char **pos,
              int max_pos) {
    CliGroup g = {.opts = opts, .args = args};
    return cli_parse_groups(cmd, &g, 1, argc, argv, pos, max_pos);
}

const char *cli_parse_path(const char *cmd, int argc, char **argv, const char *what,
                           const char *usage) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return NULL;
    }
    const char *path = NULL;
    cli_parse(cmd, (CliOpts){NULL, 0}, NULL, argc, argv, &path, 1);
    if (!path) ml_fatal("%s: needs %s (see moelens %s --help)", cmd, what, cmd);
    return path;
}

static int head_width(const CliOpt *o) {
    return (int)strlen(o->name) + (o->arg ? 1 + (int)strlen(o->arg) : 0);
}

static void print_row(const CliOpt *o, int width) {
    char head[96];
    snprintf(head, sizeof head, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    printf("  %-*s  ", width, head);
    for (const char *h = o->help; *h; h++) {
        putchar(*h);
        if (*h == '\n') printf("  %-*s  ", width, "");
    }
    putchar('\n');
}

/* A row whose name and placeholder are wider than this runs into its help rather than pushing
 * every help column right. */
#define MAX_HEAD 22

void cli_print_tables(const CliOpts *tables, int n_tables) {
    int width = 0;
    for (int t = 0; t < n_tables; t++)
        for (int i = 0; i < tables[t].n; i++) {
            int w = head_width(&tables[t].rows[i]);
            if (w > width && w <= MAX_HEAD) width = w;
        }
    for (int t = 0; t < n_tables; t++)
        for (int i = 0; i < tables[t].n; i++) print_row(&tables[t].rows[i], width);
}

void cli_print_opts(CliOpts opts) {
    cli_print_tables(&opts, 1);
}
