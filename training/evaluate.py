"""How good the shipped prompt model is, on data it was not fitted on.

    python -m training.evaluate [--evaldata ../shared/evaldata] [--model PATH] [--errors N]

- Pattern accuracy on the held-out set (training/data/heldout.jsonl.gz: code, math and creative
  writing from sources that share no origin with any training source), overall, in English and
  not, per source and language, with the confusion matrix.
- Complexity: on the outcome rows kept out of the fit (`split` = check), the share of models
  that failed, per predicted level: a useful level separates them.
- MT-Bench and Vicuna-Bench first turns: a dev set, reported, never fitted.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from shared.routing.catalog import COMPLEXITIES, PATTERNS
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


def complexity_table(model: PromptModel, rows: Sequence[dict[str, object]]) -> None:
    """Observed failure share per predicted level, overall and per source (check rows only)."""
    embedder = get_embedder()
    levels = [model.predict(prompt_features(embedder, str(r["text"]))).complexity for r in rows]
    print(f"\n== complexity on {len(rows)} outcome rows not fitted on (split=check)")
    print("   mean share of models failing, per predicted level (n in brackets)")
    print(f"   {'source':<24}" + "".join(f"{level:>16}" for level in COMPLEXITIES))
    sources = sorted({str(r["source"]) for r in rows})
    for source in (*sources, "all"):
        cells = []
        for level in COMPLEXITIES:
            shares = [
                float(str(r["failure_share"]))
                for r, got in zip(rows, levels, strict=True)
                if got == level and source in ("all", r["source"])
            ]
            cells.append(f"{np.mean(shares):.3f} ({len(shares)})" if shares else "-")
        print(f"   {source:<24}" + "".join(f"{c:>16}" for c in cells))


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
    langs = [str(r["lang"]) for r in rows]
    report("held-out", expected, got, langs)
    english = [e == g for e, g, lang in zip(expected, got, langs, strict=True) if lang == "en"]
    print(f"   English: {sum(english)}/{len(english)} = {np.mean(english):.3f}")
    by_source: dict[str, list[bool]] = {}
    for r, e, g in zip(rows, expected, got, strict=True):
        by_source.setdefault(str(r["source"]), []).append(e == g)
    print("   by source:", {k: round(float(np.mean(v)), 3) for k, v in by_source.items()})
    shown = 0
    for text, e, g in zip(texts, expected, got, strict=True):
        if e != g and shown < args.errors:
            shown += 1
            print(f"   miss {e}->{g}: {text[:100]!r}")
    outcomes = read_jsonl_gz(args.data / "difficulty.jsonl.gz")
    complexity_table(model, [r for r in outcomes if r["split"] == "check"])
    mt_texts, mt_labels = mt_bench(args.evaldata)
    mt_got = predict(model, mt_texts)
    report("MT-Bench + Vicuna (dev, report only)", mt_labels, mt_got, ["en"] * len(mt_texts))


if __name__ == "__main__":
    main()
