"""The moelens MoE language model written in PyTorch: the reference that tests/make_lm_fixture.py
uses to produce the committed fixture, and the peer that bench/lm_peer.py times. Parameter names
and semantics follow src/model/lm.c and src/nn/moe.h exactly (docs/lm.md):

  x = wte[tok] (+ wpe[t])                       gpt2 block: LayerNorm, biases, GELU experts
  per layer: h = x + Wo·Attn(norm1(x)); x = h + MoE(norm2(h))       llama block: RMSNorm, RoPE,
  logits = norm_f(x)·Wᵀ (W = wte when tied)                          SwiGLU, no biases
  MoE: p = softmax(Wr·u); top-k of p (ties: lower index first); weight = p (renorm optional)
       out = Σ_k weight·expert(u) + Σ shared(u)
  loss = mean xent + Σ_layers (aux_lb·E·Σ_i f_i P_i + aux_z·mean (logsumexp z)²)
"""
import math
import torch
import torch.nn.functional as F


def decays(name, tensor):
    """AdamW weight decay applies to matrices except embeddings and cosine centroids."""
    return tensor.dim() >= 2 and name not in ("wte", "wpe") and "cos_centroids" not in name


class MoeLM(torch.nn.Module):
    def __init__(self, cfg, params):
        super().__init__()
        self.cfg = cfg
        self.p = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v.clone()) for k, v in params.items()})
        self.router_logits = []
        self.topk_idx = []
        self.aux_values = []

    def w(self, name):
        return self.p[name.replace(".", "__")]

    def has(self, name):
        return name.replace(".", "__") in self.p

    def norm(self, x, prefix):
        c = self.cfg
        if c["block"] == "gpt2":
            return F.layer_norm(x, (x.shape[-1],), self.w(prefix + ".w"), self.w(prefix + ".b"), c["norm_eps"])
        return rms_norm(x, self.w(prefix + ".w"), c["norm_eps"])

    def attention(self, x, l):
        c = self.cfg
        B, T, C = x.shape
        nh, nkv = c["n_head"], c["n_kv_head"]
        hd = C // nh
        pre = "h.%d.attn." % l
        bias = (lambda n: self.w(pre + n)) if c["block"] == "gpt2" else (lambda n: None)
        q = F.linear(x, self.w(pre + "wq"), bias("bq")).view(B, T, nh, hd)
        k = F.linear(x, self.w(pre + "wk"), bias("bk")).view(B, T, nkv, hd)
        v = F.linear(x, self.w(pre + "wv"), bias("bv")).view(B, T, nkv, hd)
        if c["qk_norm"]:
            q = rms_norm(q, self.w(pre + "q_norm"), c["norm_eps"])
            k = rms_norm(k, self.w(pre + "k_norm"), c["norm_eps"])
        if c["block"] == "llama":
            q = rope(q, c["rope_base"], c["rope_mode"])
            k = rope(k, c["rope_base"], c["rope_mode"])
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        if nkv != nh:
            k = k.repeat_interleave(nh // nkv, dim=1)
            v = v.repeat_interleave(nh // nkv, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, nh * hd)
        return F.linear(y, self.w(pre + "wo"), bias("bo"))

    def expert(self, u, pre, e):
        c = self.cfg
        if c["expert_act"] == "swiglu":
            h = F.silu(F.linear(u, self.w(pre + "wg")[e])) * F.linear(u, self.w(pre + "wu")[e])
            return F.linear(h, self.w(pre + "wd")[e])
        b1 = self.w(pre + "b1")[e] if self.has(pre + "b1") else None
        b2 = self.w(pre + "b2")[e] if self.has(pre + "b2") else None
        h = F.gelu(F.linear(u, self.w(pre + "w1")[e], b1), approximate="tanh")
        return F.linear(h, self.w(pre + "w2")[e], b2)

    def moe(self, u, l):
        c = self.cfg
        N = u.shape[0]
        pre = "h.%d.ffn." % l
        E, k = c["n_experts"], c["top_k"]
        z = F.linear(u, self.w(pre + "router.w"))
        p = z.softmax(-1)
        # stable descending top-k: equal scores keep the lower expert index first
        order = torch.sort(-p.detach(), dim=-1, stable=True).indices[:, :k]
        wts = p.gather(1, order)
        if c["renorm"]:
            wts = wts / wts.sum(-1, keepdim=True)
        self.router_logits.append(z.detach())
        self.topk_idx.append(order)
        out = torch.zeros_like(u)
        for e in range(E):
            rows, slots = (order == e).nonzero(as_tuple=True)
            if rows.numel():
                out.index_add_(0, rows, wts[rows, slots, None] * self.expert(u[rows], pre + "experts.", e))
        for s in range(c["n_shared"]):
            out = out + self.expert(u, pre + "shared.", s)
        f = torch.bincount(order.flatten(), minlength=E).float() / (N * k)
        lb = E * (f * p.mean(0)).sum()
        zl = (torch.logsumexp(z, -1) ** 2).mean()
        self.aux_values.append((lb, zl))
        return out

    def forward(self, tokens, targets):
        c = self.cfg
        self.router_logits, self.topk_idx, self.aux_values = [], [], []
        B, T = tokens.shape
        x = F.embedding(tokens, self.w("wte"))
        if c["block"] == "gpt2":
            x = x + self.w("wpe")[:T]
        for l in range(c["n_layer"]):
            x = x + self.attention(self.norm(x, "h.%d.ln1" % l), l)
            u = self.norm(x, "h.%d.ln2" % l)
            x = x + self.moe(u.reshape(B * T, -1), l).view(B, T, -1)
        head = self.w("wte") if c["tied"] else self.w("lm_head")
        logits = F.linear(self.norm(x, "lnf"), head)
        xent = F.cross_entropy(logits.view(B * T, -1), targets.view(-1))
        aux = sum(c["aux_lb"] * lb + c["aux_z"] * zl for lb, zl in self.aux_values)
        return logits, xent, xent + aux


def rms_norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rope(x, base, mode):
    """x [B,T,H,D]; NORM rotates adjacent pairs, NEOX rotates halves (llama.cpp conventions)."""
    B, T, H, D = x.shape
    inv = base ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = ang.cos().float()[None, :, None, :], ang.sin().float()[None, :, None, :]
    if mode == "norm":
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack((a * cos - b * sin, a * sin + b * cos), -1).flatten(-2)
    a, b = x[..., : D // 2], x[..., D // 2:]
    return torch.cat((a * cos - b * sin, a * sin + b * cos), -1)


def init_params(cfg, seed):
    """Random parameters with moelens' names and shapes (values need not match moelens' init)."""
    g = torch.Generator().manual_seed(seed)
    C, V, T, L = cfg["d_model"], cfg["vocab_size"], cfg["seq_len"], cfg["n_layer"]
    hd = C // cfg["n_head"]
    qd, kvd = cfg["n_head"] * hd, cfg["n_kv_head"] * hd
    E, H, S = cfg["n_experts"], cfg["expert_hidden"], cfg["n_shared"]
    gpt2 = cfg["block"] == "gpt2"
    r = lambda *s: torch.randn(*s, generator=g) * 0.1
    one = lambda n: 1.0 + 0.1 * torch.randn(n, generator=g)
    p = {"wte": r(V, C)}
    if gpt2:
        p["wpe"] = r(T, C)
    for l in range(L):
        h = "h.%d." % l
        p[h + "ln1.w"] = one(C)
        if gpt2:
            p[h + "ln1.b"] = r(C)
        p[h + "attn.wq"], p[h + "attn.wk"], p[h + "attn.wv"] = r(qd, C), r(kvd, C), r(kvd, C)
        if gpt2:
            p[h + "attn.bq"], p[h + "attn.bk"], p[h + "attn.bv"] = r(qd), r(kvd), r(kvd)
        if cfg["qk_norm"]:
            p[h + "attn.q_norm"], p[h + "attn.k_norm"] = one(hd), one(hd)
        p[h + "attn.wo"] = r(C, qd)
        if gpt2:
            p[h + "attn.bo"] = r(C)
        p[h + "ln2.w"] = one(C)
        if gpt2:
            p[h + "ln2.b"] = r(C)
        f = h + "ffn."
        p[f + "router.w"] = torch.randn(E, C, generator=g) * 0.5
        if cfg["expert_act"] == "swiglu":
            p[f + "experts.wg"], p[f + "experts.wu"], p[f + "experts.wd"] = r(E, H, C), r(E, H, C), r(E, C, H)
            if S:
                p[f + "shared.wg"], p[f + "shared.wu"], p[f + "shared.wd"] = r(S, H, C), r(S, H, C), r(S, C, H)
        else:
            p[f + "experts.w1"], p[f + "experts.b1"] = r(E, H, C), r(E, H)
            p[f + "experts.w2"], p[f + "experts.b2"] = r(E, C, H), r(E, C)
    p["lnf.w"] = one(C)
    if gpt2:
        p["lnf.b"] = r(C)
    if not cfg["tied"]:
        p["lm_head"] = r(V, C)
    return p
