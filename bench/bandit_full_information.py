"""What the bandit's quality model can tell apart, given every outcome: a dev-split ceiling.

    PYTHONPATH=. python bench/bandit_full_information.py --dataset routerbench --seeds 0 1 2 3 4
    PYTHONPATH=. python bench/bandit_full_information.py --dataset gsm8k --extra category

Per seed, the dev split of the replay (`replay.dev_split`: by default the one cut, the streamed
70%'s first 70% streamed and its last 30% scored; `--dev-folds K` the fold rotation, seed s
scoring fold s; the held-out split is never read). Every model's
outcome on every streamed prompt goes through the production retrain step
(`retrain.retrain_quality_model`, every `--retrain-every` prompts, in stream order): no bandit
feedback, no exploration. Then, on the scored prompts: the log loss of every model's predicted
quality against its outcome, the greedy rule at the default target (`chooser.choose` without a
budget: the replay's final policy) as quality / cost over the reference's, and for two-model
data APGR along the predicted ratio. This bounds what a context can carry: a stream replay
learns from far fewer outcomes.

`--extra` appends numbers to the context of every prompt (each gets its own weight in the
shared block and in every model's block, prior sd `--extra-sd`):
- `category`: a one-hot of the dataset's category label (`ReplayRecord.group`). A diagnostic
  only: the label is never shown to the router. How much knowing the prompt's kind is worth.
- `directions`: the embedding's whitened principal directions (of the training prompts) after
  the context's 32, up to `--directions` (e.g. with `--extra-sd 0.001 0.2`: only in every
  model's own block);
- `clusters`: the memberships of the prompt in the k-means clusters of `--clusters PATH`
  (fitted on training prompt texts only, `training.bandit_clusters`).
Contexts are cached per dataset in `--cache` (delete it when the classifier changes).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from replay import curves
from replay.bandit_loop import BanditReplayConfig, Contexts
from replay.cli import DEFAULT_EVALDATA
from replay.datasets import load
from replay.dev_split import DevSplit, splits
from replay.records import ReplayDataset, ReplayRecord, replay_catalog
from shared.routing.bandit.chooser import choose
from shared.routing.bandit.context import CONTEXT_SIZE, CONTEXT_VERSION, EMBEDDING_SLICE
from shared.routing.bandit.cost_weight import CostWeights
from shared.routing.bandit.outcomes import Outcome, outcome_value
from shared.routing.bandit.params import BanditParams
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import Catalog
from shared.routing.retrain import retrain_quality_model

Matrix = npt.NDArray[np.float32]
Extra = Callable[[Sequence[ReplayRecord], Matrix, Matrix], Matrix]


def contexts(dataset: ReplayDataset, cache: Path | None) -> tuple[Matrix, Matrix]:
    """(context vectors, raw 256-d embeddings) of every record, in `dataset.records` order."""
    path = cache / f"{dataset.name}-{CONTEXT_VERSION}.npz" if cache else None
    if path is not None and path.exists():
        saved = np.load(path)
        return saved["x"], saved["embedding"]
    found = Contexts()
    xs, embeddings = [], []
    for record in dataset.records:
        classification, x = found.get(record)
        xs.append(x)
        embeddings.append(
            np.zeros(256, np.float32)
            if classification.embedding is None
            else np.asarray(classification.embedding, np.float32)
        )
    x_all, e_all = np.stack(xs), np.stack(embeddings)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, x=x_all, embedding=e_all)
    return x_all, e_all


def category_extra(records: Sequence[ReplayRecord], x: Matrix, embedding: Matrix) -> Matrix:
    labels = sorted({r.group for r in records})
    out = np.zeros((len(records), len(labels)), np.float32)
    for row, record in enumerate(records):
        out[row, labels.index(record.group)] = 1.0
    return out


def direction_extra(embedding: Matrix, stop: int, cache: Path) -> Matrix:
    """Whitened principal directions PROJECTION_DIMS..stop of the training prompts' embedding
    (the ones the shipped projection leaves out), clipped at 6 sd as the context's are."""
    from training.bandit_clusters import training_points

    points = training_points("embedding", cache / "training_embeddings.npz")
    mean = points.mean(axis=0)
    _, singular, directions = np.linalg.svd(points - mean, full_matrices=False)
    sd = singular / np.sqrt(len(points) - 1)
    start = EMBEDDING_SLICE.stop - EMBEDDING_SLICE.start
    basis = directions[start:stop] / sd[start:stop, None]
    out = np.clip((embedding.astype(np.float64) - mean) @ basis.T, -6.0, 6.0)
    out[~np.any(embedding != 0, axis=1)] = 0.0
    return out.astype(np.float32)


def widened(model: QualityModel, extra: int, var_shared: float, var_model: float) -> QualityModel:
    """`model` with `extra` more numbers at the end of every block, prior mean 0."""
    d, blocks = model.dims, len(model.model_ids) + 1

    def grow(a: npt.NDArray[np.float64], fill: list[float]) -> npt.NDArray[np.float64]:
        a = a.reshape(blocks, d)
        pad = np.repeat(np.asarray(fill)[:, None], extra, axis=1)
        return np.concatenate([a, pad], axis=1).ravel()

    prior_var = grow(model.prior_var, [var_shared] + [var_model] * (blocks - 1))
    mean = grow(model.prior_mean, [0.0] * blocks)
    return dataclasses.replace(
        model,
        mean=mean,
        prior_mean=mean.copy(),
        prior_var=prior_var,
        precision=np.diag(1.0 / prior_var),
        context_version=f"{model.context_version}+{extra}",
    )


def _log_loss(q: float, y: float) -> float:
    q = min(max(q, 1e-6), 1 - 1e-6)
    return -(y * math.log(q) + (1 - y) * math.log(1 - q))


@dataclasses.dataclass(frozen=True)
class Check:
    """What one run learns from and scores (the command line's options)."""

    params: BanditParams
    widen: Callable[[QualityModel], QualityModel]
    targets: Sequence[float] = (0.95,)
    retrain_every: int = 50
    per_group: bool = False
    stream_limit: int | None = None
    reveal: float = 1.0
    aggregate_window: int = 0  # > 0: also the aggregate rule, calibrated on the stream's tail
    dev: DevSplit = dataclasses.field(default_factory=DevSplit)


def run_seed(
    dataset: ReplayDataset, catalog: Catalog, x_of: dict[str, Matrix], seed: int, check: Check
) -> dict[str, float]:
    """One seed's dev split: learn from the streamed prompts' outcomes, score the rest."""
    params, targets, retrain_every, reveal = (
        check.params, check.targets, check.retrain_every, check.reveal,
    )  # fmt: skip
    config = BanditReplayConfig(seed=seed, params=params)
    ((stream, scored),) = splits(dataset, seed, config.holdout, None, check.dev)
    stream = stream[: check.stream_limit] if check.stream_limit else stream
    model = check.widen(QualityModel.prior(catalog, params))
    revealer = random.Random(seed + 11)
    for start in range(0, len(stream), retrain_every):
        outcomes = []
        for record in stream[start : start + retrain_every]:
            for m in dataset.models:
                if reveal < 1.0 and revealer.random() >= reveal:
                    continue
                y = outcome_value(*dataset.feedback(record.quality[m]))
                if y is not None:
                    outcomes.append(Outcome(m, x_of[record.uid], y))
        model = retrain_quality_model(model, outcomes)
    losses: list[float] = []
    chosen: dict[float, list[str]] = {t: [] for t in targets}
    candidates = [catalog.get(m) for m in dataset.models]
    baseline_model = catalog.get(dataset.reference_model)
    rng = random.Random(seed)
    for record in scored:
        x = x_of[record.uid]
        quality, _ = model.predict(list(dataset.models), x)
        for m, q in zip(dataset.models, quality, strict=True):
            y = outcome_value(*dataset.feedback(record.quality[m]))
            if y is not None:
                losses.append(_log_loss(float(q), y))
        tokens = record.prompt_tokens
        costs = {c.id: c.cost(tokens, 512) for c in candidates}
        for target in targets:
            choice = choose(
                candidates, model, x, target, rng, None, costs=costs,
                baseline_cost=baseline_model.cost(tokens, 512), params=params,
            )  # fmt: skip
            chosen[target].append(choice.model_id)
    ref = dataset.reference_model
    out = {"log_loss": statistics.fmean(losses)}
    for target in targets:
        point = curves.relative(scored, chosen[target], ref)
        out[f"greedy {target} quality"] = point["quality_vs_best"]
        out[f"greedy {target} cost"] = point["cost_vs_best"]
    if check.aggregate_window:
        for target, point in aggregate_rule(dataset, catalog, model, x_of, stream, scored, check):
            out[f"aggregate {target} quality"] = point["quality_vs_best"]
            out[f"aggregate {target} cost"] = point["cost_vs_best"]
    if check.per_group:
        main_target = targets[-1]
        for group in sorted({r.group for r in scored}):
            rows = [i for i, r in enumerate(scored) if r.group == group]
            picks = [chosen[main_target][i] for i in rows]
            point = curves.relative([scored[i] for i in rows], picks, ref)
            out[f"{group[:14]} q"] = point["quality_vs_best"]
            out[f"{group[:14]} c"] = point["cost_vs_best"]
            top = max(set(picks), key=picks.count)
            out[f"{group[:14]} top share"] = picks.count(top) / len(picks)
    fixed = curves.fixed_curve(dataset, stream, scored, lambda r: r.group, targets)
    for target, point in zip(targets, fixed, strict=True):
        out[f"category {target} quality"] = point["quality_vs_best"]
        out[f"category {target} cost"] = point["cost_vs_best"]
    if len(dataset.models) == 2:
        weak = next(m for m in dataset.models if m != ref)
        ratios = []
        for record in scored:
            q, _ = model.predict([weak, ref], x_of[record.uid])
            ratios.append(q[0] / max(q[1], 1e-9))
        share, pgr = curves.two_model_curve(
            scored, weak, ref, [int(i) for i in np.argsort(ratios, kind="stable")]
        )
        out["apgr"] = curves.apgr(pgr)
        out["cpt50"] = curves.cpt(share, pgr, 0.5)
    return out


def aggregate_rule(
    dataset: ReplayDataset,
    catalog: Catalog,
    model: QualityModel,
    x_of: dict[str, Matrix],
    stream: Sequence[ReplayRecord],
    scored: Sequence[ReplayRecord],
    check: Check,
) -> list[tuple[float, dict[str, float]]]:
    """The aggregate rule (`cost_weight`) at each target: its window filled by the final model's
    greedy decisions on the last `aggregate_window` streamed prompts (a router's recent traffic),
    then the scored prompts routed with the weights solved on it."""
    candidates = [catalog.get(m) for m in dataset.models]
    reference = catalog.get(dataset.reference_model)
    weights = CostWeights(check.aggregate_window, 50)
    rng = random.Random(0)

    def route(record: ReplayRecord, target: float, record_it: bool) -> str:
        tokens = record.prompt_tokens
        return choose(
            candidates, model, x_of[record.uid], target, rng, None,
            costs={c.id: c.cost(tokens, 512) for c in candidates},
            baseline_cost=reference.cost(tokens, 512), params=check.params, weights=weights,
            record=record_it,
        ).model_id  # fmt: skip

    for record in stream[-check.aggregate_window :]:
        route(record, check.params.quality_target, True)
    return [
        (t, curves.relative(scored, [route(r, t, False) for r in scored], dataset.reference_model))
        for t in check.targets
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--dataset", required=True)
    p.add_argument("--evaldata", type=Path, default=DEFAULT_EVALDATA)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--retrain-every", type=int, default=50)
    p.add_argument(
        "--targets", type=float, nargs="+", default=[0.95], help="the greedy rule's quality targets"
    )
    p.add_argument(
        "--extra", choices=("none", "category", "clusters", "directions"), default="none"
    )
    p.add_argument(
        "--directions", type=int, default=64, help="with --extra directions: up to this many"
    )
    p.add_argument("--clusters", type=Path, help="with --extra clusters: a centroid file")
    p.add_argument("--extra-sd", type=float, nargs=2, default=(1.0, 1.0), metavar=("SHARED", "OWN"))
    p.add_argument("--cache", type=Path, default=Path("/tmp/bandit_full_information"))
    p.add_argument("--label", default="")
    numeric = (
        ("--stream-limit", int, None, "learn from the first N streamed prompts only"),
        ("--aggregate-window", int, 0,
         "also the aggregate rule, its weight solved on the last N streamed prompts"),
        ("--dev-folds", int, 0,
         "the fold-rotation dev split (`replay.dev_split`; seed s scores fold s) instead"),
        ("--reveal", float, 1.0,
         "reveal each (streamed prompt, model) outcome with probability N (seeded)"),
    )  # fmt: skip
    for flag, kind, default, text in numeric:
        p.add_argument(flag, type=kind, default=default, metavar="N", help=text)
    p.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE",
        help="override a BanditParams field (prior sds, memory, target_slack, ...)",
    )  # fmt: skip
    p.add_argument(
        "--per-group", action="store_true", help="the last target's choices per category"
    )
    args = p.parse_args(argv)
    dataset = load(args.dataset, args.evaldata)
    catalog = replay_catalog(dataset, 512)
    overrides = dict(item.split("=", 1) for item in args.param)
    params = dataclasses.replace(
        BanditParams(),
        **{k: type(getattr(BanditParams(), k))(float(v)) for k, v in overrides.items()},
    )
    x, embedding = contexts(dataset, args.cache)
    extra = np.zeros((len(dataset.records), 0), np.float32)
    if args.extra == "category":
        extra = category_extra(dataset.records, x, embedding)
    elif args.extra == "clusters":
        from training.bandit_clusters import memberships_from_file

        extra = memberships_from_file(args.clusters, x, embedding)
    elif args.extra == "directions":
        extra = direction_extra(embedding, args.directions, args.cache)
    full = np.concatenate([x, extra], axis=1)
    x_of = {r.uid: full[i] for i, r in enumerate(dataset.records)}
    k = extra.shape[1]
    sd_shared, sd_own = args.extra_sd

    def widen(model: QualityModel) -> QualityModel:
        return widened(model, k, sd_shared**2, sd_own**2) if k else model

    started = time.process_time()
    check = Check(
        params, widen, args.targets, args.retrain_every, args.per_group, args.stream_limit,
        args.reveal, args.aggregate_window, DevSplit(args.dev_folds),
    )  # fmt: skip
    rows = [run_seed(dataset, catalog, x_of, s, check) for s in args.seeds]
    keys = list(rows[0])
    label = args.label or f"{args.extra}{k or ''} reveal {args.reveal} {' '.join(args.param)}"
    print(f"{args.dataset} {label} ({CONTEXT_SIZE}+{k} numbers), seeds {args.seeds}, "
          f"{time.process_time() - started:.0f} s CPU")  # fmt: skip
    for key in keys:
        values = [r[key] for r in rows]
        print(f"  {key:26s} mean {statistics.fmean(values):.4f}  per seed "
              + " ".join(f"{v:.4f}" for v in values))  # fmt: skip
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
