"""Run folders named by the swept keys only, bounded and file-safe; one identity that survives moved data."""
import os
import shutil

import pytest

from dense_scaling import runs
from dense_scaling.run_identity import NAME_BYTES, SWEPT_ENV, bounded, file_safe, identity, run_name, swept_keys
from dense_scaling.train import run
from tests.helpers.beir import write_beir
from tests.helpers.sweeps import sweep

TINY_RUN = ("model=micro_L1_H32", "training.max_steps=2", "training.num_workers=0", "training.batch_size=2",
            "training.num_negatives=2", "eval=none", "~logger", "tokenizer=trained", "tokenizer.vocab_size=200")


def test_only_swept_keys_name_the_folder(monkeypatch):
    monkeypatch.delenv(SWEPT_ENV, raising=False)
    task = ["model=micro_L2_H64", "data.num_train_pairs=300", "training.lr=0.01", "study=x"]
    assert run_name(task, {"model": "micro_L2_H32,micro_L2_H64", "training.lr": "0.01"}) == "model=micro_L2_H64"
    monkeypatch.setenv(SWEPT_ENV, "data.num_train_pairs,study")  # study is volatile: never in a name
    assert run_name(task, {"model": "a,b"}) == "data.num_train_pairs=300,model=micro_L2_H64"
    assert run_name(["training.lr=0.01"], {}) == "default"


def test_swept_keys_are_the_keys_given_several_values():
    assert swept_keys(["model=a,b", "lr=0.1", "+x=range(1,3)", "data.reader.path=/a/b", "y=choice(1,2)"]) == {
        "model", "x", "y"}


def test_a_path_value_becomes_its_last_component_and_a_content_hash(tmp_path):
    first, second = write_beir(tmp_path / "a" / "nq"), write_beir(tmp_path / "b" / "nq", corpus=['{"_id": "d", "text": "x"}'])
    assert file_safe(str(first)).startswith("nq-") and "/" not in file_safe(str(first))
    assert file_safe(str(first)) != file_safe(str(second))  # same last component, other content
    shutil.copytree(first, tmp_path / "moved")
    assert file_safe(str(tmp_path / "moved")) == file_safe(str(first)).replace("nq-", "moved-")
    assert file_safe("/no/such/folder") == "folder-" + file_safe("/no/such/folder").split("-")[1]
    assert file_safe("a b:c*") == "a_b_c_"


def test_15_overrides_and_a_long_path_give_a_valid_distinct_name(tmp_path, monkeypatch):
    long_path = "/" + "/".join(["a_long_folder_name_of_a_data_set" * 3] * 20)  # 2 kB
    task = [f"data.reader.path={long_path}"] + [f"training.setting_{i}={i * 1000.5}" for i in range(14)]
    monkeypatch.setenv(SWEPT_ENV, ",".join(override.split("=")[0] for override in task))
    name = run_name(task, {})
    assert len(name.encode()) <= NAME_BYTES and "/" not in name
    (tmp_path / name).mkdir()  # the file system takes it
    other = run_name(task[:-1] + ["training.setting_13=0"], {})
    assert other != name and len(other.encode()) <= NAME_BYTES
    assert bounded("é" * 300).encode().decode() and len(bounded("é" * 300).encode()) <= NAME_BYTES


def test_identity_ignores_volatile_keys_only(compose_train, tmp_path):
    digest = identity(compose_train("model=micro_L1_H32"))
    assert identity(compose_train("model=micro_L1_H32", "training.num_workers=3", "study=other",
                                  f"cache_dir={tmp_path / 'elsewhere'}", "~logger", "eval.batch_size=7")) == digest
    assert identity(compose_train("model=micro_L1_H32", "training.lr=0.5")) != digest


def test_moved_data_keeps_a_finished_run_finished(compose_train, tmp_path):
    data = write_beir(tmp_path / "data" / "nq", corpus=[f'{{"_id": "d{i}", "text": "passage {i} about x"}}'
                                                         for i in range(8)])
    cfg = compose_train("data=beir", f"data.reader.path={data}", *TINY_RUN)
    out = tmp_path / "run"
    run(cfg, out)
    assert runs.completed(out, identity(cfg))
    moved = tmp_path / "mounted" / "elsewhere" / "nq"
    moved.parent.mkdir(parents=True)
    shutil.move(data, moved)
    assert runs.completed(out, identity(compose_train("data=beir", f"data.reader.path={moved}", *TINY_RUN)))
    with open(moved / "corpus.jsonl", "a") as corpus:  # the data itself changes: the run is not this one
        corpus.write('{"_id": "d99", "text": "one more passage"}\n')
    assert not runs.completed(out, identity(compose_train("data=beir", f"data.reader.path={moved}", *TINY_RUN)))


def test_a_finished_run_is_finished_for_a_freshly_composed_config(compose_train, tmp_path):
    out = tmp_path / "run"
    run(compose_train(*TINY_RUN), out)  # a run changes its own cfg object (instantiate resolves it)
    assert runs.completed(out, identity(compose_train(*TINY_RUN)))


def test_identity_fingerprints_every_path_it_names(compose_train, tmp_path):
    data = write_beir(tmp_path / "nq")
    cfg = compose_train("data=beir", f"data.reader.path={data}")
    before = identity(cfg)
    os.utime(data / "corpus.jsonl", (0, 0))  # a new time stamp is not new data
    assert identity(cfg) == before
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq2\td3\t1\n")
    assert identity(cfg) != before


@pytest.mark.slow
def test_a_multirun_with_a_long_path_and_a_command_line_sweep_names_folders_by_the_swept_key(tmp_path):
    data = write_beir(tmp_path / ("a_long_folder_name_of_a_data_set/" * 8) / "nq",
                      corpus=[f'{{"_id": "d{i}", "text": "passage {i} about x"}}' for i in range(8)])
    (tmp_path / "tiny.yaml").write_text("defaults: [train, _self_]\nstudy: tiny\n")
    overrides = ("data=beir", f"data.reader.path={data}", "model=micro_L1_H32,micro_L2_H32", *TINY_RUN[1:])
    sweep(tmp_path, "tiny", *overrides)
    root = tmp_path / "multirun" / "tiny"
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["model=micro_L1_H32", "model=micro_L2_H32"]
    assert f"data.reader.path={data}" in (root / "model=micro_L1_H32" / ".hydra" / "overrides.yaml").read_text()
    shutil.move(tmp_path / "a_long_folder_name_of_a_data_set", tmp_path / "moved")
    moved = tmp_path / "moved" / ("a_long_folder_name_of_a_data_set/" * 7) / "nq"
    again = sweep(tmp_path, "tiny", *overrides[:1], f"data.reader.path={moved}", *overrides[2:])
    assert sum(line.startswith("skipped:") for line in again.stdout.splitlines()) == 2
