"""Test oracle: a literal, functional re-reading of field notes §1.3 (TokenFeatureEnhancer) and §1.5 (AV_Aligner).

Written from the notes' prose, independently of ddeseg_layers: plain tensors and a dict of weights, explicit
einsum/matmul attention (no SDPA), the Gumbel noise passed in explicitly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def lin(x, p, name, bias=True):
    y = x @ p[name + ".weight"].t()
    if bias:
        y = y + p[name + ".bias"]
    return y


def official_ddm(token, bank, p, K):
    """§1.3. token [B, d], bank [C, m, d], p: state dict with official names. Returns (stage1, stage2)."""
    means = bank.mean(1)  # [C, d]
    dist = torch.sqrt(((token[:, None, :] - means[None]) ** 2).sum(-1))  # [B, C]
    idx = torch.argsort(dist, dim=1)[:, :K]
    B, d = token.shape
    stage1 = torch.empty(B, K, d, dtype=token.dtype)
    stage2 = torch.empty(B, K, d, dtype=token.dtype)
    for b in range(B):
        a = token[b]
        mu = means[idx[b]]  # [K, d]
        e = F.gelu(lin(mu - a, p, "edge_fc_s1.0"))  # [K, d]
        w = lin(e, p, "fusion_s1", bias=False)  # [K, d], softmax over K per channel
        e = e * torch.softmax(w, dim=0)
        o = torch.tanh(lin(a + e, p, "offset_s1.0"))
        a1 = (1 + o) * a  # [K, d]
        stage1[b] = a1
        for k in range(K):
            entries = bank[idx[b, k]]  # [m, d]
            e2 = F.gelu(lin(entries - a1[k], p, "edge_fc_s2.0"))  # [m, d]
            w2 = lin(e2, p, "fusion_s2", bias=False)
            e2 = e2 * torch.softmax(w2, dim=0)  # over the m entries, per channel
            o2 = torch.tanh(lin(a1[k] + e2, p, "offset_s2.0"))
            stage2[b, k] = ((1 + o2) * a1[k]).sum(0)
    return stage1, stage2, idx


def _heads(x, h):
    B, n, c = x.shape
    return x.reshape(B, n, h, c // h).permute(0, 2, 1, 3)


def cross_modal(query, keyval, p, prefix, h, kind):
    """Cross_modal_interaction: bias-free q/k/v, scale (c/h)^-0.5, no output projection."""
    q = _heads(query @ p[prefix + ".q_proj.weight"].t(), h)
    k = _heads(keyval @ p[prefix + ".k_proj.weight"].t(), h)
    v = _heads(keyval @ p[prefix + ".v_proj.weight"].t(), h)
    scale = (query.shape[-1] // h) ** -0.5
    attn = torch.einsum("bhqc,bhkc->bhqk", q, k) * scale
    attn = torch.sigmoid(attn) if kind == "sigmoid" else torch.softmax(attn, dim=-1)
    out = torch.einsum("bhqk,bhkc->bhqc", attn, v)
    B, _, n, _ = out.shape
    return out.permute(0, 2, 1, 3).reshape(B, n, -1)


def official_aligner(img, aud, p, h, gumbel=None, tau=1.0):
    """§1.5. img [B, HW, C], aud [B, K, C]; ``gumbel`` [B, HW, 5] noise or None (no noise)."""
    centres = p["gumbel_clustering.cluster_centers"]  # [5, C]
    logits = torch.einsum("bnc,kc->bnk", img, centres)
    if gumbel is not None:
        logits = logits + gumbel
    assign = torch.softmax(logits / tau, dim=-1)
    pix_centres = torch.einsum("bnk,kc->bnc", assign, centres)  # per-pixel centres
    fav = cross_modal(aud, pix_centres, p, "av_cros_interaction", h, "softmax")  # [B, K, C]
    sc = lin(fav, p, "fc")  # [B, K, 1]
    sc = torch.softmax(sc, dim=1)
    pooled = (sc * aud).sum(1)  # [B, C]
    out = cross_modal(img, pooled[:, None, :], p, "va_cros_interaction", h, "sigmoid")
    return img + out, sc[..., 0]
