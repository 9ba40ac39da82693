"""How far each drawing style's gate input sits from the training styles', with the model's own
(training) gate statistics, and where the router sends each style (docs/vision.md, "Routing by
drawing style"). Recomputes the vision model's stem and gate input in numpy from the checkpoint:
conv3x3 -> group norm -> ReLU -> maxpool 2 (then the gate's own blocks, gate_blocks), then GAP
of the block output and / or of the stem's conv output (gate_source), standardised with gate.norm.running_mean / running_var.

    /usr/bin/python3 scripts/gate_shift.py RUN IMAGESET

Prints per style: the mean |shift| of its mean gate input from the training split's mean, in the
training split's standard deviations, its largest shift, and the largest share of its images one
expert takes as top-1; then the same after a per-image standardisation across the features.
Needs gate_norm=batch and a prepared set with style.npy and split.npy (moelens data images)."""
import json
import struct
import sys

import numpy as np


def tensors(path):
    f = open(path, "rb")
    n = struct.unpack("<Q", f.read(8))[0]
    head, base = json.loads(f.read(n)), 8 + n

    def get(name):
        a, b = head[name]["data_offsets"]
        f.seek(base + a)
        return np.frombuffer(f.read(b - a), np.float32).reshape(head[name]["shape"])

    return get


def block(x, t, prefix, groups):
    """conv3x3 (pad 1) -> group norm -> ReLU: (conv output, block output)."""
    w, b = t(prefix + "conv.weight"), t(prefix + "conv.bias")
    gamma, beta = t(prefix + "norm.weight"), t(prefix + "norm.bias")
    n, c, s = x.shape[0], w.shape[0], x.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    a = np.zeros((n, c, s, s), np.float32)
    for dy in range(3):
        for dx in range(3):
            a += np.einsum("oc,nchw->nohw", w[:, :, dy, dx], xp[:, :, dy : dy + s, dx : dx + s])
    a += b[None, :, None, None]
    ag = a.reshape(n, groups, c // groups, s, s)
    mu, var = ag.mean((2, 3, 4), keepdims=True), ag.var((2, 3, 4), keepdims=True)
    y = ((ag - mu) / np.sqrt(var + 1e-5)).reshape(n, c, s, s)
    return a, np.maximum(y * gamma[None, :, None, None] + beta[None, :, None, None], 0)


def pool2(y):
    n, c, s = y.shape[:3]
    return y.reshape(n, c, s // 2, 2, s // 2, 2).max((3, 5))


def gate_input(x, t, cfg):
    g = int(cfg["groups"])
    a, y = block(x, t, "stem.", g)
    h = pool2(y)
    for b in range(int(cfg.get("gate_blocks", 0))):  # the gate's own blocks, pooled between
        h = block(pool2(h) if b else h, t, "gate_tower.block.%d." % b, g)[1]
    parts = {"relu": [h.mean((2, 3))], "conv": [a.mean((2, 3))]}
    parts["both"] = parts["relu"] + parts["conv"]
    return np.concatenate(parts[cfg["gate_source"]], 1)


def main(run, images):
    cfg = json.load(open(run + "/config.json"))
    if cfg.get("gate_norm") != "batch":
        sys.exit("gate_shift: expected gate_norm=batch in %s/config.json" % run)
    t = tensors(run + "/model.safetensors")
    x = np.load(images + "/images.npy").astype(np.float32) / 255
    style, split = np.load(images + "/style.npy"), np.load(images + "/split.npy")
    names = json.load(open(images + "/meta.json"))["styles"]
    gin = np.concatenate([gate_input(x[i : i + 500], t, cfg) for i in range(0, len(x), 500)])
    z = (gin - t("gate.norm.running_mean")) / np.sqrt(t("gate.norm.running_var") + 1e-5)
    per_image = (z - z.mean(1, keepdims=True)) / np.sqrt(z.var(1, keepdims=True) + 1e-5)
    router = t("gate.router.w")
    for label, feats in (("training statistics", z), ("then per image", per_image)):
        train = feats[split == 0]
        mu, sd = train.mean(0), train.std(0)
        print(label)
        for s, name in enumerate(names):
            mine = feats[style == s]
            if not len(mine):
                continue
            shift = np.abs((mine.mean(0) - mu) / sd)
            top1 = np.bincount(np.argmax(mine @ router.T, 1), minlength=router.shape[0])
            print("  %-22s %-8s mean |shift| %.2f  max %.2f  top-1 on one expert %.2f"
                  % (name, "train" if split[style == s][0] == 0 else "held-out", shift.mean(),
                     shift.max(), top1.max() / len(mine)))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
