"""Assemble the committed training data from public sources (run once; needs the source snapshots).

    python -m training.assemble --mirrors /work/.mirror --evaldata ../shared/evaldata
    python -m training.assemble --authored-only    # after editing training/data/authored/

Writes training/data/{train,heldout,difficulty}.jsonl.gz: deduplicated, in a fixed order, gzip
without a timestamp, so that the same sources give the same bytes. `training.train` reads only
these files: the model rebuilds offline from the repository alone. `--authored-only` re-reads
only the team's own prompts (training/data/authored/) and keeps the committed public rows: the
authored sources come last, so the result is the same as a full run, without the snapshots.
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

from training.readers import Row
from training.sources import SOURCES, read_source

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


_ROUTERBENCH_MODELS = (
    "WizardLM/WizardLM-13B-V1.2",
    "claude-instant-v1",
    "claude-v1",
    "claude-v2",
    "gpt-3.5-turbo-1106",
    "gpt-4-1106-preview",
    "meta/code-llama-instruct-34b-chat",
    "meta/llama-2-70b-chat",
    "mistralai/mistral-7b-chat",
    "mistralai/mixtral-8x7b-chat",
    "zero-one-ai/Yi-34B-Chat",
)
_ROUTELLM_MODELS = ("mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview")
CHECK_SHARE = 5  # one RouteLLM prompt in CHECK_SHARE is kept out of the fit, by its hash


def _routerbench_prompt(prompt: str) -> str:
    # A python list literal of one string; the brackets are RouterBench's wrapping.
    text = prompt[2:-2] if prompt.startswith(("['", '["')) else prompt
    return text.replace("\\n", "\n")


def difficulty_rows(evaldata: Path) -> list[dict[str, object]]:
    """Per prompt, the share of models that got it wrong, and whether the fit may see it.

    RouterBench (11 models; ARC-Challenge, Winogrande, MBPP): its train files are fitted, its
    test files checked. RouteLLM (GPT-4-1106 and Mixtral; MMLU, GSM8K): one prompt in
    CHECK_SHARE, chosen by a hash of its text, is checked, the rest fitted.
    """
    rows: list[dict[str, object]] = []
    for path in sorted((evaldata / "routerbench_subset").glob("*.csv")):
        split = "fit" if path.stem.endswith("_train") else "check"
        with path.open(encoding="utf-8", newline="") as handle:
            for item in csv.DictReader(handle):
                scores = [float(item[m]) for m in _ROUTERBENCH_MODELS if item.get(m, "") != ""]
                if not scores:
                    continue
                rows.append(
                    {
                        "text": _routerbench_prompt(item["prompt"])[:_MAX_CHARS],
                        "failure_share": round(1.0 - sum(scores) / len(scores), 4),
                        "source": f"routerbench-{item['eval_name']}",
                        "split": split,
                    }
                )
    files = sorted((evaldata / "routellm" / "mmlu" / "responses").glob("*.csv"))
    files.append(evaldata / "routellm" / "gsm8k" / "gsm8k_responses.csv")
    for path in files:
        with path.open(encoding="utf-8", newline="") as handle:
            for item in csv.DictReader(handle):
                wrong = sum(item[m].strip().lower() != "true" for m in _ROUTELLM_MODELS)
                text = item["prompt"][:_MAX_CHARS]
                check = int(_key(text)[:8], 16) % CHECK_SHARE == 0
                rows.append(
                    {
                        "text": text,
                        "failure_share": wrong / len(_ROUTELLM_MODELS),
                        "source": "routellm-gsm8k" if "gsm8k" in path.stem else "routellm-mmlu",
                        "split": "check" if check else "fit",
                    }
                )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--evaldata", type=Path, default=Path("../shared/evaldata"))
    parser.add_argument("--out", type=Path, default=DATA)
    parser.add_argument(
        "--authored-only",
        action="store_true",
        help="re-read training/data/authored only; keep the committed public rows",
    )
    args = parser.parse_args(argv)
    if args.authored_only:
        refresh_authored(args.out)
        return
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


def refresh_authored(out: Path) -> None:
    """Replace the authored rows of the committed train file, as a full run would place them."""
    heldout = read_jsonl_gz(out / "heldout.jsonl.gz")
    public = [
        r for r in read_jsonl_gz(out / "train.jsonl.gz") if not _is_authored(str(r["source"]))
    ]
    seen = {_key(str(r["text"])) for r in (*heldout, *public)}
    authored: list[dict[str, object]] = []
    for source in SOURCES:
        if _is_authored(source.name):
            authored.extend(_dedupe(read_source(source, Path(), Path()), seen))
    count = write_jsonl_gz(out / "train.jsonl.gz", [*public, *authored])
    print(f"train: {count} rows, of which authored {len(authored)}")
    print(dict(Counter(str(r["pattern"]) for r in authored)))
    counts = Counter(str(r["source"]) for r in (*heldout, *public, *authored))
    (out / "SOURCES.md").write_text(sources_table(counts))


def _is_authored(source: str) -> bool:
    return source.startswith("authored-")


_SOURCES_HEAD = """# Where the prompt-model data comes from

Written by `python -m training.assemble` (do not edit by hand).

- `train.jsonl.gz` fits the pattern model.
- `heldout.jsonl.gz` only measures accuracy (`python -m training.evaluate`): code, math and
  creative-writing prompts from sources that share no origin with any training source. MGSM is
  GSM8K's test split translated, so GSM8K is not trained on; the MT-Bench translations are not
  trained on either, and English MT-Bench is only a dev report.
- `difficulty.jsonl.gz` holds per-prompt outcomes, the target of the complexity model: the
  share of RouterBench's 11 models failing a prompt (ARC-Challenge, Winogrande, MBPP;
  ../shared/evaldata/routerbench_subset, from shuhao02/RouterDC commit
  0e63989c5bf4363330b8a4616386e3f7f116d9f8; RouterBench code MIT, benchmarks CC BY(-SA)) and
  the share of RouteLLM's two models failing (lm-sys/RouteLLM, commit
  0b64fdafe049e596a3f5657c219329f24af24198, routellm/evals/mmlu and gsm8k, Apache-2.0; MMLU and
  GSM8K MIT). Its `split` column says which rows the fit may see (`fit`) and which only check
  that the predicted level separates failure rates (`check`: RouterBench's test files, one
  RouteLLM prompt in five by hash).

Rows are deduplicated across all files (held-out rows win) and trimmed to 6,000 characters.
Arena-Hard and AlpacaEval data are not used anywhere.

The `authored-*` sources are prompts written by the project team for this repository
(`training/data/authored/<lang>.txt`, one file per language, labelled by pattern as written),
licensed as the project is (Apache-2.0). They were written from the writers' own knowledge of
what users ask, without reading the held-out file, the evaluation data or any benchmark's
prompts.

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
