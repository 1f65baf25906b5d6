import json
from types import SimpleNamespace

import numpy as np
import pytest
import pytrec_eval
import torch
from hydra.core.global_hydra import GlobalHydra
from dense_scaling import build
from dense_scaling.data.tokenizer import from_vocab
from dense_scaling.evaluate import evaluate
from dense_scaling.data.readers import read_qrels
from dense_scaling.metrics import read_run
from dense_scaling.model.biencoder import special_token_ids
from dense_scaling.evaluation.callback import EvaluationCallback
from dense_scaling.train import run
from tests.helpers.config import compose_config
from tests.helpers.paths import SHARED_DATA, shared_dataset


class ScriptedEvaluator:
    """Returns a scripted CE per call and records which weights it ranked with."""

    def __init__(self, values):
        self.values, self.calls = list(values), 0
        self.subcorpus, self.top_k = np.arange(3), 10

    def contrastive_entropy(self, model, context=None):
        value = self.values[self.calls]
        self.calls += 1
        return SimpleNamespace(mean=value, ci95=(value - 0.1, value + 0.1))

    def ranking(self, model, context=None):
        self.ranked_with = model.weight.item()
        means = {"map@10": 1 / self.ranked_with}
        return SimpleNamespace(means=means, as_dict=lambda: means), {}

    def describe(self):
        return {"K": 4, "R": 1, "pool_size": 10, "num_pairs": 3, "subcorpus_size": 3}


def _drive(callback, steps):
    """Evaluate at each step with the weight set to the step number, as training would."""
    module = SimpleNamespace(model=torch.nn.Linear(1, 1, bias=False))
    trainer = SimpleNamespace(is_global_zero=True, max_steps=steps[-1], logger=None,
                              precision_plugin=SimpleNamespace(forward_context=None),
                              strategy=SimpleNamespace(barrier=lambda name=None: None, broadcast=lambda obj, src=0: obj))
    for step in steps:
        trainer.global_step = step
        module.model.weight.data.fill_(step)
        if step == steps[-1]:
            callback.on_train_end(trainer, module)
        else:
            callback.on_train_batch_end(trainer, module, None, None, step)
    return module


@pytest.mark.parametrize("protocol, selected_step", [("test-best", 20), ("val-selected", 10)])
def test_selection_protocols_pick_their_step_and_rank_with_its_weights(protocol, selected_step, tmp_path):
    test, val = ScriptedEvaluator([3.0, 2.0, 2.5]), ScriptedEvaluator([1.0, 1.5, 1.2])
    callback = EvaluationCallback(test, val, every_n_steps=10, protocol=protocol, weights_dir=tmp_path)
    module = _drive(callback, [10, 20, 30])
    results = callback.results()
    ce, ranking = results["ce"], results["ranking"]
    assert results["protocol"] == protocol
    assert ce.reported_step == selected_step == test.ranked_with == module.model.weight.item()
    assert (ce.best, ce.best_step, ce.final) == (2.0, 20, 2.5)
    assert ce.val_best_step == 10
    assert ranking.step == selected_step and ranking.metrics == {"map@10": 1 / selected_step}
    assert [p.name for p in tmp_path.glob("*.pt")] == [f"selected-{selected_step}.pt"]  # earlier selections dropped


def test_ranking_at_every_evaluation_pairs_each_checkpoints_ce_with_its_metrics(tmp_path):
    test = ScriptedEvaluator([3.0, 2.0, 2.5])
    callback = EvaluationCallback(test, every_n_steps=10, ranking_every_eval=True, weights_dir=tmp_path)
    _drive(callback, [10, 20, 30])
    history = callback.results()["ranking"].history
    assert history == [{"step": 10, "ce": 3.0, "map@10": 1 / 10}, {"step": 20, "ce": 2.0, "map@10": 1 / 20},
                       {"step": 30, "ce": 2.5, "map@10": 1 / 30}]
    without = EvaluationCallback(ScriptedEvaluator([3.0, 2.0]), every_n_steps=10, weights_dir=tmp_path / "2")
    _drive(without, [10, 20])
    assert without.results()["ranking"].history is None
    assert "history" not in without.results()["ranking"].to_json()


def test_val_selected_without_a_validation_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match="data.val_queries"):
        EvaluationCallback(ScriptedEvaluator([1.0]), None, protocol="val-selected", weights_dir=tmp_path)


@pytest.fixture(scope="module")
def squad_runs(tmp_path_factory):
    """A small model trained on SQuAD, and it and its untrained start scored by `evaluate`."""
    shared_dataset("squad")
    root = tmp_path_factory.mktemp("squad")
    common = ["data=squad", "eval.pool_size=1000", "eval.repeats=2", "data.max_passage_length=64"]
    train_cfg = compose_config("train", root / "cache", root / "trained", *common,
                               "tokenizer=vocab", "model=bert_tiny", "training.max_steps=150", "training.lr=1e-3",
                               "training.warmup_steps=10", "training.batch_size=16", "training.num_negatives=32",
                               "training.num_workers=0", "eval.every_n_steps=75")
    trained = run(train_cfg, root / "trained")
    untrained_dir = root / "untrained" / "model"
    tokenizer = from_vocab(SHARED_DATA / "vocab" / "bert-base-uncased" / "vocab.txt")
    torch.manual_seed(0)
    build.biencoder(train_cfg, len(tokenizer), special_token_ids(tokenizer)).save_pretrained(untrained_dir)
    tokenizer.save_pretrained(untrained_dir / "tokenizer")
    scored = {}
    for name, model_dir in (("untrained", untrained_dir), ("trained", root / "trained" / "model")):
        cfg = compose_config("evaluate", root / "cache", root / f"eval-{name}", *common, f"model_dir={model_dir}")
        scored[name] = evaluate(cfg, root / f"eval-{name}")
    GlobalHydra.instance().clear()
    return root, trained, scored


@pytest.mark.slow
def test_training_results_carry_ce_and_ranking(squad_runs):
    _, trained, _ = squad_runs
    ce = trained.to_json()["ce"]
    assert trained.protocol == "test-best"
    assert [step for step, *_ in ce["history"]] == [75, 150]
    assert ce["reported"] == min(value for _, value in ce["history"]) == ce["best"]
    assert ce["reported_ci95"][0] < ce["reported"] < ce["reported_ci95"][1]
    assert (ce["K"], ce["R"], ce["pool_size"], ce["num_pairs"]) == (256, 2, 1000, 2373)
    assert trained.ranking.subcorpus_size == 2067 and trained.ranking.num_queries == 2373


@pytest.mark.slow
def test_evaluate_scores_the_trained_model_above_its_untrained_start(squad_runs):
    _, _, scored = squad_runs
    before, after = scored["untrained"], scored["trained"]
    assert after.ce.reported < before.ce.reported
    for metric in ("map@10", "ndcg@10", "mrr@10", "recall@1000"):
        assert after.ranking.metrics[metric] > before.ranking.metrics[metric], metric


@pytest.mark.slow
def test_evaluate_agrees_with_the_training_run_and_with_trec_eval_on_its_files(squad_runs):
    root, trained, scored = squad_runs
    assert scored["trained"].ce.reported == pytest.approx(trained.ce.reported, abs=2e-3)
    assert (scored["trained"].D, scored["untrained"].D) == (trained.D, None)  # D from the model's training run
    run_file, qrels_file = root / "eval-trained" / "run.trec", root / "eval-trained" / "qrels.trec"
    evaluator = pytrec_eval.RelevanceEvaluator(read_qrels(qrels_file), {"map_cut.10", "ndcg_cut.10", "recall.1000"})
    per_query = evaluator.evaluate(read_run(run_file))
    for ours, theirs in (("map@10", "map_cut_10"), ("ndcg@10", "ndcg_cut_10"), ("recall@1000", "recall_1000")):
        expected = np.mean([values[theirs] for values in per_query.values()])
        assert scored["trained"].ranking.metrics[ours] == pytest.approx(expected, abs=1e-6)
    assert json.loads((root / "eval-trained" / "results.json").read_text())["complete"] is True
