#include "cli/cli_opts.h"
#include "cli/cli.h"
#include "core/error.h"
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const CliOpt *find_opt(CliOpts opts, const char *name) {
    for (int i = 0; i < opts.n; i++)
        if (!strcmp(opts.rows[i].name, name)) return &opts.rows[i];
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
        o->parse(args, v);
        break;
    }
}

int cli_parse(const char *cmd, CliOpts opts, void *args, int argc, char **argv, const char **pos,
              int max_pos) {
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const CliOpt *o = a[0] == '-' ? find_opt(opts, a) : NULL;
        if (o)
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

void cli_print_opts(CliOpts opts) {
    int width = 0;
    for (int i = 0; i < opts.n; i++) {
        const CliOpt *o = &opts.rows[i];
        int w = (int)strlen(o->name) + (o->arg ? 1 + (int)strlen(o->arg) : 0);
        if (w > width) width = w;
    }
    for (int i = 0; i < opts.n; i++) {
        const CliOpt *o = &opts.rows[i];
        char head[96];
        snprintf(head, sizeof head, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-*s  ", width, head);
        for (const char *h = o->help; *h; h++) {
            putchar(*h);
            if (*h == '\n') printf("  %-*s  ", width, "");
        }
        putchar('\n');
    }
}
