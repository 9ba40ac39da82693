"""Supervised bound on the probe margin of docs/vision.md ("Probe margin").

Trains the dense tiny encoder (one expert: conv16 → GN → ReLU → pool, conv32 → GN → ReLU → pool,
conv32 → GN → ReLU, GAP, linear 32 → 64; moelens' Kaiming-normal conv init) with cross-entropy
on the labels, and every 100 steps probes the 64-d readout as moelens does (standardised features,
L2 1e-3, 300 full-batch Adam steps at 0.05) on 3000 training and 3000 test images. If labels
cannot lift the probe far above the random-init features in N steps, SimCLR cannot either.

usage: /usr/bin/python3 scripts/vision_supervised_bound.py [SEED [STEPS [LR]]]   (1 thread)
"""
import gzip
import sys

import numpy as np
import torch
import torch.nn as nn

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 300
lr = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-3
torch.set_num_threads(1)
torch.manual_seed(seed)
D = "/usr/share/datasets/fashion-mnist/"


def images(f):
    raw = gzip.open(D + f).read()
    return torch.tensor(np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28) / 255.0,
                        dtype=torch.float32)


def labels(f):
    return torch.tensor(np.frombuffer(gzip.open(D + f).read(), np.uint8, offset=8).astype(np.int64))


Xtr, ytr = images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")
Xte, yte = images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")


def block(i, o, pool):
    return [nn.Conv2d(i, o, 3, padding=1), nn.GroupNorm(4, o), nn.ReLU()] + \
        ([nn.MaxPool2d(2)] if pool else [])


def kaiming(m):
    if isinstance(m, nn.Conv2d):
        nn.init.normal_(m.weight, 0, (2 / (m.in_channels * 9)) ** 0.5)
        nn.init.zeros_(m.bias)


enc = nn.Sequential(*block(1, 16, 1), *block(16, 32, 1), *block(32, 32, 0),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 64))
enc.apply(kaiming)
head = nn.Linear(64, 10)


def probe(ftr, ytr_, fte, yte_):
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
    a, b = (ftr - mu) / sd, (fte - mu) / sd
    W = torch.zeros(64, 10, requires_grad=True)
    c = torch.zeros(10, requires_grad=True)
    opt = torch.optim.Adam([W, c], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(a @ W + c, ytr_) + 0.5e-3 * (W ** 2).sum()
        loss.backward()
        opt.step()
    return ((b @ W + c).argmax(1) == yte_).float().mean().item()


g = torch.Generator().manual_seed(0x5EED)
fit, test = torch.randperm(60000, generator=g)[:3000], torch.randperm(10000, generator=g)[:3000]


def evaluate():
    with torch.no_grad():
        a, b = enc(Xtr[fit]), enc(Xte[test])
    return probe(a, ytr[fit], b, yte[test])


print("seed %d lr %g: probe at init %.3f" % (seed, lr, evaluate()), flush=True)
opt = torch.optim.AdamW(list(enc.parameters()) + list(head.parameters()), lr=lr, weight_decay=1e-4)
for s in range(1, steps + 1):
    idx = torch.randint(0, 60000, (64,))
    opt.zero_grad()
    loss = nn.functional.cross_entropy(head(enc(Xtr[idx])), ytr[idx])
    loss.backward()
    opt.step()
    if s % 100 == 0:
        print("step %d loss %.3f probe %.3f" % (s, loss.item(), evaluate()), flush=True)
