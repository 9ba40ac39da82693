/* moelens adapt RUN --zero-experts Z --out RUN2 [--data DIR] [--set key=value ...] */
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "cli/train.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "model/lm_adapt.h"
#include "model/lm_io.h"
#include "model/lm_run.h"
#include "model/lm_train.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int Z;
} AdaptArgs;

static const CliOpt adapt_opts[] = {
    {"--zero-experts", "Z", OPT_INT, offsetof(AdaptArgs, Z), NULL,
     "zero-output experts added to every MoE layer (required, > 0)"},
};

static void usage(void) {
    printf(
        "usage: moelens adapt RUN --zero-experts Z --out RUN2 [--data DIR] [--set key=value ...]\n"
        "                        [--stop-after N]\n"
        "       moelens adapt --resume --out RUN2 [--steps N]\n\n"
        "ZEDA (docs/zeda.md): gives every MoE layer of a trained run Z zero-output experts and\n"
        "self-distils it against the frozen original, so that tokens route part of their top-k\n"
        "slots to experts that cost nothing. The router grows from E to E+Z rows (old rows\n"
        "copied, new rows drawn per dimension from the mean and sd of the old ones); the loss is\n"
        "the per-token KL(original ‖ adapted) of the next-token distributions plus the group\n"
        "balance loss (aux_group = alpha 0.1, zero_weight = w 2: zero share wZ/(wZ+E)).\n"
        "RUN2 is a normal run (eval, sample, analyze); it keeps the original as\n"
        "teacher.safetensors, and metrics.jsonl gives zero_ratio, max_vio and avg_vio per layer.\n"
        "Data: DIR, or the folder RUN was trained on. Defaults: 300 steps, lr = RUN's lr / 10,\n"
        "no Switch loss (aux_lb 0); --set changes training keys and MoE losses, not the\n"
        "architecture.\n\n");
    cli_print_tables((CliOpts[]){CLI_OPTS(adapt_opts), lm_run_opts()}, 2);
}

/* Writes RUN2's starting point: the grown student at step 0 and the frozen teacher. */
static int start_run(const char *run, int Z, const char *out, const char *const *sets, int n_sets) {
    char *path = ml_path_join(run, "model.safetensors"),
         *ckpt = ml_path_join(out, "checkpoint.safetensors");
    char *teacher = ml_path_join(out, LM_TEACHER_FILE);
    LmModel orig, student;
    LmConfig cfg;
    int r = -1, have_orig = 0, have_student = 0;
    if (ml_file_exists(ckpt)) {
        ml_error("adapt: %s already holds a run: continue it with --resume, or pick another --out",
                 out);
        goto done;
    }
    if (lm_load(&orig, path, 0, NULL)) goto done;
    have_orig = 1;
    if (lm_adapt_config(&cfg, &orig.cfg, Z)) goto done;
    for (int i = 0; i < n_sets; i++)
        if (lm_config_set_kv(&cfg, sets[i])) goto done;
    if (lm_adapt_check_arch(&cfg, &orig.cfg, Z) || lm_config_finalize(&cfg) ||
        lm_create(&student, &cfg, 1))
        goto done;
    have_student = 1;
    LmTrainState st = {.step = 0};
    rng_seed(&st.data_rng, cfg.seed + 1);
    if (lm_adapt_grow(&student, &orig, cfg.seed + 3) || ml_mkdir_p(out) ||
        lm_save(&orig, teacher, NULL) || lm_save(&student, ckpt, &st))
        goto done;
    r = 0;
done:
    if (have_orig) lm_free(&orig);
    if (have_student) lm_free(&student);
    ml_free(path), ml_free(ckpt), ml_free(teacher);
    return r;
}

static int cmd_adapt(int argc, char **argv) {
    if (cli_wants_help(argc, argv) || argc < 2) {
        usage();
        return argc < 2 ? 1 : 0;
    }
    const char *run = NULL;
    AdaptArgs aa = {0};
    LmRunArgs ra = {0};
    CliGroup groups[] = {{.opts = CLI_OPTS(adapt_opts), .args = &aa},
                         {.opts = lm_run_opts(), .args = &ra}};
    cli_parse_groups("adapt", groups, 2, argc, argv, &run, 1);
    int Z = aa.Z, n_sets = ra.n_sets;
    const char *const *sets = ra.sets;
    LmTrainOptions o = ra.o;
    if (!o.out_dir) ml_fatal("adapt: --out RUN2 is required");
    if (o.resume && (run || Z || n_sets))
        ml_fatal("adapt: --resume continues RUN2 as saved: give only --out (and --steps)");
    if (!o.resume && (!run || Z <= 0))
        ml_fatal("adapt: RUN and --zero-experts Z (> 0) are required");
    if (o.steps_override && !o.resume)
        ml_fatal("adapt: --steps goes with --resume; else --set steps=N");
    char *data = o.data_dir ? ml_strdup(o.data_dir) : lm_run_data_dir(o.resume ? o.out_dir : run);
    if (!data)
        ml_fatal("adapt: %s does not record its data folder: give --data DIR",
                 run ? run : o.out_dir);
    o.data_dir = data;
    char *train = ml_path_join(data, "train.tokens"); /* checked before RUN2 is written */
    if (!ml_file_exists(train))
        ml_fatal("adapt: %s: no train.tokens (a prepared text folder?)", data);
    ml_free(train);
    if (!o.resume && start_run(run, Z, o.out_dir, sets, n_sets)) ml_fatal("%s", ml_errmsg());
    o.resume = 1; /* training starts from the checkpoint start_run wrote, with its config */
    LmConfig unused;
    lm_config_preset(&unused, "tiny");
    int r = lm_train(&unused, &o);
    ml_free(data);
    if (r < 0) ml_fatal("%s", ml_errmsg());
    return r;
}
COMMAND("adapt", cmd_adapt, "ZEDA: add zero-output experts to a run and self-distil it")
