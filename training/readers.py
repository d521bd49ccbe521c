"""How each public source's file becomes labelled rows (`Row`): one reader per file format.

A reader gets the file's bytes and the source's name and yields rows; the table of sources with
their origin and licence is `training.sources`.
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

Reader = Callable[[bytes, str], Iterator["Row"]]


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    pattern: str
    lang: str
    source: str


def git_file(mirrors: Path, repo: str, commit: str, path: str) -> bytes:
    """A file of a bare git mirror at a commit (`git show COMMIT:PATH`)."""
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


def every(step: int, reader: Reader) -> Reader:
    """Every `step`-th row of `reader` (a fixed, even sample of a large file)."""

    def read(raw: bytes, name: str) -> Iterator[Row]:
        for index, row in enumerate(reader(raw, name)):
            if index % step == 0:
                yield row

    return read


def humaneval(raw: bytes, name: str) -> Iterator[Row]:
    for item in _jsonl(gzip.decompress(raw)):
        yield Row(str(item["prompt"]), "code", "en", name)


def humaneval_xl(lang: str) -> Reader:
    """HumanEval-XL: HumanEval's problems with their docstrings in another natural language."""

    def read(raw: bytes, name: str) -> Iterator[Row]:
        for item in _jsonl(raw):
            yield Row(str(item["prompt"]), "code", lang, name)

    return read


def humaneval_xl_description(lang: str) -> Reader:
    """HumanEval-XL's problem statements alone, without the code stub: coding asks in words."""

    def read(raw: bytes, name: str) -> Iterator[Row]:
        for item in _jsonl(raw):
            yield Row(str(item["description"]), "code", lang, name)

    return read


def conala(lang: str) -> Reader:
    """(M)CoNaLa: programming questions from Stack Overflow, as asked and as rewritten."""

    def read(raw: bytes, name: str) -> Iterator[Row]:
        for item in json.loads(raw):
            for key in ("intent", "rewritten_intent"):
                if item.get(key):
                    yield Row(str(item[key]), "code", lang, name)

    return read


def aqua(raw: bytes, name: str) -> Iterator[Row]:
    """AQuA-RAT algebra word problems, with their answer options as posed."""
    for item in _jsonl(raw):
        options = item.get("options")
        tail = "\n" + "  ".join(map(str, options)) if isinstance(options, list) else ""
        yield Row(f"{item['question']}{tail}", "math", "en", name)


def xquad(lang: str) -> Reader:
    """XQuAD questions alone (without their paragraph): questions of fact, in 12 languages."""

    def read(raw: bytes, name: str) -> Iterator[Row]:
        for article in json.loads(raw)["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    yield Row(str(qa["question"]), "factual", lang, name)

    return read


# Translation requests are built by us from XQuAD's questions (no public, permissively licensed
# set of translation requests was found): a fixed phrasing per language, asking for English, or
# from English into a rotating target language.
_TO_ENGLISH = {
    "es": "Traduce al inglés: {}",
    "de": "Übersetze ins Englische: {}",
    "ru": "Переведи на английский: {}",
    "zh": "翻译成英文\uff1a{}",
    "tr": "İngilizceye çevir: {}",
    "vi": "Dịch sang tiếng Anh: {}",
}
_FROM_ENGLISH = (
    "Translate into {}: {}",
    "Translate the following sentence into {}.\n{}",
    'How do you say "{1}" in {0}?',
)
_TARGETS = ("French", "German", "Spanish", "Italian", "Japanese", "Chinese", "Russian")


def translation_requests(lang: str) -> Reader:
    def read(raw: bytes, name: str) -> Iterator[Row]:
        questions = [row.text for row in xquad(lang)(raw, name)]
        for index, question in enumerate(questions[4::25]):
            if lang == "en":
                phrasing = _FROM_ENGLISH[index % len(_FROM_ENGLISH)]
                text = phrasing.format(_TARGETS[index % len(_TARGETS)], question)
            else:
                text = _TO_ENGLISH[lang].format(question)
            yield Row(text, "translation", lang, name)

    return read


# IFEval prompts are labelled by us by how they open: a request to write (creative writing in
# our patterns) or to summarise; the rest (explain, describe, questions) is left out.
_WRITE = {
    "en": ("write", "compose", "draft", "create a story", "create a poem"),
    "es": ("escribe", "escriba", "redacta", "redacte", "compón", "componga"),
    "fr": ("écris", "écrivez", "rédige", "rédigez", "compose", "composez"),
    "ja": ("書いて", "作成して", "創作"),
}
_SUMMARISE = {"en": ("summar",), "es": ("resum",), "fr": ("résum",), "ja": ("要約",)}


def ifeval(lang: str) -> Reader:
    def read(raw: bytes, name: str) -> Iterator[Row]:
        for item in _jsonl(raw):
            text = str(item["prompt"])
            head = text[:80].lower()
            if any(cue in head for cue in _SUMMARISE[lang]):
                yield Row(text, "summarization", lang, name)
            elif lang == "ja":
                if any(cue in text for cue in _WRITE[lang]):
                    yield Row(text, "creative", lang, name)
            elif head.startswith(_WRITE[lang]):
                yield Row(text, "creative", lang, name)

    return read


def msvamp(lang: str) -> Reader:
    """MSVAMP: SVAMP's word problems translated (`m_query`; English files have `query`)."""

    def read(raw: bytes, name: str) -> Iterator[Row]:
        for item in _jsonl(raw):
            text = item.get("m_query") or item["query"]
            yield Row(str(text), "math", lang, name)

    return read


def mgsm(lang: str) -> Reader:
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


def belle(raw: bytes, name: str) -> Iterator[Row]:
    for item in _jsonl(raw):
        label = str(item["class"]).replace("\xa0", " ")
        yield Row(str(item["question"]), _BELLE[label], "zh", name)


# MT-Bench categories with one clear pattern (the probe set is code / math / creative writing).
_MT_BENCH = {"writing": "creative", "roleplay": "creative", "math": "math", "coding": "code"}


def mt_bench(lang: str) -> Reader:
    def read(raw: bytes, name: str) -> Iterator[Row]:
        for item in _jsonl(raw):
            pattern = _MT_BENCH.get(str(item["category"]))
            turns = item["turns"]
            if pattern and isinstance(turns, list):
                yield Row(str(turns[0]), pattern, lang, name)

    return read


# WritingBench "Literature & Arts" queries that ask for creative writing (reviews, analyses and
# biographies are left out: they are analysis or factual writing).
_WRITING_KINDS = {
    "Plot Development",
    "Screenplay",
    "Prose",
    "Novel Manuscript",
    "Poetry",
    "Greeting Message",
    "Host Script",
    "Podcast Script",
    "Fan Fiction",
    "Derivative Work",
    "Novel Outline",
    "Character Design",
    "Video Script",
}


def writingbench(raw: bytes, name: str) -> Iterator[Row]:
    for item in _jsonl(raw):
        if item["domain1"] == "Literature & Arts" and item["domain2"] in _WRITING_KINDS:
            text = str(item["query"])
            cjk = sum("\u4e00" <= c <= "\u9fff" for c in text[:400])
            yield Row(text, "creative", "zh" if cjk > 20 else "en", name)


def t0(pattern: str) -> Reader:
    def read(raw: bytes, name: str) -> Iterator[Row]:
        for index, item in enumerate(_jsonl(raw)):
            if index < 150:  # a template's rows repeat its wording: a few teach it
                yield Row(str(item["prompt"]).strip(), pattern, "en", name)

    return read


def routerbench_mbpp(raw: bytes, name: str) -> Iterator[Row]:
    for item in csv.DictReader(io.StringIO(raw.decode("utf-8"))):
        prompt = item["prompt"]
        # A python list literal of one string; the list brackets are RouterBench's wrapping.
        text = prompt[2:-2] if prompt.startswith(("['", '["')) else prompt
        yield Row(text.replace("\\n", "\n"), "code", "en", name)


# self-instruct's 175 human-written seed tasks, labelled by us by their instruction (seed number
# -> pattern); seeds that fit no pattern clearly are left out.
_SEED_PATTERNS = {
    "creative": "2 4 8 18 20 29 46 47 49 55 56 57 59 63 74 76 79 84 86 87 89 93 96 97 98 100 112 "
    "119 123 124 129",
    "code": "28 31 37 41 50 61 69 72 138 139 140 141 158",
    "math": "21 22 25 35 45 83 109 110 136 144 164",
    "general": "0 6 9 10 11 17 23 24 30 33 34 40 52 70 71 80 81 91 116 121 125 127 131 145",
    "factual": "7 48 60 88 92 95 103 107 111 128 143 147 160 161",
    "analysis": "3 12 19 27 54 73 82 94 102 104 118 122 130 133 142 153 155",
    "extraction": "13 26 39 53 78 85 135 148 151 154 156 157 159 165 166 169 172",
    "summarization": "62 64 137",
    "translation": "101 117",
}
_SEED_BY_NUMBER = {int(n): p for p, numbers in _SEED_PATTERNS.items() for n in numbers.split()}


def self_instruct_seeds(raw: bytes, name: str) -> Iterator[Row]:
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


def authored(lang: str) -> Reader:
    """The project's own prompts (training/data/authored/<lang>.txt): a `## pattern` line opens
    a section, then one prompt per line, `\\n` standing for a line break inside a prompt;
    blank lines and `#` comments are skipped."""

    def read(raw: bytes, name: str) -> Iterator[Row]:
        pattern = ""
        for line in raw.decode("utf-8").splitlines():
            if line.startswith("## "):
                pattern = line[3:].strip()
            elif line.strip() and not line.startswith("#"):
                if not pattern:
                    raise ValueError(f"{name}: a prompt before any `## pattern` line")
                yield Row(line.strip().replace("\\n", "\n"), pattern, lang, name)

    return read
