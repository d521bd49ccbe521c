"""Assemble the committed training data from public sources (run once; needs the source snapshots).

    python -m training.assemble --mirrors /work/.mirror --evaldata ../shared/evaldata

Writes training/data/{train,heldout,difficulty}.jsonl.gz: deduplicated, in a fixed order, gzip
without a timestamp, so that the same sources give the same bytes. `training.train` reads only
these files: the model rebuilds offline from the repository alone.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from training.sources import SOURCES, Row, read_source

DATA = Path(__file__).parent / "data"
_MAX_CHARS = 6000  # longer rows are trimmed: the features read the head and tail anyway


def write_jsonl_gz(path: Path, rows: Iterable[dict[str, object]]) -> int:
    buffer = io.BytesIO()
    count = 0
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as out:
        for row in rows:
            out.write((json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode())
            count += 1
    path.write_bytes(buffer.getvalue())
    return count


def read_jsonl_gz(path: Path) -> list[dict[str, object]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _key(text: str) -> str:
    return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()


def _dedupe(rows: Iterable[Row], seen: set[str]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for row in rows:
        text = row.text.strip()
        if not text:
            continue
        key = _key(text)
        if key in seen:
            continue
        seen.add(key)
        if len(text) > _MAX_CHARS:
            text = text[: _MAX_CHARS // 2] + "\n" + text[-_MAX_CHARS // 2 :]
        out.append({"text": text, "pattern": row.pattern, "lang": row.lang, "source": row.source})
    return out


def difficulty_rows(evaldata: Path) -> list[dict[str, object]]:
    """Per prompt, the share of RouteLLM's two models (GPT-4-1106, Mixtral) that got it wrong."""
    files = sorted((evaldata / "routellm" / "mmlu" / "responses").glob("*.csv"))
    files.append(evaldata / "routellm" / "gsm8k" / "gsm8k_responses.csv")
    models = ("mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview")
    rows: list[dict[str, object]] = []
    for path in files:
        with path.open(encoding="utf-8", newline="") as handle:
            for item in csv.DictReader(handle):
                wrong = sum(item[m].strip().lower() != "true" for m in models)
                rows.append(
                    {
                        "text": item["prompt"][:_MAX_CHARS],
                        "failure_share": wrong / len(models),
                        "source": f"routellm-{path.stem.removeprefix('mmlu_')}",
                    }
                )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--evaldata", type=Path, default=Path("../shared/evaldata"))
    parser.add_argument("--out", type=Path, default=DATA)
    args = parser.parse_args(argv)
    seen: set[str] = set()
    # Held-out rows first: a training row that repeats one is dropped, never the other way.
    by_role: dict[str, list[dict[str, object]]] = {"heldout": [], "train": []}
    for role in ("heldout", "train"):
        for source in SOURCES:
            if source.role == role:
                found = read_source(source, args.mirrors, args.evaldata)
                by_role[role].extend(_dedupe(found, seen))
    args.out.mkdir(parents=True, exist_ok=True)
    for role, rows in by_role.items():
        count = write_jsonl_gz(args.out / f"{role}.jsonl.gz", rows)
        print(f"{role}: {count} rows", dict(Counter(str(r["pattern"]) for r in rows)))
    count = write_jsonl_gz(args.out / "difficulty.jsonl.gz", difficulty_rows(args.evaldata))
    print(f"difficulty: {count} rows")
    counts = Counter(str(r["source"]) for rows in by_role.values() for r in rows)
    (args.out / "SOURCES.md").write_text(sources_table(counts))


_SOURCES_HEAD = """# Where the prompt-model data comes from

Written by `python -m training.assemble` (do not edit by hand). `train.jsonl.gz` fits the pattern
model; `heldout.jsonl.gz` comes only from sources never trained on and only measures accuracy
(`python -m training.evaluate`); `difficulty.jsonl.gz` is RouteLLM's per-prompt outcomes
(lm-sys/RouteLLM, commit 0b64fdafe049e596a3f5657c219329f24af24198, routellm/evals/mmlu and
gsm8k, Apache-2.0; MMLU and GSM8K MIT) from ../shared/evaldata/routellm, the target of the
complexity model. Rows are deduplicated across all files (held-out rows win), trimmed to 6,000
characters. Arena-Hard and AlpacaEval data are not used anywhere.

| source | role | repository | commit | path | licence | rows |
|---|---|---|---|---|---|---|
"""


def sources_table(counts: Counter[str]) -> str:
    lines = [
        f"| {s.name} | {s.role} | {s.repo} | {s.commit} | {s.path} | {s.licence} "
        f"| {counts.get(s.name, 0)} |"
        for s in SOURCES
    ]
    return _SOURCES_HEAD + "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
