"""Evaluation during training: schedules the evaluator (CE every n steps and at the end), selects the
step, ranks with its weights at the end, and logs; it measures nothing itself. Under data
parallelism every rank evaluates (each encodes its share, all score the gathered embeddings), so
all ranks keep the same history and selection; rank 0 alone writes the selected weights and logs."""
from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from dense_scaling.metrics import ContrastiveEntropyResult
from dense_scaling.evaluation.evaluator import Evaluator
from dense_scaling.results import RANKING_METRICS, CEPart, RankingPart, atomic_open

PROTOCOLS = ("test-best", "val-selected")


def _measures(record: dict) -> dict[str, float]:
    """The ranking metrics measured at an evaluation (none unless it ranked)."""
    return {name: value for name, value in (record.get("ranking") or {}).items() if name in RANKING_METRICS}


class EvaluationCallback(L.Callback):
    """Contrastive entropy on the test split (and a validation split) every ``every_n_steps`` and
    at the end of training; keeps the weights of the selected step in one file under
    ``weights_dir`` (``selected-<step>.pt``, not in the checkpoints); ranks with them at the end.

    ``protocol="test-best"`` (the paper's) selects the step with the best test CE;
    ``"val-selected"`` selects on validation CE, so the reported test CE is not chosen on test.
    ``ranking_every_eval`` also ranks at every evaluation (CE against ranking metrics across the
    checkpoints of one run, the paper's Fig. 2), at the cost of encoding the subcorpus each time.
    """

    def __init__(
        self,
        test: Evaluator,
        val: Evaluator | None = None,
        every_n_steps: int = 100,
        protocol: str = "test-best",
        ranking: bool = True,
        ranking_every_eval: bool = False,
        *,
        weights_dir: str | Path,
    ):
        if protocol not in PROTOCOLS:
            raise ValueError(f"eval.protocol '{protocol}' is not one of: {', '.join(PROTOCOLS)}")
        if protocol == "val-selected" and val is None:
            raise ValueError("eval.protocol=val-selected needs a validation split: set data.val_queries > 0")
        self.test, self.val, self.every_n_steps = test, val, every_n_steps
        self.protocol, self.with_ranking, self.ranking_every_eval = protocol, ranking, ranking_every_eval
        self.history: list[dict] = []
        self.selected: dict | None = None
        self.ranking: dict | None = None
        self.weights_dir = Path(weights_dir)
        self._checkpointed: list[int] = []  # the selected steps of the last two checkpoints (last, previous)

    def _evaluate(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        context = trainer.precision_plugin.forward_context
        test = self.test.contrastive_entropy(module.model, context)
        record = {"step": trainer.global_step, "test": test, "val": None, "ranking": None}
        if self.val is not None:
            record["val"] = self.val.contrastive_entropy(module.model, context).mean
        if self.ranking_every_eval:
            record["ranking"] = self.test.ranking(module.model, context)[0].as_dict()
        # every rank scored the same embeddings; rank 0's record rules, so that no difference in
        # the last bits (another thread count) can make ranks select differently and part at a barrier
        record = trainer.strategy.broadcast(record, src=0)
        self.history.append(record)
        if trainer.logger:
            metrics = {"test/ce": test.mean} | ({"val/ce": record["val"]} if self.val else {})
            metrics |= {f"test/{name}": value for name, value in _measures(record).items()}
            trainer.logger.log_metrics(metrics, step=trainer.global_step)
        if self.selected is None or self._criterion(record) < self._criterion(self.selected):
            self.selected = record
            self._save_selected(trainer, module.model, record["step"])

    def _weights_file(self, step: int) -> Path:
        return self.weights_dir / f"selected-{step}.pt"

    def _save_selected(self, trainer: L.Trainer, model: torch.nn.Module, step: int) -> None:
        """Rank 0 writes the selected step's weights (atomically) and drops the files no checkpoint
        refers to: the weights are on disk once, beside (not inside) the training checkpoints. The
        other ranks wait for the file (they read it back to rank at the end)."""
        if trainer.is_global_zero:
            with atomic_open(self._weights_file(step), "wb") as file:
                torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, file)
            keep = {self._weights_file(s) for s in (step, *self._checkpointed)}
            for stale in set(self.weights_dir.glob("selected-*.pt")) - keep:
                stale.unlink(missing_ok=True)
        trainer.strategy.barrier("selected weights written")

    def _criterion(self, record: dict) -> float:
        return record["val"] if self.protocol == "val-selected" else record["test"].mean

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.every_n_steps and step % self.every_n_steps == 0 and step < trainer.max_steps:
            self._evaluate(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        if not self.history or self.history[-1]["step"] != trainer.global_step:
            self._evaluate(trainer, module)
        if self.selected["step"] != trainer.global_step:  # else the model holds the selected weights already
            module.model.load_state_dict(
                torch.load(self._weights_file(self.selected["step"]), map_location="cpu", weights_only=True))
        if self.with_ranking:  # the selected step's ranking, unless it was measured at that evaluation
            self.ranking = self.selected.get("ranking") or self.test.ranking(
                module.model, trainer.precision_plugin.forward_context)[0].as_dict()

    def state_dict(self) -> dict:
        """The history and which record is selected, as tensors and plain values (a checkpoint keeps
        them and loads with ``weights_only=True``); the selected weights stay in their own file."""
        records = [{**r, "test": {"mean": r["test"].mean, "per_pair": torch.from_numpy(r["test"].per_pair),
                                   "ci95": list(r["test"].ci95)}} for r in self.history]
        selected = next((i for i, r in enumerate(self.history) if r is self.selected), None)
        if selected is not None:
            self._checkpointed = [self.selected["step"], *self._checkpointed][:2]
        return {"history": records, "selected": selected}

    def load_state_dict(self, state: dict) -> None:
        self.history = [{**r, "test": ContrastiveEntropyResult(r["test"]["mean"], r["test"]["per_pair"].numpy(),
                                                               tuple(r["test"]["ci95"]))} for r in state["history"]]
        self.selected = None if state["selected"] is None else self.history[state["selected"]]
        self._checkpointed = [] if self.selected is None else [self.selected["step"]]

    def results(self) -> dict:
        """The ``protocol``, ``ce`` and ``ranking`` fields of a :class:`RunResults` (docs/results.md)."""
        final, selected = self.history[-1], self.selected
        best = min(self.history, key=lambda r: r["test"].mean)
        val_records = [r for r in self.history if r["val"] is not None]
        val_best = min(val_records, key=lambda r: r["val"]) if val_records else None
        ce = CEPart(
            reported=selected["test"].mean, reported_step=selected["step"], reported_ci95=list(selected["test"].ci95),
            best=best["test"].mean, best_step=best["step"], best_ci95=list(best["test"].ci95),
            final=final["test"].mean, final_ci95=list(final["test"].ci95),
            val_best=val_best["val"] if val_best else None, val_best_step=val_best["step"] if val_best else None,
            **self.test.describe(),
            history=[[r["step"], r["test"].mean] + ([r["val"]] if r["val"] is not None else []) for r in self.history],
        )
        ranking = None
        if self.ranking is not None:
            history = [{"step": r["step"], "ce": r["test"].mean, **_measures(r)} for r in self.history] \
                if self.ranking_every_eval else None
            ranking = RankingPart.from_json({**self.ranking, "subcorpus_size": len(self.test.subcorpus),
                                             "top_k": self.test.top_k, "step": selected["step"], "history": history})
        return {"protocol": self.protocol, "ce": ce, "ranking": ranking}
