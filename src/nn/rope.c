#include "nn/attention.h"
#include <math.h>

/* Rotates every (b, t, head) vector of x by angle sign·θ_i, θ_i = pos·base^(-2i/n_rot), on the pair
 * (2i, 2i+1) (NORM) or (i, i + n_rot/2) (NEOX), i < n_rot/2; dims ≥ n_rot are untouched. The angles
 * are computed in double once per position and shared by all batches and heads. */
static void rope_rotate(float *x, int B, int T, int H, int HD, int n_rot, float base, RopeMode mode,
                        int pos0, double sign) {
    const int half = n_rot / 2;
    const int stride = mode == ROPE_NEOX ? 1 : 2; /* step between pair starts */
    const int partner = mode == ROPE_NEOX ? half : 1;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float cs[half > 0 ? half : 1], sn[half > 0 ? half : 1];
        double pos = (double)t + pos0;
        for (int i = 0; i < half; i++) {
            double theta = sign * pos * pow((double)base, -2.0 * i / n_rot);
            cs[i] = (float)cos(theta);
            sn[i] = (float)sin(theta);
        }
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                float *xv = x + (((long)b * T + t) * H + h) * HD;
                for (int i = 0; i < half; i++) {
                    float *a = xv + (long)i * stride, *c = a + partner;
                    float x0 = *a, x1 = *c;
                    *a = x0 * cs[i] - x1 * sn[i];
                    *c = x0 * sn[i] + x1 * cs[i];
                }
            }
    }
}

void rope_forward(float *x, int B, int T, int H, int HD, int n_rot, float base, RopeMode mode,
                  int pos0) {
    rope_rotate(x, B, T, H, HD, n_rot, base, mode, pos0, 1.0);
}

/* A rotation's Jacobian is the rotation itself, so the gradient goes through its inverse. */
void rope_backward(float *dx, int B, int T, int H, int HD, int n_rot, float base, RopeMode mode,
                   int pos0) {
    rope_rotate(dx, B, T, H, HD, n_rot, base, mode, pos0, -1.0);
}
