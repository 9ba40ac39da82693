#!/usr/bin/python3
"""Tiny random-weight GGUF models of the MoE families llama.cpp knows, with their metadata keys
(llama-arch.cpp / src/models/*.cpp) and tensor names/shapes, plus a tokenizer:
  olmoe     OLMoE: QK-norm over the whole width, 8 experts top-2, gpt2 BPE (pre "olmo")
  mixtral   llama with experts: SentencePiece "llama" vocab, GQA
  qwen2moe  routed experts + a shared expert behind a sigmoid gate (ffn_gate_inp_shexp)
  qwen3moe  per-head QK-norm (attn_q_norm of head_dim), head_dim != d/heads, no shared expert
  deepseek  DeepSeekMoE v1: a leading dense layer, shared experts, expert weight scale
Usage: make_tiny_models.py OUTDIR [d_model [std]]   (d_model 256 lets llama-quantize use K-quants;
std: weight standard deviation, default 0.02; larger gives peaked predictions, a sharper test)
Writes OUTDIR/<family>.gguf in F32 (1-D norms F32, as converters write them).
Needs gguf-py: PYTHONPATH=.cache/oracle/llama.cpp/gguf-py /usr/bin/python3 ...
"""
import os
import sys
import numpy as np
import gguf

FAMILIES = ["olmoe", "mixtral", "qwen2moe", "qwen3moe", "deepseek"]


def byte_alphabet():
    """GPT-2's byte-level alphabet: the 256 byte tokens, printable bytes as themselves and the rest
    shifted to U+0100.. (make_olmoe_shaped.py uses it too)."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    enc = {b: chr(c) for b, c in zip(bs, cs)}
    return [enc[b] for b in range(256)]


def bpe_vocab(w, pre, n_vocab=0):
    tokens = byte_alphabet()
    merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ s"]
    for m in merges:
        tokens.append(m.replace(" ", ""))
    # padding up to a real model's vocabulary size (its output head and logits): ordinary tokens
    # that no merge reaches, so they change the scores' normaliser, never the token ids
    tokens += ["Ġpad%d" % i for i in range(n_vocab - len(tokens) - 1)]
    tokens.append("<|endoftext|>")
    w.add_tokenizer_model("gpt2"); w.add_tokenizer_pre(pre)
    w.add_token_list(tokens); w.add_token_merges(merges)
    w.add_token_types([1] * (len(tokens) - 1) + [3])
    w.add_eos_token_id(len(tokens) - 1); w.add_bos_token_id(len(tokens) - 1)
    w.add_add_bos_token(False)
    return len(tokens)


def spm_vocab(w, with_scores=True):
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    pieces = ["▁", "▁t", "he", "▁the", "▁a", "in", "er", "on", "e", "t", "h", "a", "n", "o", "r", "s"]
    tokens += pieces
    scores = [0.0, 0.0, 0.0] + [0.0] * 256 + [-float(i) for i in range(len(pieces))]
    types = [2, 3, 3] + [6] * 256 + [1] * len(pieces)
    w.add_tokenizer_model("llama"); w.add_token_list(tokens)
    if with_scores:  # files without scores exist; llama.cpp then takes every score as 0
        w.add_token_scores(scores)
    w.add_token_types(types); w.add_bos_token_id(1); w.add_eos_token_id(2); w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    return len(tokens)


def make(family, path, d=64, seed=0, std=0.02, n_layer=2, n_exp=8, top_k=2, ff_exp=None, n_ctx=128,
         n_head=4, n_vocab=0, spm_scores=True):
    rng = np.random.default_rng(seed)
    arch = {"mixtral": "llama"}.get(family, family)
    w = gguf.GGUFWriter(path, arch=arch)
    n_kv, ff = 2, 2 * d
    ff_exp = ff_exp or d
    head_dim = d // n_head if family != "qwen3moe" else 2 * d // n_head
    if family in ("olmoe", "qwen2moe"):
        n_kv = n_head
    w.add_name(f"tiny-{family}"); w.add_context_length(n_ctx); w.add_embedding_length(d)
    w.add_block_count(n_layer); w.add_head_count(n_head); w.add_head_count_kv(n_kv)
    w.add_layer_norm_rms_eps(1e-5); w.add_rope_freq_base(10000.0)
    w.add_expert_count(n_exp); w.add_expert_used_count(top_k)
    if family in ("mixtral", "olmoe"):
        w.add_feed_forward_length(ff_exp)
    else:
        w.add_feed_forward_length(ff); w.add_expert_feed_forward_length(ff_exp)
    if family == "qwen2moe":
        w.add_expert_shared_feed_forward_length(ff)
    if family == "qwen3moe":
        w.add_key_length(head_dim); w.add_value_length(head_dim)
    if family == "deepseek":
        w.add_leading_dense_block_count(1); w.add_expert_shared_count(2); w.add_expert_weights_scale(1.0)
        w.add_rope_dimension_count(head_dim)
    n_vocab = spm_vocab(w, spm_scores) if family == "mixtral" else bpe_vocab(
        w, {"olmoe": "olmo", "qwen2moe": "qwen2", "qwen3moe": "qwen2", "deepseek": "deepseek-llm"}[family],
        n_vocab)

    def t(name, *shape):  # shape in ggml order (ne0 first); numpy takes it reversed
        w.add_tensor(name, (std * rng.standard_normal(shape[::-1])).astype(np.float32))

    def norm(name, n):
        w.add_tensor(name, (1 + 0.1 * rng.standard_normal(n)).astype(np.float32))

    t("token_embd.weight", d, n_vocab); norm("output_norm.weight", d); t("output.weight", d, n_vocab)
    q_dim, kv_dim = n_head * head_dim, n_kv * head_dim
    for i in range(n_layer):
        b = f"blk.{i}."
        norm(b + "attn_norm.weight", d); norm(b + "ffn_norm.weight", d)
        t(b + "attn_q.weight", d, q_dim); t(b + "attn_k.weight", d, kv_dim)
        t(b + "attn_v.weight", d, kv_dim); t(b + "attn_output.weight", q_dim, d)
        if family == "olmoe":
            norm(b + "attn_q_norm.weight", d); norm(b + "attn_k_norm.weight", kv_dim)
        if family == "qwen3moe":
            norm(b + "attn_q_norm.weight", head_dim); norm(b + "attn_k_norm.weight", head_dim)
        if family == "deepseek" and i == 0:  # leading dense layer
            t(b + "ffn_gate.weight", d, ff); t(b + "ffn_up.weight", d, ff); t(b + "ffn_down.weight", ff, d)
            continue
        t(b + "ffn_gate_inp.weight", d, n_exp)
        t(b + "ffn_gate_exps.weight", d, ff_exp, n_exp); t(b + "ffn_up_exps.weight", d, ff_exp, n_exp)
        t(b + "ffn_down_exps.weight", ff_exp, d, n_exp)
        if family == "qwen2moe":
            w.add_tensor(b + "ffn_gate_inp_shexp.weight", (0.02 * rng.standard_normal(d)).astype(np.float32))
            t(b + "ffn_gate_shexp.weight", d, ff); t(b + "ffn_up_shexp.weight", d, ff)
            t(b + "ffn_down_shexp.weight", ff, d)
        if family == "deepseek":
            t(b + "ffn_gate_shexp.weight", d, 2 * ff_exp); t(b + "ffn_up_shexp.weight", d, 2 * ff_exp)
            t(b + "ffn_down_shexp.weight", 2 * ff_exp, d)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()


if __name__ == "__main__":
    out = sys.argv[1]
    d = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    std = float(sys.argv[3]) if len(sys.argv) > 3 else 0.02
    os.makedirs(out, exist_ok=True)
    for k, fam in enumerate(FAMILIES):
        make(fam, os.path.join(out, fam + ".gguf"), d, seed=k, std=std)
