#!/usr/bin/python3
"""PyTorch peer of bench/bench_lm.c: the same MoE language model (bench/torch_lm.py), same preset,
same batch, AdamW, random tokens; prints one JSON line with train and forward tokens/s.
usage: /usr/bin/python3 bench/lm_peer.py PRESET [steps]  (threads: OMP_NUM_THREADS)"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from peer_timing import time_train_and_forward  # noqa: E402
from torch_lm import MoeLM, decays, init_params  # noqa: E402

PRESETS = {
    "tiny": dict(d_model=128, n_layer=4, n_head=4, seq_len=128, batch=16, expert_hidden=512),
    "small": dict(d_model=256, n_layer=6, n_head=8, seq_len=256, batch=8, expert_hidden=1024),
}


def main():
    preset = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    p = PRESETS[preset]
    cfg = dict(vocab_size=8192, n_kv_head=p["n_head"], block="gpt2", tied=1, qk_norm=0, norm_eps=1e-5,
               rope_base=10000.0, rope_mode="neox", n_experts=8, top_k=2, n_shared=0, renorm=0,
               expert_act="gelu", expert_bias=1, aux_lb=0.01, aux_z=0.001, **p)
    model = MoeLM(cfg, init_params(cfg, seed=1))
    named = [(k, v) for k, v in model.p.items()]
    opt = torch.optim.AdamW([{"params": [v for k, v in named if decays(k, v)], "weight_decay": 0.1},
                             {"params": [v for k, v in named if not decays(k, v)], "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95))
    g = torch.Generator().manual_seed(5)
    B, T = cfg["batch"], cfg["seq_len"]
    tok = torch.randint(0, 8192, (B, T), generator=g)
    tgt = torch.randint(0, 8192, (B, T), generator=g)
    t_train, t_fwd, _ = time_train_and_forward(opt, lambda: model(tok, tgt)[2],
                                               lambda: model(tok, tgt), steps)
    print(json.dumps({"what": "pytorch", "preset": preset, "torch": torch.__version__,
                      "train_tok_s": round(B * T * steps / t_train, 1), "fwd_tok_s": round(B * T * steps / t_fwd, 1)}))


if __name__ == "__main__":
    main()
