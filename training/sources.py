"""Where the labelled prompts come from: one entry per public source, with origin and licence.

Each source reads a file of a public repository snapshot (a bare git mirror: `git show
COMMIT:PATH`) or of the shared evaluation data, and yields `Row`s. `role` says what the rows are
for: `train` rows fit the models; `heldout` rows come from sources never trained on and only
measure accuracy. training/data/SOURCES.md lists the same facts for people.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

csv.field_size_limit(1 << 24)


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    pattern: str
    lang: str
    source: str


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    repo: str  # owner/name on GitHub, or "evaldata" for ../shared/evaldata
    commit: str
    path: str
    licence: str
    role: str  # "train" or "heldout"
    read: Callable[[bytes, str], Iterator[Row]]


def git_file(mirrors: Path, repo: str, commit: str, path: str) -> bytes:
    git_dir = mirrors / repo.replace("/", "+") / "repo"
    return subprocess.run(  # noqa: S603 - fixed arguments, no shell
        ["git", "-C", str(git_dir), "show", f"{commit}:{path}"],  # noqa: S607
        check=True,
        capture_output=True,
    ).stdout


def _jsonl(raw: bytes) -> Iterator[dict[str, object]]:
    for line in raw.decode("utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


def _gsm8k(raw: bytes, name: str) -> Iterator[Row]:
    for item in _jsonl(raw):
        yield Row(str(item["question"]), "math", "en", name)


def _humaneval(raw: bytes, name: str) -> Iterator[Row]:
    for item in _jsonl(gzip.decompress(raw)):
        yield Row(str(item["prompt"]), "code", "en", name)


def _mgsm(lang: str) -> Callable[[bytes, str], Iterator[Row]]:
    def read(raw: bytes, name: str) -> Iterator[Row]:
        for line in raw.decode("utf-8").splitlines():
            question = line.split("\t", 1)[0].strip()
            if question:
                yield Row(question, "math", lang, name)

    return read


_BELLE = {
    "open qa": "factual",
    "brainstorming": "general",
    "rewrite": "creative",
    "generation": "creative",
    "math": "math",
    "classification": "extraction",
    "closed qa": "extraction",
    "summarization": "summarization",
    "code": "code",
    "extract": "extraction",
}


def _belle(raw: bytes, name: str) -> Iterator[Row]:
    for item in _jsonl(raw):
        label = str(item["class"]).replace("\xa0", " ")
        yield Row(str(item["question"]), _BELLE[label], "zh", name)


_MT_BENCH = {"writing": "creative", "roleplay": "creative", "math": "math", "coding": "code"}


def _mt_bench(lang: str) -> Callable[[bytes, str], Iterator[Row]]:
    """Only the categories with one clear pattern (the held-out test is code/math/creative)."""

    def read(raw: bytes, name: str) -> Iterator[Row]:
        for item in _jsonl(raw):
            pattern = _MT_BENCH.get(str(item["category"]))
            turns = item["turns"]
            if pattern and isinstance(turns, list):
                yield Row(str(turns[0]), pattern, lang, name)

    return read


def _t0(pattern: str) -> Callable[[bytes, str], Iterator[Row]]:
    def read(raw: bytes, name: str) -> Iterator[Row]:
        for index, item in enumerate(_jsonl(raw)):
            if index < 150:  # a template's rows repeat its wording: a few teach it
                yield Row(str(item["prompt"]).strip(), pattern, "en", name)

    return read


def _routerbench_mbpp(raw: bytes, name: str) -> Iterator[Row]:
    for item in csv.DictReader(io.StringIO(raw.decode("utf-8"))):
        prompt = item["prompt"]
        # A python list literal of one string; the list brackets are RouterBench's wrapping.
        text = prompt[2:-2] if prompt.startswith(("['", '["')) else prompt
        yield Row(text.replace("\\n", "\n"), "code", "en", name)


SELF_INSTRUCT = ("yizhongw/self-instruct", "0b26ccaa415992100fa32df62d41b994cf928e23")
_T0_DIR = "data/finetuning/t0_train_50k/data_per_template/"
_T0_TEMPLATES = {
    "summarization": (
        "samsum_Summarize_",
        "samsum_Sum_up_the_following_dialogue",
        "xsum_DOC_tldr",
        "xsum_summarize_DOC",
        "xsum_article_DOC_summary",
        "cnn_dailymail_3_0_0_sum_in_brief",
        "cnn_dailymail_3_0_0_tldr_summary",
        "gigaword_generate_summary_for_this",
    ),
    "extraction": (
        "quoref_Find_Answer",
        "quoref_Read_And_Extract_",
        "quoref_Answer_Question_Given_Context",
    ),
    "creative": (
        "samsum_Write_a_dialogue_that_match_this_summary",
        "gigaword_write_an_article",
        "cnn_dailymail_3_0_0_generate_story",
        "common_gen_Given_concepts_type_1",
    ),
}

# self-instruct's 175 human-written seed tasks, labelled by us by their instruction (seed number
# -> pattern); seeds that fit no pattern clearly are left out.
_SEED_PATTERNS = {
    "creative": (
        2,
        4,
        8,
        18,
        20,
        29,
        46,
        47,
        49,
        55,
        56,
        57,
        59,
        63,
        74,
        76,
        79,
        84,
        86,
        87,
        89,
        93,
        96,
        97,
        98,
        100,
        112,
        119,
        123,
        124,
        129,
    ),
    "code": (28, 31, 37, 41, 50, 61, 69, 72, 138, 139, 140, 141, 158),
    "math": (21, 22, 25, 35, 45, 83, 109, 110, 136, 144, 164),
    "general": (
        0,
        6,
        9,
        10,
        11,
        17,
        23,
        24,
        30,
        33,
        34,
        40,
        52,
        70,
        71,
        80,
        81,
        91,
        116,
        121,
        125,
        127,
        131,
        145,
    ),
    "factual": (7, 48, 60, 88, 92, 95, 103, 107, 111, 128, 143, 147, 160, 161),
    "analysis": (3, 12, 19, 27, 54, 73, 82, 94, 102, 104, 118, 122, 130, 133, 142, 153, 155),
    "extraction": (13, 26, 39, 53, 78, 85, 135, 148, 151, 154, 156, 157, 159, 165, 166, 169, 172),
    "summarization": (62, 64, 137),
    "translation": (101, 117),
}
_SEED_BY_NUMBER = {n: p for p, numbers in _SEED_PATTERNS.items() for n in numbers}


def _self_instruct_seeds(raw: bytes, name: str) -> Iterator[Row]:
    for item in _jsonl(raw):
        pattern = _SEED_BY_NUMBER.get(int(str(item["id"]).rsplit("_", 1)[1]))
        if pattern is None:
            continue
        instances = item["instances"]
        first = instances[0] if isinstance(instances, list) and instances else {}
        text = str(item["instruction"])
        if isinstance(first, dict) and first.get("input"):
            text = f"{text}\n{first['input']}"
        yield Row(text, pattern, "en", name)


_MGSM_LANGS = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")

SOURCES: tuple[Source, ...] = (
    Source(
        "gsm8k-train",
        "openai/grade-school-math",
        "3101c7d5072418e28b9008a6636bde82a006892c",
        "grade_school_math/data/train.jsonl",
        "MIT",
        "train",
        _gsm8k,
    ),
    Source(
        "humaneval",
        "openai/human-eval",
        "6d43fb980f9fee3c892a914eda09951f772ad10d",
        "data/HumanEval.jsonl.gz",
        "MIT",
        "train",
        _humaneval,
    ),
    Source(
        "belle-eval-zh",
        "LianjiaTech/BELLE",
        "645084d36454cdeb4e7f1ce9b2f3426bac39f1f9",
        "eval/eval_set.json",
        "ODC-By (DATA_LICENSE)",
        "train",
        _belle,
    ),
    *(
        Source(
            f"t0-{template}",
            *SELF_INSTRUCT,
            f"{_T0_DIR}{template}.jsonl",
            "Apache-2.0 (self-instruct repo; P3 templates Apache-2.0)",
            "train",
            _t0(pattern),
        )
        for pattern, templates in _T0_TEMPLATES.items()
        for template in templates
    ),
    Source(
        "self-instruct-seeds",
        *SELF_INSTRUCT,
        "data/seed_tasks.jsonl",
        "Apache-2.0",
        "train",
        _self_instruct_seeds,
    ),
    # Held out: never trained on, only measured.
    *(
        Source(
            f"mgsm-{lang}",
            "NJUNLP/SkipLayerCD",
            "72df5e5d6e5095c6db6e0aaad25c1fead84e8995",
            f"data/mgsm/mgsm_{lang}.tsv",
            "CC BY-SA 4.0 (MGSM)",
            "heldout",
            _mgsm(lang),
        )
        for lang in _MGSM_LANGS
    ),
    Source(
        "japanese-mt-bench",
        "Stability-AI/FastChat",
        "e37eb28ee490480f6f4989274ed47c55f7dfce82",
        "fastchat/llm_judge/data/japanese_mt_bench/question.jsonl",
        "Apache-2.0",
        "heldout",
        _mt_bench("ja"),
    ),
    Source(
        "mbpp-routerbench-train",
        "evaldata",
        "RouterDC 0e63989c5bf4363330b8a4616386e3f7f116d9f8",
        "routerbench_subset/mbpp_train.csv",
        "CC BY 4.0 (MBPP)",
        "heldout",
        _routerbench_mbpp,
    ),
    Source(
        "mbpp-routerbench-test",
        "evaldata",
        "RouterDC 0e63989c5bf4363330b8a4616386e3f7f116d9f8",
        "routerbench_subset/mbpp_test.csv",
        "CC BY 4.0 (MBPP)",
        "heldout",
        _routerbench_mbpp,
    ),
)


def read_source(source: Source, mirrors: Path, evaldata: Path) -> list[Row]:
    if source.repo == "evaldata":
        raw = (evaldata / source.path).read_bytes()
    else:
        raw = git_file(mirrors, source.repo, source.commit, source.path)
    return list(source.read(raw, source.name))
