"""Communication volume per training step of data- and expert-parallel moelens training, computed
from the model's shape (docs/scale.md explains the model). Prints a markdown table for the small
preset (parameter count read from a run's model.safetensors when given, else the formula) and an
OLMoE-1B-7B-sized model (public config: d 2048, 16 layers, 64 experts, top-8, expert width 1024,
vocabulary 50304, SwiGLU, untied, no biases).

usage: python3 bench/comm_volume.py [RUN/model.safetensors]
"""
import json
import math
import struct
import sys


def gpt2_moe_params(V, C, L, T, E, H, tied=True):
    """gpt2 block with GELU experts carrying biases (the small preset): (all, routed experts')."""
    experts = L * E * (2 * H * C + H + C)
    layer = 4 * C + 3 * C * C + 3 * C + C * C + C + E * C
    return V * C * (1 if tied else 2) + T * C + L * layer + 2 * C + experts, experts


def llama_moe_params(V, C, L, E, H):
    """llama block, SwiGLU experts, q/k norms over the width (OLMoE): (all, routed experts')."""
    experts = L * E * 3 * H * C
    return 2 * V * C + L * (4 * C * C + 4 * C + E * C) + C + experts, experts


def safetensors_count(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")


def volumes(name, P, P_exp, L_moe, C, k, tokens, N, G):
    """Bytes one rank sends per step: DP gradient all-reduce (ring: 2(n-1)/n of an fp32 gradient
    over n ranks; ZeRO-1's reduce-scatter + all-gather move the same) of the shared weights over
    all N ranks and of a rank's 1/G of the experts over the N/G ranks holding the same shard; and
    EP all-to-all per MoE layer (dispatch and combine forward, the same two backward; (G-1)/G of a
    rank's token copies leave it). moelens sends exactly these sums with `--ep G`, each rank
    storing only its experts (nothing to all-gather after the step)."""
    grad = 4 * P
    R = N // G
    dp = 2 * (N - 1) / N * 4 * (P - P_exp) + 2 * (R - 1) / R * 4 * P_exp / G
    n_local = tokens / N
    a2a_layer = 4 * n_local * k * C * 4 * (G - 1) / G
    return dict(model=name, params=P, grad_mb=grad / 1e6, dp_mb=dp / 1e6,
                N=N, G=G,
                a2a_layer_mb=a2a_layer / 1e6, a2a_mb=a2a_layer * L_moe / 1e6)


def row(v):
    return (f"| {v['model']} | {v['params'] / 1e6:.1f} M | {v['N']} | {v['G']} | "
            f"{v['grad_mb']:.1f} | {v['dp_mb']:.1f} | {v['a2a_layer_mb']:.2f} | "
            f"{v['a2a_mb']:.1f} |")


small = gpt2_moe_params(V=8192, C=256, L=6, T=256, E=8, H=1024)
if len(sys.argv) > 1:  # the run's own count (its vocabulary), the experts' share by formula
    small = (safetensors_count(sys.argv[1]), small[1])
olmoe = llama_moe_params(V=50304, C=2048, L=16, E=64, H=1024)
print("| model | params | ranks N | EP group G | fp32 gradient MB | all-reduce MB sent/rank | "
      "all-to-all MB/layer/rank | "
      "all-to-all MB/step/rank |")
print("|---|---|---|---|---|---|---|---|")
for N, G in ((2, 1), (2, 2), (8, 1), (8, 8), (64, 8)):  # small: batch 8 x 256 tokens per step
    print(row(volumes("small preset", *small, 6, 256, 2, 8 * 256, N, G)))
for N, G in ((8, 1), (8, 8), (64, 8), (256, 8)):  # OLMoE: 4M tokens per step (1024 x 4096)
    print(row(volumes("OLMoE-1B-7B", *olmoe, 16, 2048, 8, 1024 * 4096, N, G)))
