/* The routing-intervention options (analysis/intervene.h: --route-k, --mask, --route-p, ...) as
 * an option family for cli_parse_groups, shared by eval, sample and analyze. */
#pragma once
#include "analysis/lm/intervene.h"
#include "cli/cli_opts.h"
#include "core/error.h"

static inline void cli_parse_intervention(const char *cmd, void *iv, const char *opt,
                                          const char *value) {
    if (intervene_parse(iv, opt, value)) ml_fatal("%s: %s", cmd, ml_errmsg());
}

static inline CliGroup cli_intervention_group(Intervention *iv) {
    return (CliGroup){.args = iv, .takes = intervene_is_option, .parse = cli_parse_intervention};
}
