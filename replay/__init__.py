"""Replay evaluation: stream public per-prompt outcomes through the production routing code.

Each prompt is classified by `shared.routing.classifier`, routed by
`shared.routing.policy`, and the routed model's recorded outcome becomes feedback; every K
requests the learner service's own retrain step (`shared.routing.retrain`) retrains the
overrides from that feedback alone. Nothing else of the dataset reaches the router: not the
outcomes of the prompt being routed, not its benchmark or subject name. See docs/replay.md.

Modules: `records` (format and replay catalog), `datasets` (one adapter per dataset),
`simulate` (the online loop), `metrics` (baselines and summaries), `report` (JSON and plot),
`cli` (the `optimizer replay` entry point).
"""
