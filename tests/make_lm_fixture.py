#!/usr/bin/python3
"""Writes tests/fixtures/lm_<name>.safetensors: a tiny MoE language model evaluated by the PyTorch
reference (bench/torch_lm.py, Debian python3-torch). tests/test_lm_torch.c loads it and checks
moelens' logits, loss, router logits, exact expert ids, aux losses, every gradient and 10 AdamW
steps against it. Run: /usr/bin/python3 tests/make_lm_fixture.py (deterministic)."""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
from torch_lm import MoeLM, decays, init_params  # noqa: E402

BASE = dict(vocab_size=64, d_model=32, n_layer=2, n_head=4, n_kv_head=4, seq_len=8, block="gpt2", tied=1,
            qk_norm=0, norm_eps=1e-5, rope_base=10000.0, rope_mode="neox", n_experts=4, top_k=2,
            expert_hidden=24, n_shared=0, router="learned", score="softmax_topk", renorm=0,
            expert_act="gelu", expert_bias=1, aux_lb=0.01, aux_z=0.001, batch=2)
CONFIGS = {
    "gpt2": dict(BASE),
    "llama": dict(BASE, block="llama", tied=0, qk_norm=1, n_kv_head=2, expert_act="swiglu", expert_bias=0,
                  n_shared=1, renorm=1),
}
ADAM = dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)


def write_safetensors(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        dtype = {torch.float32: "F32", torch.int32: "I32"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(path + ".tmp", path)


def make(name, cfg):
    torch.manual_seed(0)
    params = init_params(cfg, seed=7)
    g = torch.Generator().manual_seed(11)
    B, T, V = cfg["batch"], cfg["seq_len"], cfg["vocab_size"]
    tokens = torch.randint(0, V, (B, T), generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)
    model = MoeLM(cfg, params)
    logits, xent, total = model(tokens, targets)
    total.backward()
    out = {k: v for k, v in params.items()}
    out["in.tokens"] = tokens.int()
    out["in.targets"] = targets.int()
    out["out.logits"] = logits.detach().reshape(B * T, V)
    out["out.xent"] = xent.detach().reshape(1)
    out["out.total"] = total.detach().reshape(1)
    for l in range(cfg["n_layer"]):
        out["out.router_logits.%d" % l] = model.router_logits[l]
        out["out.topk_idx.%d" % l] = model.topk_idx[l].int()
        out["out.aux_lb.%d" % l] = model.aux_values[l][0].detach().reshape(1)
        out["out.aux_z.%d" % l] = model.aux_values[l][1].detach().reshape(1)
    for k in params:
        out["grad." + k] = model.w(k).grad.detach().clone()
    # 10 AdamW steps at a constant lr, decay on matrices only, no clipping
    named = [(k, model.w(k)) for k in params]
    groups = [{"params": [p for k, p in named if decays(k, p)], "weight_decay": ADAM["weight_decay"]},
              {"params": [p for k, p in named if not decays(k, p)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=ADAM["lr"], betas=ADAM["betas"], eps=ADAM["eps"])
    losses = []
    for _ in range(10):
        opt.zero_grad()
        _, _, total = model(tokens, targets)
        losses.append(total.item())
        total.backward()
        opt.step()
    out["out.adam_losses"] = torch.tensor(losses, dtype=torch.float32)
    meta = {"config": json.dumps({k: v for k, v in cfg.items()}),
            "adam": json.dumps(dict(ADAM, betas=list(ADAM["betas"]))),
            "made_by": "tests/make_lm_fixture.py, torch " + torch.__version__}
    path = os.path.join(os.path.dirname(__file__), "fixtures", "lm_%s.safetensors" % name)
    write_safetensors(path, out, meta)
    print("wrote", path, "loss", xent.item(), "adam", losses[0], "->", losses[-1])


if __name__ == "__main__":
    torch.set_num_threads(1)
    for n, c in CONFIGS.items():
        make(n, c)
