#!/usr/bin/python3
"""A random-weight GGUF file with OLMoE-1B-7B's shape (arch olmoe: 16 layers, d 2048, 16 heads,
64 experts x 1024, top-8, vocab 50304, context 4096) for measuring moelens at scale.
Usage: make_olmoe_shaped.py OUT.gguf [--layers N] [--type f16|q8_0] [--std S] [--seed S]
Written tensor by tensor: the header and every tensor's info first (shapes and byte sizes are
known without the data), then each tensor is made, converted and appended on its own, so the
peak memory is one tensor (an expert stack: 64 x 1024 x 2048 = 134 M values) plus a pool of
134 M F16 draws, never the model (6.9 G values, 13.8 GB in F16). Weights: windows of one pool of
N(0, std^2) draws at random starts (default std 0.02, so activations stay finite); norm weights 1.
q8_0 uses gguf-py's numpy quantiser (slower than F16 + llama-quantize).
Tokenizer: a synthetic gpt2-style byte-level BPE (256 byte tokens, merges of pairs of
[Ġa-z] and then of those pairs, <|endoftext|>) with pre-tokenizer "olmo", which both moelens
and llama.cpp tokenise.
Needs gguf-py: PYTHONPATH=.cache/oracle/llama.cpp/gguf-py /usr/bin/python3 ...
"""
import argparse
import sys
import time
import numpy as np
import gguf

from make_tiny_models import byte_alphabet

D, N_HEAD, N_EXP, TOP_K, FF_EXP, VOCAB, N_CTX = 2048, 16, 64, 8, 1024, 50304, 4096


def synthetic_bpe(n_vocab):
    """256 byte tokens, then merges (rank order) of two letters of [Ġa-z], then of two such pairs,
    until the vocabulary (with <|endoftext|> last) has n_vocab entries. Every token is unique: a
    pair token has 2 characters and a pair of pairs 4 with one fixed split."""
    tokens = byte_alphabet()
    letters = ["Ġ"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pairs = [a + b for a in letters for b in letters]
    merges = [a + " " + b for a in letters for b in letters]
    want = n_vocab - 1 - len(tokens)
    for p in pairs:
        for q in pairs:
            if len(merges) >= want:
                break
            merges.append(p + " " + q)
    merges = merges[:want]
    tokens += [m.replace(" ", "") for m in merges]
    tokens.append("<|endoftext|>")
    assert len(tokens) == n_vocab and len(set(tokens)) == n_vocab
    return tokens, merges


def plan(n_layer):
    """(name, ggml shape ne0 first, is_norm) in file order, as llama.cpp's olmoe loader expects."""
    out = [("token_embd.weight", (D, VOCAB), False), ("output_norm.weight", (D,), True),
           ("output.weight", (D, VOCAB), False)]
    for i in range(n_layer):
        b = f"blk.{i}."
        out += [(b + "attn_norm.weight", (D,), True), (b + "ffn_norm.weight", (D,), True)]
        out += [(b + n, (D, D), False) for n in ("attn_q.weight", "attn_k.weight", "attn_v.weight",
                                                 "attn_output.weight")]
        out += [(b + "attn_q_norm.weight", (D,), True), (b + "attn_k_norm.weight", (D,), True)]
        out += [(b + "ffn_gate_inp.weight", (D, N_EXP), False),
                (b + "ffn_gate_exps.weight", (D, FF_EXP, N_EXP), False),
                (b + "ffn_up_exps.weight", (D, FF_EXP, N_EXP), False),
                (b + "ffn_down_exps.weight", (FF_EXP, D, N_EXP), False)]
    return out


def stored(shape, is_norm, qtype):
    """numpy dtype, raw ggml type and bytes of a tensor as written (norms and the router stay F32,
    as converters write 1-D tensors; the router is small and moelens keeps it in floats anyway)."""
    n = int(np.prod(shape))
    if is_norm or qtype == "f32":
        return np.float32, gguf.GGMLQuantizationType.F32, 4 * n
    if qtype == "f16":
        return np.float16, gguf.GGMLQuantizationType.F16, 2 * n
    return np.uint8, gguf.GGMLQuantizationType.Q8_0, n // 32 * 34


POOL = (1 << 27) + 12347  # > the largest tensor (an expert stack, 2^27 values)


def pool_slice(pool, rng, n):
    """n consecutive values of the pool (wrapping) from a random start: every tensor is a distinct
    window of one set of N(0, std^2) draws, so writing costs a copy, not n normal draws (6.9 G of
    them take ~5 min on this machine's 2 shared cores); no window repeats inside a tensor."""
    start = int(rng.integers(len(pool)))
    if start + n <= len(pool):
        return pool[start:start + n]
    return np.concatenate([pool[start:], pool[:n - (len(pool) - start)]])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--type", choices=["f16", "q8_0"], default="f16")
    ap.add_argument("--std", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    t0 = time.time()
    rng = np.random.default_rng(a.seed)
    w = gguf.GGUFWriter(a.out, arch="olmoe")
    w.add_name(f"olmoe-1b-7b-shaped-random-{a.layers}L"); w.add_context_length(N_CTX)
    w.add_embedding_length(D); w.add_block_count(a.layers); w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD); w.add_layer_norm_rms_eps(1e-5); w.add_rope_freq_base(10000.0)
    w.add_expert_count(N_EXP); w.add_expert_used_count(TOP_K); w.add_feed_forward_length(FF_EXP)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if a.type == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0)
    tokens, merges = synthetic_bpe(VOCAB)
    w.add_tokenizer_model("gpt2"); w.add_tokenizer_pre("olmo")
    w.add_token_list(tokens); w.add_token_merges(merges)
    w.add_token_types([1] * (VOCAB - 1) + [3])
    w.add_eos_token_id(VOCAB - 1); w.add_bos_token_id(VOCAB - 1); w.add_add_bos_token(False)
    tensors = plan(a.layers)
    pool = (a.std * rng.standard_normal(POOL, dtype=np.float32)).astype(np.float16)
    for name, shape, is_norm in tensors:
        qt = "f32" if name.endswith("ffn_gate_inp.weight") else a.type
        dt, raw, nbytes = stored(shape, is_norm, qt)
        w.add_tensor_info(name, shape[::-1] if dt != np.uint8 else (*shape[::-1][:-1], shape[0] // 32 * 34),
                          np.dtype(dt), nbytes, raw_dtype=raw if dt == np.uint8 else None)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_ti_data_to_file()
    total = 0
    for k, (name, shape, is_norm) in enumerate(tensors):
        qt = "f32" if name.endswith("ffn_gate_inp.weight") else a.type
        if is_norm:
            x = np.ones(shape[::-1], np.float32)
        else:
            x = pool_slice(pool, rng, int(np.prod(shape))).reshape(shape[::-1])
            if qt == "q8_0":
                x = gguf.quants.quantize(x.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
            elif qt == "f32":
                x = x.astype(np.float32)
        w.write_tensor_data(x)
        total += x.nbytes
        del x
        if k % 10 == 9 or k == len(tensors) - 1:
            print(f"\r{a.out}: {k + 1}/{len(tensors)} tensors, {total / 2**30:.2f} GiB, "
                  f"{time.time() - t0:.0f} s", end="", file=sys.stderr, flush=True)
    w.close()
    print(file=sys.stderr)


if __name__ == "__main__":
    main()
