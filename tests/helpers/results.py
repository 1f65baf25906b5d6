"""results.json files as docs/results.md describes them, for tests of collecting and fitting."""
import json

import numpy as np

from dense_scaling.results import RESULTS_FORMAT


def write_result(folder, N, D, loss, *, annotation="human", protocol="test-best", ranking=True, replace=None):
    """Write one results.json as docs/results.md describes it (top-level keys in ``replace`` swapped in)."""
    folder.mkdir(parents=True, exist_ok=True)
    ce = float(loss)
    payload = {
        "format": RESULTS_FORMAT, "complete": True,
        "run": {"model": f"m{int(N)}", "data": "synthetic", "annotation": annotation, "seed": 0,
                "study": "test", "overrides": [f"model.N={int(N)}", f"data.num_train_pairs={int(D)}"]},
        "N": N, "N_with_projection": N + 1000, "N_total": 3 * N, "D": D, "steps": 400,
        "tokens_seen": 1000, "wall_time_s": 1.0, "protocol": protocol,
        "ce": {"reported": ce, "reported_step": 350, "reported_ci95": [ce * 0.98, ce * 1.02],
               "best": ce, "best_step": 350, "best_ci95": [ce * 0.98, ce * 1.02], "final": ce,
               "final_ci95": [ce * 0.98, ce * 1.02], "val_best": None, "val_best_step": None,
               "K": 256, "R": 10, "pool_size": 2000, "num_pairs": 2000, "history": [[350, ce]]},
        "ranking": {"map@10": float(np.exp(-ce)), "ndcg@10": float(np.exp(-0.8 * ce)),
                    "recall@1000": float(np.exp(-0.1 * ce)), "mrr@10": float(np.exp(-ce)),
                    "subcorpus_size": 2000, "num_queries": 2000, "skipped_queries": 0} if ranking else None,
        "config": {},
    }
    payload.update(replace or {})
    path = folder / "results.json"
    path.write_text(json.dumps(payload))
    return path
