/* Training and forward throughput of the vision MoE (stem conv → gate → top-k expert CNNs →
 * readout → projection → NT-Xent) on a preset, one JSON line per run; bench/run.sh compares it
 * with the PyTorch peer bench/vision_peer.py on the same config, threads and input shape.
 * The input is one fixed random batch of 2·batch views (no augmentation), so only the model is
 * timed. usage: bench_vision PRESET [steps] */
#include "core/mem.h"
#include "core/progress.h"
#include "core/rng.h"
#include "model/vision.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_vision PRESET [steps]\n");
        return 1;
    }
    int steps = argc > 2 ? atoi(argv[2]) : 10;
    VisionConfig c;
    if (vision_preset(&c, argv[1])) return 1;
    c.in_ch = 1, c.img = 28; /* Fashion-MNIST's shape, as the peer uses */
    VisionModel m;
    if (vision_init(&m, &c)) return 1;
    int V = 2 * c.batch;
    long n = (long)V * c.in_ch * c.img * c.img;
    float *x = ml_alloc_floats(n);
    Rng r;
    rng_seed(&r, 5);
    for (long i = 0; i < n; i++) x[i] = rng_uniform(&r);
    double t_train = 0, t_fwd = 0;
    for (int s = -2; s < steps; s++) { /* two warm-up steps */
        double t0 = ml_now();
        vision_forward(&m, x, V, 1, 1);
        vision_backward(&m);
        vision_step(&m);
        if (s >= 0) t_train += ml_now() - t0;
    }
    for (int s = -1; s < steps; s++) {
        double t0 = ml_now();
        vision_forward(&m, x, V, 0, 0);
        if (s >= 0) t_fwd += ml_now() - t0;
    }
    /* images/s counts source images (each is two views), as `train vision` reports it */
    printf("{\"what\": \"moelens\", \"model\": \"vision\", \"preset\": \"%s\", \"train_img_s\": "
           "%.1f, \"fwd_img_s\": %.1f, \"loss\": %.4f}\n",
           argv[1], (double)c.batch * steps / t_train, (double)V * steps / t_fwd, m.loss);
    ml_free(x);
    vision_free(&m);
    return 0;
}
