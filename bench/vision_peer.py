#!/usr/bin/python3
"""PyTorch peer of bench/bench_vision.c: the same convolutional MoE (docs/vision.md), same preset
sizes, same input shape (2·batch random 28×28 grey views, no augmentation), AdamW; prints one JSON
line with train and forward images/s.
  stem conv3×3 → GN → ReLU → maxpool 2 → gate (global pool → linear → softmax → top-k, renorm,
  load-balance + z losses) → each expert's CNN (blocks conv3×3 → GN → ReLU, maxpool 2 between)
  on its routed images only → global pool → readout linear → y = Σ_j w_ij r_ij → projection MLP
  → NT-Xent(τ).
usage: /usr/bin/python3 bench/vision_peer.py PRESET [steps]  (threads: OMP_NUM_THREADS)"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from peer_timing import time_train_and_forward  # noqa: E402

BASE = dict(in_ch=1, img=28, stem_ch=16, n_experts=4, top_k=2, expert_ch=32, expert_blocks=2,
            readout=64, proj_hidden=64, proj_dim=64, groups=4, tau=0.5, aux_lb=0.01, aux_z=0.001,
            batch=64, lr=2e-3, weight_decay=1e-4)
PRESETS = {
    "tiny": dict(BASE),
    "small": dict(BASE, stem_ch=32, n_experts=8, expert_ch=64, readout=128, proj_hidden=128,
                  proj_dim=128, groups=8, batch=128),
}


def block(ic, oc, groups):
    return nn.Sequential(nn.Conv2d(ic, oc, 3, padding=1), nn.GroupNorm(groups, oc), nn.ReLU())


class Expert(nn.Module):
    def __init__(self, c):
        super().__init__()
        layers = []
        for b in range(c["expert_blocks"]):
            if b > 0:
                layers.append(nn.MaxPool2d(2))
            layers.append(block(c["stem_ch"] if b == 0 else c["expert_ch"], c["expert_ch"], c["groups"]))
        self.body = nn.Sequential(*layers)
        self.readout = nn.Linear(c["expert_ch"], c["readout"])

    def forward(self, x):
        return self.readout(self.body(x).mean(dim=(2, 3)))


class VisionMoE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.stem = block(c["in_ch"], c["stem_ch"], c["groups"])
        self.router = nn.Linear(c["stem_ch"], c["n_experts"], bias=False)
        nn.init.normal_(self.router.weight, std=0.02)
        self.experts = nn.ModuleList(Expert(c) for _ in range(c["n_experts"]))
        self.proj = nn.Sequential(nn.Linear(c["readout"], c["proj_hidden"]), nn.ReLU(),
                                  nn.Linear(c["proj_hidden"], c["proj_dim"]))

    def readout(self, x):
        c = self.c
        h = F.max_pool2d(self.stem(x), 2)
        logits = self.router(h.mean(dim=(2, 3)))
        probs = logits.softmax(-1)
        w, idx = probs.topk(c["top_k"], dim=-1)
        w = w / w.sum(-1, keepdim=True)
        y = h.new_zeros(x.shape[0], c["readout"])
        for e, expert in enumerate(self.experts):
            img, rank = (idx == e).nonzero(as_tuple=True)
            if img.numel():
                y = y.index_add(0, img, w[img, rank, None] * expert(h[img]))
        n, E = x.shape[0], c["n_experts"]
        counts = torch.bincount(idx.flatten(), minlength=E).float()
        aux_lb = E * (counts / (n * c["top_k"]) * probs.mean(0)).sum()
        aux_z = logits.logsumexp(-1).square().mean()
        return y, aux_lb, aux_z

    def forward(self, x):
        y, aux_lb, aux_z = self.readout(x)
        u = F.normalize(self.proj(y), dim=-1)
        s = u @ u.t() / self.c["tau"]
        s = s.masked_fill(torch.eye(len(s), dtype=torch.bool), float("-inf"))
        target = torch.arange(len(s)) ^ 1  # rows 2k, 2k+1 are the two views of image k
        return F.cross_entropy(s, target) + self.c["aux_lb"] * aux_lb + self.c["aux_z"] * aux_z


def main():
    preset = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    torch.manual_seed(1)
    c = PRESETS[preset]
    model = VisionMoE(c)
    decay = [p for p in model.parameters() if p.dim() > 1]
    rest = [p for p in model.parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": c["weight_decay"]},
                             {"params": rest, "weight_decay": 0.0}], lr=c["lr"], betas=(0.9, 0.999))
    g = torch.Generator().manual_seed(5)
    V = 2 * c["batch"]
    x = torch.rand(V, c["in_ch"], c["img"], c["img"], generator=g)
    t_train, t_fwd, loss = time_train_and_forward(opt, lambda: model(x), lambda: model.readout(x),
                                                  steps)
    print(json.dumps({"what": "pytorch", "model": "vision", "preset": preset, "torch": torch.__version__,
                      "train_img_s": round(c["batch"] * steps / t_train, 1),
                      "fwd_img_s": round(V * steps / t_fwd, 1), "loss": round(float(loss), 4)}))


if __name__ == "__main__":
    main()
