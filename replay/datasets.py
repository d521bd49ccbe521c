"""One small adapter per dataset under the shared evaldata folder, each to a `ReplayDataset`.

Datasets and their READMEs: ../shared/evaldata/{routerbench_subset,routellm,mt_bench}.
"""

from __future__ import annotations

import ast
import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from replay.records import ReplayDataset, ReplayRecord, user_messages
from shared.routing.tokens import estimate_tokens

STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
# USD per 1M tokens, input and output blended, as the RouteLLM authors priced the pair (LMSYS
# blog "RouteLLM", 2024-07-01, and arXiv:2406.18665): GPT-4 $24.7, Mixtral-8x7B $0.24.
ROUTELLM_PRICE_PER_MTOK = {STRONG: 24.7, WEAK: 0.24}
# RouteLLM's headline: cost reduction vs GPT-4 alone at 95% of GPT-4's score, best router.
ROUTELLM_PUBLISHED: dict[str, object] = {
    "source": "LMSYS blog 'RouteLLM' (2024-07-01) and arXiv:2406.18665; routers trained on "
    "Arena preference data augmented with GPT-4-judge labels",
    "claim": "cost reduction vs GPT-4 only, while keeping 95% of GPT-4's score",
    "cost_reduction_at_95pct": {"mt_bench": 0.85, "mmlu": 0.45, "gsm8k": 0.35},
    # APGR and CPT on MMLU, best RouteLLM router per column when trained with MMLU golden labels
    # added to the Arena data (arXiv:2406.18665, MMLU results table), as a public write-up
    # quotes them (the paper's tables themselves were not readable here); routers trained on
    # Arena data alone are near random there (APGR about 0.5). No GSM8K figures were found.
    "apgr_cpt": {
        "mmlu": {
            "apgr": 0.603,
            "cpt50": 0.354,
            "cpt80": 0.703,
            "router": "best per column, Arena + MMLU golden labels",
        }
    },
}
MMLU_ANSWER_TOKENS = 1  # the answer is one letter
ROUTERBENCH_FILES = (
    "arc_challenge_train.csv",
    "arc_challenge_test.csv",
    "winograde_train.csv",
    "winograde_test.csv",
    "mbpp_train.csv",
    "mbpp_test.csv",
)


def _csv_rows(path: Path) -> Iterator[dict[str, str]]:
    csv.field_size_limit(1 << 30)  # RouterBench cells hold whole model responses
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def load_routerbench(root: Path) -> ReplayDataset:
    """RouterBench 0-shot subset (ARC-Challenge, Winogrande, MBPP): 11 models, $ per prompt.

    Train and test files are pooled (the replay draws its own holdout); a sample id is kept
    once; the 28 rows lacking an outcome for some model are dropped.
    """
    folder = root / "routerbench_subset"
    records: list[ReplayRecord] = []
    seen: set[str] = set()
    models: tuple[str, ...] = ()
    for name in ROUTERBENCH_FILES:
        for row in _csv_rows(folder / name):
            if not models:
                models = tuple(k.split("|")[0] for k in row if k.endswith("|total_cost"))
            uid = f"{row['eval_name']}:{row['sample_id']}"
            if uid in seen or any(row[m] == "" for m in models):
                continue
            seen.add(uid)
            turns = ast.literal_eval(row["prompt"])  # stored as a Python list literal
            records.append(
                ReplayRecord(
                    uid=uid,
                    messages=user_messages([str(t) for t in turns]),
                    quality={m: float(row[m]) for m in models},
                    cost_usd={m: float(row[f"{m}|total_cost"]) for m in models},
                    group=row["eval_name"],
                )
            )
    return ReplayDataset(
        name="routerbench",
        records=records,
        models=models,
        reference_model=STRONG,
        notes=["cost: RouterBench's own $ estimate per prompt and model (<model>|total_cost)"],
    )


def _contaminated(folder: Path) -> set[str]:
    path = folder / "contaminated_prompts.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return {json.loads(line)["eval_prompt"] for line in lines if line.strip()}


def _routellm_dataset(
    name: str, records: list[ReplayRecord], graded: bool = False
) -> ReplayDataset:
    return ReplayDataset(
        name=name,
        records=records,
        models=(WEAK, STRONG),
        reference_model=STRONG,
        graded=graded,
        notes=[
            "cost: estimated tokens (4 characters a token) x blended price per 1M tokens as "
            f"RouteLLM priced the pair: {ROUTELLM_PRICE_PER_MTOK}",
            "prompts RouteLLM lists as contaminated (overlap with its router training data) "
            "are left out, as in its evaluation",
        ],
        published=ROUTELLM_PUBLISHED,
    )


def _pair_cost(tokens: dict[str, int]) -> dict[str, float]:
    return {m: tokens[m] * ROUTELLM_PRICE_PER_MTOK[m] / 1_000_000 for m in tokens}


def load_mmlu(root: Path) -> ReplayDataset:
    """RouteLLM's MMLU: 57 subjects, GPT-4-1106 vs Mixtral-8x7B correctness (no responses)."""
    folder = root / "routellm" / "mmlu"
    skip = _contaminated(folder)
    records = []
    for path in sorted((folder / "responses").glob("mmlu_*.csv")):
        subject = path.stem.removeprefix("mmlu_")
        for index, row in enumerate(_csv_rows(path)):
            if row["prompt"] in skip:
                continue
            tokens = estimate_tokens(row["prompt"]) + MMLU_ANSWER_TOKENS
            records.append(
                ReplayRecord(
                    uid=f"mmlu:{subject}:{index}",
                    messages=user_messages([row["prompt"]]),
                    quality={m: float(row[m] == "True") for m in (WEAK, STRONG)},
                    cost_usd=_pair_cost(dict.fromkeys((WEAK, STRONG), tokens)),
                    group=subject,
                )
            )
    return _routellm_dataset("mmlu", records)


def load_gsm8k(root: Path) -> ReplayDataset:
    """RouteLLM's GSM8K: correctness and full responses, so output tokens are estimated."""
    folder = root / "routellm" / "gsm8k"
    skip = _contaminated(folder)
    records = []
    for index, row in enumerate(_csv_rows(folder / "gsm8k_responses.csv")):
        if row["prompt"] in skip:
            continue
        prompt_tokens = estimate_tokens(row["prompt"])
        tokens = {m: prompt_tokens + estimate_tokens(row[f"{m}_response"]) for m in (WEAK, STRONG)}
        records.append(
            ReplayRecord(
                uid=f"gsm8k:{index}",
                messages=user_messages([row["prompt"]]),
                quality={m: float(row[m] == "True") for m in (WEAK, STRONG)},
                cost_usd=_pair_cost(tokens),
                group="gsm8k",
            )
        )
    return _routellm_dataset("gsm8k", records)


def load_mt_bench(root: Path) -> ReplayDataset:
    """RouteLLM's MT-Bench: 80 questions x 2 turns, a GPT-4 judge's 1-10 score per model.

    One record per (question, turn); turn 2 carries turn 1 as context. Quality = score / 10.
    Tokens are estimated from the judge's prompt, which quotes the model's own answers: a
    proxy for the conversation's size per model.
    """
    folder = root / "routellm" / "mt_bench"
    skip = _contaminated(folder)
    questions = {}
    for line in (folder / "question.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            questions[item["question_id"]] = item
    judged: dict[tuple[int, int], dict[str, tuple[float, int]]] = {}
    for line in (folder / "judgements.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            size = estimate_tokens(item["user_prompt"])
            judged.setdefault((item["question_id"], item["turn"]), {})[item["model"]] = (
                float(item["score"]),
                size,
            )
    records = []
    for (question_id, turn), by_model in sorted(judged.items()):
        question = questions[question_id]
        if question["turns"][0] in skip or set(by_model) != {WEAK, STRONG}:
            continue
        records.append(
            ReplayRecord(
                uid=f"mt_bench:{question_id}:{turn}",
                messages=user_messages(question["turns"][:turn]),
                quality={m: by_model[m][0] / 10 for m in by_model},
                cost_usd=_pair_cost({m: by_model[m][1] for m in by_model}),
                group=question["category"],
            )
        )
    return _routellm_dataset("mt_bench", records, graded=True)


def load_jsonl(path: Path) -> ReplayDataset:
    """Any dataset in the generic format: a header line, then one record per line.

    Header: {"name", "models", "reference_model", "graded" (optional), "notes" (optional)}.
    Record: {"uid", "turns": [user prompts], "quality": {model: 0..1}, "cost_usd": {model: USD},
    "group" (optional)}. Every record needs an outcome and a cost for every model.
    """
    lines = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    if not lines:
        raise ValueError(f"{path} is empty")
    header, rows = lines[0], lines[1:]
    models = tuple(header["models"])
    records = []
    for row in rows:
        missing = [m for m in models if m not in row["quality"] or m not in row["cost_usd"]]
        if missing:
            raise ValueError(f"{path}: record {row.get('uid')} lacks {missing}")
        records.append(
            ReplayRecord(
                uid=str(row["uid"]),
                messages=user_messages(row["turns"]),
                quality={m: float(row["quality"][m]) for m in models},
                cost_usd={m: float(row["cost_usd"][m]) for m in models},
                group=str(row.get("group", "")),
            )
        )
    return ReplayDataset(
        name=str(header.get("name", path.stem)),
        records=records,
        models=models,
        reference_model=str(header["reference_model"]),
        graded=bool(header.get("graded", False)),
        notes=list(header.get("notes", [])),
    )


LOADERS: dict[str, Callable[[Path], ReplayDataset]] = {
    "routerbench": load_routerbench,
    "mmlu": load_mmlu,
    "gsm8k": load_gsm8k,
    "mt_bench": load_mt_bench,
}


def load(name: str, root: Path) -> ReplayDataset:
    """The named dataset from an evaldata folder. Raises ValueError for an unknown name."""
    try:
        loader = LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(LOADERS)}") from None
    return loader(root)
