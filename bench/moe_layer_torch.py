"""PyTorch peer of bench/moe_layer.c: the same MoE layer (softmax-then-top-k, GELU experts, per-
expert index_select dispatch, Switch + z aux losses), forward+backward, 2 threads.
Run: /usr/bin/python3 bench/moe_layer_torch.py"""
import time, torch
torch.set_num_threads(2)
N, C, E, k, H = 2048, 128, 8, 2, 512
router = torch.nn.Linear(C, E, bias=False)
w1 = torch.nn.Parameter(torch.randn(E, H, C) * 0.02)
w2 = torch.nn.Parameter(torch.randn(E, C, H) * 0.02)
x = torch.randn(N, C, requires_grad=True)
dout = torch.randn(N, C)

def moe(x):
    z = router(x)
    p = torch.softmax(z, -1)
    w, idx = p.topk(k, -1)
    out = torch.zeros_like(x)
    for e in range(E):
        tok, slot = (idx == e).nonzero(as_tuple=True)
        h = torch.nn.functional.gelu(x[tok] @ w1[e].T, approximate="tanh")
        out.index_add_(0, tok, (h @ w2[e].T) * w[tok, slot, None])
    f = torch.zeros(E).index_add_(0, idx.flatten(), torch.ones(N * k)) / (N * k)
    aux = E * (f * p.mean(0)).sum() * 0.01 + 0.001 * (torch.logsumexp(z, -1) ** 2).mean()
    return out, aux

for it in range(23):
    if it == 3: tf = tb = 0.0
    t0 = time.perf_counter(); out, aux = moe(x); t1 = time.perf_counter()
    ((out * dout).sum() + aux).backward(); t2 = time.perf_counter()
    if it >= 3: tf += t1 - t0; tb += t2 - t1
print(f"torch moe layer N={N} C={C} E={E} k={k} H={H}: forward {1e3*tf/20:.3f} ms, backward {1e3*tb/20:.3f} ms")
