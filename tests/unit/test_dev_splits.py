"""The dev splits of training.dev: deterministic, and a left-out row never reaches the fit."""

from __future__ import annotations

from typing import Any

from training.assemble import DATA, read_jsonl_gz
from training.dev import AUTHORED_LEFT_OUT, AUTHORED_SPLITS, SPLITS, partition


def _row(text: str, pattern: str, lang: str, source: str) -> dict[str, Any]:
    return {"text": text, "pattern": pattern, "lang": lang, "source": source}


def test_the_authored_languages_split_leaves_out_only_those_languages_authored_rows() -> None:
    left_out = AUTHORED_LEFT_OUT[0]
    rows = [
        _row("a", "creative", left_out, f"authored-{left_out}"),
        _row("b", "math", left_out, "msvamp-x"),  # public rows of the language stay in the fit
        _row("c", "creative", "en", "authored-en"),
        _row("d", "code", "en", "humaneval"),
    ]
    fit, dev = partition(rows, AUTHORED_SPLITS["authored-languages"])
    assert [r["text"] for r in dev] == ["a"]
    assert [r["text"] for r in fit] == ["b", "c", "d"]


def test_every_split_of_the_committed_data_is_a_partition_and_deterministic() -> None:
    rows = read_jsonl_gz(DATA / "train.jsonl.gz")
    for name, held_out in {**SPLITS, **AUTHORED_SPLITS}.items():
        fit, dev = partition(rows, held_out)
        again_fit, again_dev = partition(rows, held_out)
        assert dev and fit, name
        assert len(fit) + len(dev) == len(rows), name
        assert not {id(r) for r in fit} & {id(r) for r in dev}, name
        assert [r["text"] for r in dev] == [r["text"] for r in again_dev], name
        assert [r["text"] for r in fit] == [r["text"] for r in again_fit], name
        assert not any(held_out(r) for r in fit), name


def test_the_authored_languages_split_scores_every_authored_row_of_its_languages() -> None:
    rows = read_jsonl_gz(DATA / "train.jsonl.gz")
    _, dev = partition(rows, AUTHORED_SPLITS["authored-languages"])
    assert {r["lang"] for r in dev} == set(AUTHORED_LEFT_OUT)
    assert all(str(r["source"]).startswith("authored-") for r in dev)
    wanted = [r for r in rows if str(r["source"]) in {f"authored-{x}" for x in AUTHORED_LEFT_OUT}]
    assert len(dev) == len(wanted)
