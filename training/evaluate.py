"""Accuracy of the shipped prompt model on held-out labelled prompts and on the MT-Bench dev set.

    python -m training.evaluate [--evaldata ../shared/evaldata] [--model PATH] [--errors N]

Held-out rows (training/data/heldout.jsonl.gz) come from sources never trained on. MT-Bench and
Vicuna-Bench first turns are a dev set: reported, never fitted.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from shared.routing.catalog import PATTERNS
from shared.routing.embedder import get_embedder
from shared.routing.features import prompt_features
from shared.routing.prompt_model import PromptModel, load_model
from training.assemble import DATA, read_jsonl_gz

# MT-Bench / Vicuna categories as patterns, as in docs/classifier.md.
MT_BENCH = {
    "writing": "creative",
    "roleplay": "creative",
    "reasoning": "analysis",
    "humanities": "analysis",
    "math": "math",
    "coding": "code",
    "extraction": "extraction",
    "stem": "factual",
    "generic": "general",
    "knowledge": "factual",
    "common-sense": "analysis",
    "counterfactual": "analysis",
    "fermi": "math",
}


def predict(model: PromptModel, texts: Sequence[str]) -> list[str]:
    embedder = get_embedder()
    out = []
    for text in texts:
        p = model.predict(prompt_features(embedder, text)).probabilities
        out.append(model.patterns[int(np.argmax(p))])
    return out


def report(name: str, expected: Sequence[str], got: Sequence[str], langs: Sequence[str]) -> None:
    right = [e == g for e, g in zip(expected, got, strict=True)]
    print(f"\n== {name}: {sum(right)}/{len(right)} = {np.mean(right):.3f}")
    non_en = [r for r, lang in zip(right, langs, strict=True) if lang != "en"]
    if non_en:
        print(f"   non-English: {sum(non_en)}/{len(non_en)} = {np.mean(non_en):.3f}")
    by_lang: dict[str, list[bool]] = {}
    for r, lang in zip(right, langs, strict=True):
        by_lang.setdefault(lang, []).append(r)
    print("   by language:", {k: round(float(np.mean(v)), 3) for k, v in sorted(by_lang.items())})
    rows = [p for p in PATTERNS if p in set(expected)]
    cols = [p for p in PATTERNS if p in set(expected) | set(got)]
    pairs = Counter(zip(expected, got, strict=True))
    print("   confusion (rows expected, columns predicted)")
    print("   " + " " * 14 + "".join(f"{c[:6]:>7}" for c in cols))
    for want in rows:
        print("   " + f"{want:<14}" + "".join(f"{pairs[(want, c)]:>7}" for c in cols))


def mt_bench(evaldata: Path) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for name in ("question.jsonl", "vicuna_bench_question.jsonl"):
        for line in (evaldata / "mt_bench" / name).read_text().splitlines():
            item = json.loads(line)
            texts.append(item["turns"][0])
            labels.append(MT_BENCH[item["category"]])
    return texts, labels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--evaldata", type=Path, default=Path("../shared/evaldata"))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--errors", type=int, default=0)
    args = parser.parse_args(argv)
    model = PromptModel.from_bytes(args.model.read_bytes()) if args.model else load_model()
    rows = read_jsonl_gz(args.data / "heldout.jsonl.gz")
    texts = [str(r["text"]) for r in rows]
    expected = [str(r["pattern"]) for r in rows]
    got = predict(model, texts)
    report("held-out", expected, got, [str(r["lang"]) for r in rows])
    by_source: dict[str, list[bool]] = {}
    for r, e, g in zip(rows, expected, got, strict=True):
        by_source.setdefault(str(r["source"]), []).append(e == g)
    print("   by source:", {k: round(float(np.mean(v)), 3) for k, v in by_source.items()})
    shown = 0
    for text, e, g in zip(texts, expected, got, strict=True):
        if e != g and shown < args.errors:
            shown += 1
            print(f"   miss {e}->{g}: {text[:100]!r}")
    mt_texts, mt_labels = mt_bench(args.evaldata)
    mt_got = predict(model, mt_texts)
    report("MT-Bench + Vicuna (dev, report only)", mt_labels, mt_got, ["en"] * len(mt_texts))


if __name__ == "__main__":
    main()
