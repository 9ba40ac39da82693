/* libFuzzer target: sweep grid files (grid_load and the per-arm config check of `moelens sweep`).
 * The command's file is compiled in whole; what it would run is stubbed out. */
#include "cli/sweep.c"
#include "fuzz_file.h"

void command_register(const char *name, int (*fn)(int, char **), const char *summary) {}
int cli_wants_help(int argc, char **argv) {
    return 0;
}
const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    abort();
}
void cli_unknown_option(const char *cmd, const char *opt) {
    abort();
}
int self_run(const char *const *argv, const char *stdout_path) {
    abort();
}
int self_has(const char *const *argv) {
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("grid.json", data, size);
    Grid g;
    if (grid_load(path, &g)) {
        fuzz_failed_with_message();
        return 0;
    }
    long per_arm = 1, combos;
    for (int a = 0; a < g.n_axes; a++) per_arm *= g.axes[a].n;
    combos = per_arm * (g.n_arms ? g.n_arms : 1);
    free(g.claims);
    if (combos * g.n_seeds > 64) return 0; /* the CLI caps it at 10000; keep inputs fast */
    if (validate_arms(&g, path, (int)combos, (int)per_arm)) fuzz_failed_with_message();
    int idx[MAX_AXES] = {0};
    char arm[512];
    for (int n = g.n_arms ? 0 : -1; n < g.n_arms; n++) {
        arm_name(&g, n, idx, arm, sizeof arm);
        if (strchr(arm, '/')) abort(); /* arm names are single folder names */
    }
    return 0;
}
