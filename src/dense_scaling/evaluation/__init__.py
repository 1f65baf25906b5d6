"""Evaluation as its own stage: the material of a split (material.py), built from the data, its
token cache and ``eval.seed`` alone; the scoring of any BiEncoder on it (evaluator.py, encode.py);
the Lightning callback that schedules it during training (callback.py)."""
