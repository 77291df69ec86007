#!/usr/bin/env python3
"""How far re-ordering memtree's candidates can take LoCoMo recall@5 (issue 22).

Reads the re-scorer's labelled rows (memtree's first 50 candidates of every question, in
memtree's order, with the 32 features of src/retrieve/rescore.rs) and compares, on the
held-out split, orders that differ only in how those candidates are scored:

- memtree's own order;
- the two shipped models (src/retrieve/rescore.json, rescore-dense.json), applied to every
  question (memtree re-scores only answers that are not confident);
- a linear model (logistic regression) and gradient-boosted trees fitted on the development
  split: what weights fitted on in-domain data could do with the same features;
- with the `own` rows in the file, a linear model fitted on them (the shippable data);
- an oracle that puts every relevant candidate first: what a perfect scorer of the same
  candidates would do, over all 50 and over memtree's first 10 only.

recall@5 per question is (relevant candidates in the top 5) / (evidence turns), averaged over
every question of the split that has evidence; a question with no relevant candidate counts 0,
as in `eval -- locomo`. The held-out split is only evaluated here, never fitted.

    MEMTREE_DENSE_MODEL=/path/to/all-minilm-l6-v2 \\
      cargo run --profile eval --example eval -- rows --dense \\
      --sets own,locomo-dev,locomo-heldout --file target/eval/rows.jsonl
    pip install numpy scikit-learn
    python3 scripts/rescorer_ceiling.py target/eval/rows.jsonl ../shared/data/locomo/locomo10.json

LoCoMo is CC BY-NC: this reads it from outside the repository and nothing it fits is shipped.
"""

import collections
import json
import re
import sys

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def load_rows(path):
    """{set: OrderedDict(question key -> [(label, features)])} in memtree's order."""
    sets = collections.defaultdict(collections.OrderedDict)
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            sets[r["set"]].setdefault(r["g"], []).append((bool(r["y"]), r["x"]))
    return sets


TURN = re.compile(r"\s*D\s*(\d+)\s*:\s*(\d+)\s*")


def evidence(qa):
    """The evidence turns of a question, parsed as `eval -- locomo` does (locomo.rs)."""
    turns = set()
    for e in qa.get("evidence", []):
        if isinstance(e, str):
            for part in re.split("[;,]", e):
                m = TURN.fullmatch(part)
                if m:
                    turns.add((int(m.group(1)), int(m.group(2))))
    return turns


def evidence_counts(locomo_path):
    """{"sample:index:question": (evidence turns, category, sample)} for every question with
    evidence (the keys of the rows' groups)."""
    out = {}
    for conv in json.load(open(locomo_path)):
        sid = conv["sample_id"]
        for i, qa in enumerate(conv["qa"]):
            n = len(evidence(qa))
            if n:
                out[f"{sid}:{i}:{qa['question']}"] = (n, qa.get("category"), sid)
    return out


def matrix(groups):
    xs, ys = [], []
    for rows in groups.values():
        for y, x in rows:
            xs.append(x)
            ys.append(y)
    return np.array(xs), np.array(ys)


def recall5(groups, questions, scores=None, oracle_within=None):
    """Mean recall@5 over every question of `questions` (those without rows count 0), and
    over its multi-hop questions (category 1)."""
    total, multi, i = 0.0, 0.0, 0
    for key, rows in groups.items():
        n = len(rows)
        evidence = max(questions.get(key, (0,))[0], sum(y for y, _ in rows), 1)
        if oracle_within is not None:
            hit = min(sum(y for y, _ in rows[:oracle_within]), 5)
        else:
            s = scores[i : i + n] if scores is not None else -np.arange(n)
            top = np.argsort(-s, kind="stable")[:5]
            hit = sum(rows[j][0] for j in top)
        total += hit / evidence
        if questions.get(key, (0, None))[1] == 1:
            multi += hit / evidence
        i += n
    multi_hop = sum(1 for v in questions.values() if v[1] == 1)
    return total / len(questions), multi / max(multi_hop, 1)


def shipped(path, x):
    """A shipped model's logits; a model fitted before the dense features gives them weight 0
    (as `Model::completed` does)."""
    m = json.load(open(path))
    k = len(m["weights"])
    mean, std, w = (np.array(m[f]) for f in ("mean", "std", "weights"))
    return m["bias"] + ((x[:, :k] - mean) / std) @ w


def main():
    rows_path, locomo_path = sys.argv[1], sys.argv[2]
    sets = load_rows(rows_path)
    dev, held = sets["locomo-dev"], sets["locomo-heldout"]
    every = evidence_counts(locomo_path)
    samples = {
        name: {k.split(":", 1)[0] for k in groups} for name, groups in sets.items()
    }
    questions = {
        name: {k: v for k, v in every.items() if v[2] in samples[name]} for name in sets
    }
    qd, qh = questions["locomo-dev"], questions["locomo-heldout"]
    xd, yd = matrix(dev)
    xh, _ = matrix(held)
    print(f"questions with evidence: dev {len(qd)}, held-out {len(qh)}; "
          f"with a relevant candidate: dev {len(dev)}, held-out {len(held)}")
    report = [("memtree's order", recall5(dev, qd), recall5(held, qh))]
    for name in ("rescore.json", "rescore-dense.json"):
        p = f"src/retrieve/{name}"
        report.append((f"shipped {name}, every question",
                       recall5(dev, qd, shipped(p, xd)), recall5(held, qh, shipped(p, xh))))
    scale = StandardScaler().fit(xd)
    linear = LogisticRegression(C=1.0, max_iter=5000).fit(scale.transform(xd), yd)
    report.append(("linear, fitted on dev (dev in sample)",
                   recall5(dev, qd, linear.decision_function(scale.transform(xd))),
                   recall5(held, qh, linear.decision_function(scale.transform(xh)))))
    for depth, rounds in ((3, 200), (4, 300), (6, 300)):
        trees = HistGradientBoostingClassifier(
            max_depth=depth, max_iter=rounds, learning_rate=0.05, l2_regularization=1.0,
            random_state=0).fit(xd, yd)
        report.append((f"boosted trees depth {depth}, {rounds} rounds, fitted on dev",
                       recall5(dev, qd, trees.decision_function(xd)),
                       recall5(held, qh, trees.decision_function(xh))))
    if "own" in sets:
        xo, yo = matrix(sets["own"])
        own_scale = StandardScaler().fit(xo)
        for c in (0.01, 1.0):
            own = LogisticRegression(C=c, max_iter=5000).fit(own_scale.transform(xo), yo)
            report.append((f"linear, fitted on own (shippable) rows, C {c}",
                           recall5(dev, qd, own.decision_function(own_scale.transform(xd))),
                           recall5(held, qh, own.decision_function(own_scale.transform(xh)))))
    report.append(("oracle order of memtree's first 10",
                   recall5(dev, qd, oracle_within=10), recall5(held, qh, oracle_within=10)))
    report.append(("oracle order of all 50",
                   recall5(dev, qd, oracle_within=len(max(dev.values(), key=len))),
                   recall5(held, qh, oracle_within=len(max(held.values(), key=len)))))
    print(f"{'order':<56} {'dev R@5 / multi-hop':>20} {'held-out R@5 / multi-hop':>25}")
    for name, d, h in report:
        print(f"{name:<56} {d[0]:>12.3f} / {d[1]:.3f} {h[0]:>17.3f} / {h[1]:.3f}")


if __name__ == "__main__":
    main()
