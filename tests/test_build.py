"""Config groups instantiate themselves (their ``_target_``); dense_scaling.build adds what belongs
to the run. Every packaged data and model config builds, and a user's own group file, in a folder
of their own, is used as it is without an edit to train.yaml."""
from importlib import resources
from pathlib import Path

import pytest
import torch
import yaml

from dense_scaling import build
from dense_scaling.config_check import TARGETS
from dense_scaling.data.datamodule import RetrievalDataModule
from dense_scaling.data.tokenizer import Pretrained, TrainedWordPiece, Vocab
from dense_scaling.train import run
from tests.helpers.paths import SHARED_DATA

CONF = resources.files("dense_scaling.conf")
DATA_CONFIGS = sorted(p.name.removesuffix(".yaml") for p in CONF.joinpath("data").iterdir() if p.name.endswith(".yaml"))
SHAPE = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads", "max_position_embeddings")
MODEL_CONFIGS = sorted(p.name.removesuffix(".yaml") for p in CONF.joinpath("model").iterdir() if p.name.endswith(".yaml"))


class LabelledDataModule(RetrievalDataModule):
    """A user's DataModule with a field of its own, named by a config file outside the package."""

    def __init__(self, label: str, **fields):
        super().__init__(**fields)
        self.label = label


def test_train_config_holds_no_copy_of_the_groups(compose_train):
    cfg = compose_train()
    assert "encoder" not in cfg and "datamodule" not in cfg
    assert {group: cfg[group]._target_ for group in TARGETS} == TARGETS  # what config_check's message names


@pytest.mark.parametrize("name", DATA_CONFIGS)
def test_every_data_config_builds_its_datamodule_with_the_runs_settings(compose_train, tmp_path, name):
    path = [f"data.reader.path={tmp_path}"] if name in ("beir", "hf") else []  # their path has no default
    cfg = compose_train(f"data={name}", *path, "training.batch_size=7", "training.num_negatives=3", "seed=11")
    module = build.datamodule(cfg)  # reads nothing until prepare()
    assert isinstance(module, RetrievalDataModule) and module.name == cfg.data.name
    assert (module.max_query_length, module.max_passage_length) == (cfg.data.max_query_length, cfg.data.max_passage_length)
    assert (module.test_split, module.num_train_pairs) == (cfg.data.test_split, cfg.data.num_train_pairs)
    assert (module.batch_size, module.num_negatives, module.seed) == (7, 3, 11)
    assert module.tokenizer_recipe == TrainedWordPiece(cfg.tokenizer.vocab_size) and module.cache_dir == str(cfg.cache_dir)
    assert module.reader.func.__name__ == cfg.data.reader._target_.rsplit(".", 1)[1]


def test_every_tokenizer_config_builds_its_recipe(compose_train):
    recipes = {name: build.datamodule(compose_train(f"tokenizer={name}", "model=bert_tiny")).tokenizer_recipe
               for name in ("pretrained", "vocab", "trained")}
    assert recipes["pretrained"] == Pretrained("google/bert_uncased_L-2_H-128_A-2")  # the model's hub id
    assert recipes["vocab"] == Vocab(str(SHARED_DATA / "vocab" / "bert-base-uncased" / "vocab.txt"))
    assert recipes["trained"] == TrainedWordPiece(vocab_size=8000, lowercase=True)
    if Path(recipes["vocab"].vocab_path).is_file():
        assert len(recipes["vocab"].build(data=None, cache_dir="unused")) == 30522  # the real BERT vocab


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_every_model_config_builds_its_architecture(compose_train, name):
    cfg = compose_train(f"model={name}", "proj_dim=24", "temperature=0.5")
    with torch.device("meta"):  # shapes only
        model = build.biencoder(cfg, 100, {"pad_token_id": 0})
    config, arch = model.encoder.config, cfg.model.arch
    assert config.model_type == arch.model_type, name
    for key in SHAPE:  # the other settings are the model family's to read (ModernBERT folds rope thetas into one dict)
        assert getattr(config, key) == arch[key], (name, key)
    assert (model.projection.out_features, model.pooling, model.temperature) == (24, cfg.pooling, 0.5)


def test_a_users_own_group_files_are_used_as_they_are(compose_train, tmp_path):
    """A data config of the user's (a DataModule with a field of its own) and a model config, in a
    folder on Hydra's search path: composed, checked and trained without an edit to the package."""
    conf = tmp_path / "conf"
    (conf / "data").mkdir(parents=True)
    (conf / "model").mkdir()
    quickstart = yaml.safe_load(CONF.joinpath("data", "quickstart.yaml").read_text(encoding="utf-8"))
    mine = {**quickstart, "_target_": f"{__name__}.LabelledDataModule", "name": "mine", "label": "from my file"}
    (conf / "data" / "mine.yaml").write_text(yaml.safe_dump(mine), encoding="utf-8")
    (conf / "model" / "tiny_mine.yaml").write_text(yaml.safe_dump({
        "_target_": "dense_scaling.model.biencoder.build_biencoder", "name": "tiny_mine", "hub_id": None,
        "arch": {"model_type": "bert", "num_hidden_layers": 1, "hidden_size": 16, "num_attention_heads": 2,
                 "intermediate_size": 32, "max_position_embeddings": 64}}), encoding="utf-8")
    cfg = compose_train(f"hydra.searchpath=[file://{conf}]", "data=mine", "model=tiny_mine", "training.max_steps=2",
                        "eval.enabled=false", "~logger")
    assert isinstance(build.datamodule(cfg), LabelledDataModule) and build.datamodule(cfg).label == "from my file"
    results = run(cfg, tmp_path / "run")
    assert (results.run.data, results.run.model, results.steps) == ("mine", "tiny_mine", 2)
    assert results.config["data"]["label"] == "from my file"
