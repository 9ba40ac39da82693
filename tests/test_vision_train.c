/* Training the tiny preset briefly (200 steps of 64 images, 0.2 epoch) on Fashion-MNIST with seed 1
 * makes its readout more linearly decodable than the same network at initialisation (measured:
 * 0.722 → 0.759 held-out probe accuracy, +3.7 points; the test asserts 1.5) and lowers the
 * contrastive loss. This guards the training loop on a fixed seed; it is not evidence that brief
 * training beats random features in general: seed 1's initial probe is the lowest of five seeds
 * measured (0.722, 0.767, 0.779, 0.780, 0.774), and seed 2 trained the same way ends at 0.738
 * (docs/vision.md, "Probe margin"). */
#include "core/fileio.h"
#include "core/mem.h"
#include "data/images.h"
#include "model/vision_train.h"
#include "test.h"
#include <stdio.h>
#include <string.h>

#define FMNIST "/usr/share/datasets/fashion-mnist"

TEST(vision_tiny_training_beats_random_init_probe_on_fashion_mnist) {
    if (!ml_is_dir(FMNIST)) {
        printf("  (skipped: %s not installed)\n", FMNIST);
        return;
    }
    ImageLoadOpts lo = imageset_default_opts();
    lo.max_images = 3000; /* per split: 3000 train, 3000 held out */
    ImageSet set;
    CHECK(imageset_load_opts(&set, FMNIST, &lo) == 0);
    VisionConfig c;
    vision_preset(&c, "tiny");
    c.in_ch = set.channels, c.img = set.size;
    c.steps = 200, c.lr = 5e-3f, c.aug_crop_min = 0.08f, c.eval_every = 0, c.probe_images = 6000;
    VisionModel m;
    CHECK(vision_init(&m, &c) == 0);
    VisionEval before;
    CHECK(vision_evaluate(&m, &set, &before) == 0);
    char *dir = ml_path_join(test_tmpdir(), "vision_run");
    CHECK(ml_mkdir_p(dir) == 0);
    VisionTrainOpts o = {.out_dir = dir, .quiet = 1};
    CHECK(vision_train(&m, &set, &o) == 0);
    VisionEval after;
    CHECK(vision_evaluate(&m, &set, &after) == 0);
    printf("  probe accuracy: init %.4f, trained %.4f (%d fit / %d held out)\n", before.probe_acc,
           after.probe_acc, after.n_fit, after.n_test);
    CHECK_MSG(after.probe_acc >= before.probe_acc + 0.015, "probe %.4f → %.4f", before.probe_acc,
              after.probe_acc);
    /* per-class usage rows sum to k */
    for (int cl = 0; cl < after.n_classes; cl++) {
        double s = 0;
        for (int e = 0; e < after.n_experts; e++) s += after.usage[cl * after.n_experts + e];
        CHECK_NEAR(s, c.top_k, 1e-9);
    }
    /* the run folder holds the checkpoint, the metrics and the final evaluation */
    char *ck = ml_path_join(dir, "model.safetensors"), *me = ml_path_join(dir, "metrics.jsonl"),
         *ev = ml_path_join(dir, "eval.json");
    CHECK(ml_file_exists(ck) && ml_file_exists(me) && ml_file_exists(ev));
    char *buf;
    size_t len;
    CHECK(ml_read_file(me, &buf, &len) == 0);
    float first = 0, last = 0;
    int lines = 0;
    for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        int step;
        float loss;
        if (sscanf(l, "{\"step\":%d,\"loss\":%f", &step, &loss) == 2) {
            if (step <= 10) first += loss / 10;
            if (step > 190) last += loss / 10;
            lines++;
        }
    }
    CHECK(lines == 200);
    CHECK_MSG(last < first - 0.3f, "NT-Xent %.3f → %.3f", first, last);
    ml_free(buf), ml_free(ck), ml_free(me), ml_free(ev), ml_free(dir);
    vision_eval_free(&before), vision_eval_free(&after);
    vision_free(&m);
    imageset_free(&set);
}
