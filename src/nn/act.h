/* Elementwise activations. Backward accumulates into dinp. */
#pragma once

/* GELU, tanh approximation (GPT-2). */
void gelu_forward(float *out, const float *inp, long n);
void gelu_backward(float *dinp, const float *inp, const float *dout, long n);
/* The same, overwriting: dinp = gelu'(inp)·dout (dinp may be dout: in place, no zeroed scratch). */
void gelu_backward_set(float *dinp, const float *inp, const float *dout, long n);

/* SwiGLU: out = silu(gate) * up. */
void swiglu_forward(float *out, const float *gate, const float *up, long n);
void swiglu_backward(float *dgate, float *dup, const float *gate, const float *up,
                     const float *dout, long n);
/* The same, overwriting dgate and dup (both required; dup may be dout). */
void swiglu_backward_set(float *dgate, float *dup, const float *gate, const float *up,
                         const float *dout, long n);
