"""How a run reports: a CSV log that survives a resume, and a progress bar in steps.

Lightning's CSVLogger deletes the metrics.csv it finds, so a resumed run lost every row logged
before the resume. This one keeps them; rows at or after the first step the resumed run logs again (logged
after the checkpoint it resumed from, before the interruption) are replaced by the new ones.
"""
from __future__ import annotations

import csv
import logging
import os

from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import _update_n
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from dense_scaling.results import atomic_open


class _ResumableWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        """Read the rows of an existing metrics.csv instead of deleting it."""
        self._earlier: list[dict[str, str]] = []
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="", encoding="utf-8") as file:
                self._earlier = list(csv.DictReader(file))

    def save(self) -> None:
        if self._earlier and self.metrics:
            first_new = min(int(m["step"]) for m in self.metrics)
            kept = [row for row in self._earlier if row.get("step") and int(float(row["step"])) < first_new]
            self._record_new_keys()
            self.metrics_keys = sorted(set(self.metrics_keys).union(*kept))
            with atomic_open(self.metrics_file_path, "w") as file:
                writer = csv.DictWriter(file, fieldnames=self.metrics_keys)  # "\r\n" rows, as Lightning's own writer
                writer.writeheader()
                writer.writerows(kept + self.metrics)
            self._earlier, self.metrics = [], []
            return
        if self.metrics:
            self._earlier = []
        super().save()


class ResumableCSVLogger(CSVLogger):
    """``lightning.pytorch.loggers.CSVLogger`` whose metrics.csv keeps the rows of earlier attempts."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ResumableWriter(log_dir=self.log_dir)
        return self._experiment


class StepProgressBar(TQDMProgressBar):
    """Training progress in optimizer steps out of ``max_steps`` (a run here has no epochs: its
    batches are an endless stream), starting where a resumed run starts."""

    def on_train_epoch_start(self, trainer, *_) -> None:
        bar = self.train_progress_bar
        bar.reset(total=trainer.max_steps)
        bar.initial = trainer.global_step
        bar.set_description("training steps")

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self._should_update(step, trainer.max_steps) or step == trainer.max_steps:
            _update_n(self.train_progress_bar, step)
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, module))


def route_to_run_log() -> None:
    """Send Lightning's messages and Python warnings through the root logger, which Hydra
    writes to the run's ``train.log`` (Lightning keeps a handler of its own when it is imported
    before logging is set up, and then bypasses the root)."""
    for name in ("lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.captureWarnings(True)
