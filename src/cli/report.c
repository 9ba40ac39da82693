/* moelens report RUN|SWEEP [--out FILE] */
#include "cli/cli.h"
#include "core/error.h"
#include "report/report.h"
#include <stdio.h>
#include <string.h>

static int cmd_report(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf(
            "usage: moelens report RUN|SWEEP [--out FILE]\n\n"
            "Writes one self-contained HTML file (inline CSS and SVG, images as PNG data URIs, no\n"
            "network) from whatever the folder holds: a run (metrics.jsonl, config.json, "
            "analysis/)\n"
            "or a sweep (sub-folders that are runs, compare/). Default FILE: FOLDER/report.html.\n"
            "Every figure names the file that holds its numbers (docs/report.md).\n");
        return 0;
    }
    const char *dir = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out"))
            out = cli_value("report", argc, argv, &i);
        else if (argv[i][0] == '-')
            cli_unknown_option("report", argv[i]);
        else if (!dir)
            dir = argv[i];
        else
            ml_fatal("report: one folder expected, got '%s' and '%s'", dir, argv[i]);
    }
    if (!dir) ml_fatal("report: a run or sweep folder is required (moelens report RUN)");
    if (report_write(dir, out)) ml_fatal("%s", ml_errmsg());
    printf("report: wrote %s%s\n", out ? out : dir, out ? "" : "/report.html");
    return 0;
}
COMMAND("report", cmd_report, "self-contained HTML report of a run or a sweep")
