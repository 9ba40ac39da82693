#!/usr/bin/python3
"""Writes the small seed inputs of the file-reader fuzz targets into tests/fuzz/corpus/NAME/
(the GGUF seeds come from tests/gguf/make_fuzz_seeds.py). Run from the repository root; the
tokenizer and shard seeds need ./moelens built."""
import json, os, struct, subprocess, zlib
import numpy as np

C = "tests/fuzz/corpus"
def out(target, name, data):
    os.makedirs(f"{C}/{target}", exist_ok=True)
    with open(f"{C}/{target}/{name}", "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

# safetensors: two tensors and metadata
def safetensors(tensors, meta):
    hdr, blob = {"__metadata__": meta}, b""
    for name, arr in tensors.items():
        b = arr.tobytes()
        hdr[name] = {"dtype": {"float32": "F32", "int32": "I32"}[str(arr.dtype)],
                     "shape": list(arr.shape), "data_offsets": [len(blob), len(blob) + len(b)]}
        blob += b
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob
out("safetensors", "two.safetensors", safetensors(
    {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], dtype=np.int32)},
    {"format": "moelens-lm-1", "config": "{}"}))

# npy: float and int arrays through numpy itself
import io
for name, arr in [("f4.npy", np.arange(12, dtype="<f4").reshape(3, 4)), ("i4.npy", np.array([7, -1], "<i4")),
                  ("u1.npy", np.zeros((2, 2, 2), "|u1"))]:
    b = io.BytesIO(); np.save(b, arr); out("npy", name, b.getvalue())

# BPE round trip: a few texts
for i, t in enumerate(["Hello, world! 123", "def f(x):\n\treturn x**2\n", "caf\u00e9 \u4e2d\u6587 \U0001F600"]):
    out("bpe", f"text{i}.txt", t)

# IDX (first byte odd) and CIFAR (even): fuzz_images.c's layout
def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload
img = idx([2, 4, 4], bytes(range(32))); lab = idx([2], bytes([3, 9]))
cut = 2 + len(img)
out("images", "idx.bin", bytes([1, (cut - 2) * 256 // (len(img) + len(lab)) + 1]) + img + lab)
out("images", "cifar.bin", bytes([0]) + bytes([4]) + bytes(range(256)) * 12)

# PNG: 4x4 RGBA and 3x2 grey
def png(w, h, colour, channels):
    raw = b"".join(b"\0" + bytes((x * 40 + y * 7 + c) % 256 for x in range(w) for c in range(channels))
                   for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
out("png", "rgba4.png", png(4, 4, 6, 4)); out("png", "grey3x2.png", png(3, 2, 0, 1))

# config JSON: an LM config as written by train, and a vision config
lm = {"d_model": 64, "n_layer": 2, "n_head": 2, "seq_len": 32, "router": "cosine", "lr": 0.001,
      "seed": "1234", "block": "llama", "rope_base": 10000, "n_zero": 1, "top_k": 2}
out("config", "lm.json", json.dumps(lm))
out("config", "vision.json", json.dumps({"model": "vision", "img": 28, "n_experts": 4, "top_k": 2,
                                         "router": "learned", "tau": 0.2, "seed": "1"}))

# sweep grid (docs/demo.md)
out("sweep", "grid.json", json.dumps({"preset": "tiny", "set": {"steps": 300},
    "axes": {"router": ["learned", "hash"], "top_k": [1, 2]}, "seeds": [1, 2]}))

# tokenizer file and a token shard: from the CLI on a small text (two short documents per domain)
tmp = "build/fuzz/seedtext"
os.makedirs(tmp, exist_ok=True)
for d in ("en", "fr"):
    docs = open(f"tests/fixtures/text/{d}.txt", encoding="utf-8").read().split("\n%\n")
    with open(f"{tmp}/{d}.txt", "w", encoding="utf-8") as f:
        f.write("\n%\n".join(doc[:1200] for doc in docs[:2]))
subprocess.run(f"./moelens data text --quiet --data-dir {tmp}/nodata --domain en=fortune:{tmp}/en.txt "
               f"--domain fr=fortune:{tmp}/fr.txt --only en,fr --vocab 260 --out {tmp}/out",
               shell=True, check=True)
with open(f"{tmp}/out/tokenizer.txt", "rb") as f: out("tokenizer", "vocab260.txt", f.read())
with open(f"{tmp}/out/val.tokens", "rb") as f: out("shard", "val.tokens", f.read())
