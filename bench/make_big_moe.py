#!/usr/bin/python3
"""Random-weight GGUF files at real MoE shapes, written already quantised, tensor by tensor, for
measuring moelens (memory, speed) against llama.cpp on files of a real model's size.
  olmoe     OLMoE-1B-7B:      16 layers, d 2048, 16 heads, 64 experts x 1024, top-8, vocab 50304
  qwen3moe  Qwen3-30B-A3B:    48 layers, d 2048, 32 heads (4 kv, head 128), 128 experts x 768,
                              top-8, vocab 151936
  deepseek  DeepSeekMoE-16B:  28 layers (the first dense, ff 10944), d 2048, 16 heads, 64 routed
                              experts x 1408, top-6, 2 shared, vocab 102400
Usage: make_big_moe.py FAMILY OUT.gguf [--layers N] [--seed S]
Quantisation "Q4_K_M-like": every matrix Q4_K except output.weight (Q6_K), as llama.cpp's Q4_K_M
does for the head; matrices whose rows are not a multiple of 256 (DeepSeek's 1408- and 10944-wide
down projections) Q8_0 (llama.cpp would fall back to Q5_0 there). Norms and routers F32. The
blocks are random bytes with fixed scales (weights ~ N-ish(0, 0.02^2)), so no float model is ever
held or quantised: peak memory is one tensor (~120 MB), time is disk speed.
Tokenizer: the synthetic byte-level BPE of tests/gguf/make_olmoe_shaped.py.
Needs gguf-py: PYTHONPATH=$MOELENS_ORACLE_DIR/llama.cpp/gguf-py /usr/bin/python3 ...
Not part of CI (bench/big_moe.sh drives it).
"""
import argparse
import os
import sys
import time
import numpy as np
import gguf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "gguf"))
from make_olmoe_shaped import synthetic_bpe  # noqa: E402

Q = gguf.GGMLQuantizationType
SHAPES = {
    "olmoe": dict(layers=16, d=2048, heads=16, kv=16, hd=128, experts=64, ff_exp=1024, top_k=8,
                  vocab=50304, pre="olmo"),
    "qwen3moe": dict(layers=48, d=2048, heads=32, kv=4, hd=128, experts=128, ff_exp=768, top_k=8,
                     vocab=151936, pre="qwen2"),
    "deepseek": dict(layers=28, d=2048, heads=16, kv=16, hd=128, experts=64, ff_exp=1408, top_k=6,
                     vocab=102400, pre="deepseek-llm", dense_ff=10944, shared=2),
}


def f16_bytes(x):
    return np.array([x], np.float16).view(np.uint8)


def block_header(qtype):
    """The fixed (non-random) bytes of one block and its random payload length."""
    if qtype == Q.Q4_K:  # d, dmin, 12 bytes of 6-bit scales/mins (all 32), 128 bytes of nibbles
        d = 0.02 / (32 * 4.6)  # 32 * d * (q - 7.5), q uniform 0..15 (std 4.6)
        sc = np.array([160] * 8 + [0] * 4, np.uint8)  # sc = m = 32 for all 8 sub-blocks
        return np.concatenate([f16_bytes(d), f16_bytes(7.5 * d), sc]), 128
    if qtype == Q.Q6_K:  # ql[128], qh[64] random; scales[16] = 16; d last
        return None, 192
    if qtype == Q.Q8_0:  # d, 32 int8
        return f16_bytes(0.02 / 74), 32
    raise ValueError(qtype)


def random_blocks(qtype, n_blocks, pool, rng):
    bs, ts = gguf.GGML_QUANT_SIZES[qtype]
    out = np.empty((n_blocks, ts), np.uint8)
    head, nrand = block_header(qtype)
    start = int(rng.integers(len(pool) - n_blocks * nrand)) if len(pool) > n_blocks * nrand else 0
    need = n_blocks * nrand
    payload = pool[start:start + need] if start + need <= len(pool) else np.resize(pool, need)
    payload = payload.reshape(n_blocks, nrand)
    if qtype == Q.Q6_K:
        out[:, :192] = payload
        out[:, 192:208] = 16
        out[:, 208:210] = f16_bytes(0.02 / (16 * 18.5))  # d * 16 * (q - 32), q uniform 0..63
    else:
        out[:, :len(head)] = head
        out[:, len(head):] = payload
    return out


def plan(s):
    """(name, ggml shape ne0 first, type) in file order."""
    d, q_dim, kv_dim, E = s["d"], s["heads"] * s["hd"], s["kv"] * s["hd"], s["experts"]

    def mat(ne0):
        return Q.Q4_K if ne0 % 256 == 0 else Q.Q8_0

    out = [("token_embd.weight", (d, s["vocab"]), Q.Q4_K), ("output_norm.weight", (d,), Q.F32),
           ("output.weight", (d, s["vocab"]), Q.Q6_K)]
    for i in range(s["layers"]):
        b = f"blk.{i}."
        out += [(b + "attn_norm.weight", (d,), Q.F32), (b + "ffn_norm.weight", (d,), Q.F32)]
        out += [(b + "attn_q.weight", (d, q_dim), Q.Q4_K), (b + "attn_k.weight", (d, kv_dim), Q.Q4_K),
                (b + "attn_v.weight", (d, kv_dim), Q.Q4_K),
                (b + "attn_output.weight", (q_dim, d), mat(q_dim))]
        if s["pre"] == "olmo":
            out += [(b + "attn_q_norm.weight", (q_dim,), Q.F32),
                    (b + "attn_k_norm.weight", (kv_dim,), Q.F32)]
        if s["pre"] == "qwen2":
            out += [(b + "attn_q_norm.weight", (s["hd"],), Q.F32),
                    (b + "attn_k_norm.weight", (s["hd"],), Q.F32)]
        if s.get("dense_ff") and i == 0:  # DeepSeekMoE's leading dense layer
            ff = s["dense_ff"]
            out += [(b + "ffn_gate.weight", (d, ff), Q.Q4_K), (b + "ffn_up.weight", (d, ff), Q.Q4_K),
                    (b + "ffn_down.weight", (ff, d), mat(ff))]
            continue
        fe = s["ff_exp"]
        out += [(b + "ffn_gate_inp.weight", (d, E), Q.F32),
                (b + "ffn_gate_exps.weight", (d, fe, E), Q.Q4_K),
                (b + "ffn_up_exps.weight", (d, fe, E), Q.Q4_K),
                (b + "ffn_down_exps.weight", (fe, d, E), mat(fe))]
        if s.get("shared"):
            fs = s["shared"] * fe
            out += [(b + "ffn_gate_shexp.weight", (d, fs), Q.Q4_K),
                    (b + "ffn_up_shexp.weight", (d, fs), Q.Q4_K),
                    (b + "ffn_down_shexp.weight", (fs, d), mat(fs))]
    return out


def metadata(w, fam, s):
    w.add_name(f"{fam}-shaped-random-{s['layers']}L"); w.add_context_length(4096)
    w.add_embedding_length(s["d"]); w.add_block_count(s["layers"]); w.add_head_count(s["heads"])
    w.add_head_count_kv(s["kv"]); w.add_layer_norm_rms_eps(1e-6); w.add_rope_freq_base(10000.0)
    w.add_expert_count(s["experts"]); w.add_expert_used_count(s["top_k"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    if fam == "olmoe":
        w.add_feed_forward_length(s["ff_exp"])
    else:
        w.add_feed_forward_length(s.get("dense_ff", 6144))
        w.add_expert_feed_forward_length(s["ff_exp"])
    if fam == "qwen3moe":
        w.add_key_length(s["hd"]); w.add_value_length(s["hd"])
    if fam == "deepseek":
        w.add_leading_dense_block_count(1); w.add_expert_shared_count(s["shared"])
        w.add_expert_weights_scale(1.0); w.add_rope_dimension_count(s["hd"])
    tokens, merges = synthetic_bpe(s["vocab"])
    w.add_tokenizer_model("gpt2"); w.add_tokenizer_pre(s["pre"])
    w.add_token_list(tokens); w.add_token_merges(merges)
    w.add_token_types([1] * (s["vocab"] - 1) + [3])
    w.add_eos_token_id(s["vocab"] - 1); w.add_bos_token_id(s["vocab"] - 1)
    w.add_add_bos_token(False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("family", choices=sorted(SHAPES))
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    s = dict(SHAPES[a.family])
    if a.layers:
        s["layers"] = a.layers
    t0 = time.time()
    rng = np.random.default_rng(a.seed)
    w = gguf.GGUFWriter(a.out, arch=a.family)
    metadata(w, a.family, s)
    tensors = plan(s)
    for name, shape, qt in tensors:
        n = int(np.prod(shape))
        if qt == Q.F32:
            w.add_tensor_info(name, shape[::-1], np.dtype(np.float32), 4 * n)
        else:
            bs, ts = gguf.GGML_QUANT_SIZES[qt]
            w.add_tensor_info(name, (*shape[::-1][:-1], shape[0] // bs * ts), np.dtype(np.uint8),
                              n // bs * ts, raw_dtype=qt)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_ti_data_to_file()
    pool = rng.integers(0, 256, (1 << 27) + 4099, dtype=np.uint8)
    total = 0
    for k, (name, shape, qt) in enumerate(tensors):
        n = int(np.prod(shape))
        if qt == Q.F32:
            x = (0.02 * rng.standard_normal(shape[::-1])).astype(np.float32) \
                if name.endswith("ffn_gate_inp.weight") else np.ones(shape[::-1], np.float32)
        else:
            x = random_blocks(qt, n // gguf.GGML_QUANT_SIZES[qt][0], pool, rng)
        w.write_tensor_data(x)
        total += x.nbytes
        del x
    w.close()
    print(f"{a.out}: {len(tensors)} tensors, {total / 2**30:.2f} GiB, {time.time() - t0:.0f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
