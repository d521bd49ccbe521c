"""The prompt-model artifact rebuilds byte-identical from its one command, offline."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np

from shared.routing.embedder import get_embedder
from shared.routing.features import prompt_features
from shared.routing.prompt_model import PromptModel, load_model
from training.assemble import DATA, read_jsonl_gz, write_jsonl_gz

FIXTURE = {
    "code": [
        "Write a Python function that reverses a string.",
        "Fix this bug: def add(a, b): return a - b",
        "Implement quicksort in JavaScript.",
    ],
    "math": [
        "Solve for x: 2x + 3 = 11.",
        "A train travels 60 km in 1.5 hours. What is its average speed?",
        "What is the derivative of x^3 + 2x?",
    ],
    "creative": [
        "Write a haiku about the first snow.",
        "Tell a short story about a dragon who is afraid of the dark.",
        "Escribe un poema sobre el mar.",
    ],
}


def _write_fixture(folder: Path) -> None:
    folder.mkdir()
    rows = [
        {"text": text, "pattern": pattern, "lang": "en", "source": "fixture"}
        for pattern, texts in FIXTURE.items()
        for text in texts
    ]
    write_jsonl_gz(folder / "train.jsonl.gz", rows)
    hard = [
        {"text": r["text"], "failure_share": (i % 3) / 2, "source": "fixture", "split": "fit"}
        for i, r in enumerate(rows)
    ]
    write_jsonl_gz(folder / "difficulty.jsonl.gz", hard)


def _rebuild(data: Path, out: Path) -> bytes:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "training.train", "--min-rows", "1"),
            *("--data", str(data), "--out", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return out.read_bytes()


def test_rebuild_is_byte_identical_and_loads(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _write_fixture(data)
    first = _rebuild(data, tmp_path / "first.json.gz")
    second = _rebuild(data, tmp_path / "second.json.gz")
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()
    model = PromptModel.from_bytes(first)
    assert model.patterns == ("code", "math", "creative")
    features = prompt_features(get_embedder(), "Write a Python function that reverses a string.")
    prediction = model.predict(features)
    assert model.patterns[int(np.argmax(prediction.probabilities))] == "code"
    assert abs(float(prediction.probabilities.sum()) - 1.0) < 1e-5


def test_shipped_artifact_matches_the_committed_data() -> None:
    # The artifact records the hash of the data it was fitted on: a data change without a
    # rebuild (or the reverse) shows here.
    digest = hashlib.sha256()
    for name in ("train.jsonl.gz", "difficulty.jsonl.gz"):
        digest.update((DATA / name).read_bytes())
    assert load_model().document["training"]["data_sha256"] == digest.hexdigest()


def test_committed_data_has_every_source_labelled() -> None:
    rows = read_jsonl_gz(DATA / "train.jsonl.gz")
    assert rows and all({"text", "pattern", "lang", "source"} <= row.keys() for row in rows)
    sources = (DATA / "SOURCES.md").read_text()
    for source in {str(row["source"]) for row in rows}:
        assert source in sources, f"{source} is not listed in training/data/SOURCES.md"
