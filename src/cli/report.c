/* moelens report RUN|SWEEP [--out FILE] */
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "report/report.h"
#include <stdio.h>
#include <string.h>

static const CliOpt opts[] = {{"--out", "FILE", OPT_STR, 0, NULL, "the HTML file to write"}};

static int cmd_report(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf(
            "usage: moelens report RUN|SWEEP [--out FILE]\n\n"
            "Writes one self-contained HTML file (inline CSS and SVG, images as PNG data URIs, no\n"
            "network) from whatever the folder holds: a run (metrics.jsonl, config.json, "
            "analysis/)\n"
            "or a sweep (sub-folders that are runs, compare/). Default FILE: FOLDER/report.html.\n"
            "Every figure names the file that holds its numbers (docs/report.md).\n");
        cli_print_opts(CLI_OPTS(opts));
        return 0;
    }
    const char *pos[2] = {NULL, NULL}, *out = NULL;
    if (cli_parse("report", CLI_OPTS(opts), &out, argc, argv, pos, 2) == 2)
        ml_fatal("report: one folder expected, got '%s' and '%s'", pos[0], pos[1]);
    const char *dir = pos[0];
    if (!dir) ml_fatal("report: a run or sweep folder is required (moelens report RUN)");
    if (report_write(dir, out)) ml_fatal("%s", ml_errmsg());
    printf("report: wrote %s%s\n", out ? out : dir, out ? "" : "/report.html");
    return 0;
}
COMMAND("report", cmd_report, "self-contained HTML report of a run or a sweep")
