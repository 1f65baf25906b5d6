"""The ``python -m dense_scaling.annotate`` entry: Hydra composition, the command line, errors."""
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException

from dense_scaling.annotate import annotate
from dense_scaling.annotation import AnnotationError
from dense_scaling.data.readers import load_beir
from tests.helpers.annotation import small_source


@pytest.fixture
def compose_annotate():
    def _compose(*overrides):
        GlobalHydra.instance().clear()
        with initialize_config_module(config_module="dense_scaling.conf", version_base="1.3"):
            return compose(config_name="annotate", overrides=["progress=false", *overrides])

    yield _compose
    GlobalHydra.instance().clear()


def test_composed_job_writes_a_folder_that_reads_back_with_train_replaced(compose_annotate, tmp_path):
    source = small_source(tmp_path / "src")
    cfg = compose_annotate("method=ict", "data=beir", f"data.reader.path={source}", f"out={tmp_path / 'out'}",
                           "method.removal_probability=1.0")
    summary = annotate(cfg)
    assert (summary.method, summary.counts["queries"]) == ("ict", 3)
    original, annotated = load_beir(source), load_beir(tmp_path / "out")
    assert annotated.qrels["test"] == original.qrels["test"]
    assert set(annotated.qrels["train"]) == {"ict-p0-0", "ict-p0-1", "ict-p1-0"}
    assert not set(annotated.qrels["train"]) & set(original.qrels["train"])


def test_every_method_config_composes_to_its_generator(compose_annotate):
    targets = {
        method: compose_annotate(f"method={method}", "out=x").method._target_.rsplit(".", 1)[1]
        for method in ("ict", "doct5query", "llm", "llm_api")
    }
    assert targets == {
        "ict": "ICTGenerator", "doct5query": "Seq2SeqQueryGenerator",
        "llm": "ChatModelQueryGenerator", "llm_api": "EndpointQueryGenerator",
    }


def test_unknown_method_lists_the_known_ones(compose_annotate):
    with pytest.raises(MissingConfigException, match="method/nope"):
        compose_annotate("method=nope", "out=x")


def test_missing_source_folder_names_the_setting(compose_annotate, tmp_path):
    cfg = compose_annotate("data=beir", f"data.reader.path={tmp_path / 'absent'}", f"out={tmp_path / 'out'}")
    with pytest.raises(AnnotationError, match="absent: no such folder; set data.reader.path"):
        annotate(cfg)
    assert not (tmp_path / "out").exists()


def test_non_beir_data_config_is_refused(compose_annotate, tmp_path):
    with pytest.raises(AnnotationError, match="'msmarco' is not read from a BEIR folder"):
        annotate(compose_annotate("data=msmarco", f"out={tmp_path / 'out'}"))


def test_missing_model_folder_says_to_pass_a_local_folder(compose_annotate, tmp_path):
    source = small_source(tmp_path / "src")
    cfg = compose_annotate("method=doct5query", f"method.model={tmp_path / 'no-model'}", "data=beir",
                           f"data.reader.path={source}", f"out={tmp_path / 'out'}")
    with pytest.raises(AnnotationError, match="no model folder .*pass a local folder"):
        annotate(cfg)


def test_hub_model_unreachable_offline_says_to_pass_a_local_folder(monkeypatch):
    import huggingface_hub.constants

    from dense_scaling.annotation.hf import load_generator_model

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(AnnotationError, match="'nobody/no-such-model'.*without network access pass a local folder"):
        load_generator_model("nobody/no-such-model", "seq2seq", device="cpu")


def run_cli(cwd, *args):
    return subprocess.run([sys.executable, "-m", "dense_scaling.annotate", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_command_line_prints_a_summary_and_progress(tmp_path):
    source = small_source(tmp_path / "src")
    done = run_cli(tmp_path, "method=ict", "data=beir", f"data.reader.path={source}", f"out={tmp_path / 'out'}")
    assert done.returncode == 0, done.stderr
    assert "annotate ict: 3 passages selected; 2 annotated, 1 skipped, 0 failed; 3 queries" in done.stdout
    assert "[ict] 3/3 passages (100%)" in done.stderr and "ETA" in done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "annotation.json", "corpus.jsonl.gz", "generated.jsonl", "qrels", "queries.jsonl", "train_corpus.jsonl",
    ]  # nothing from Hydra (no .hydra/, no log file)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]  # nothing in the working directory


def test_command_line_user_error_is_one_line_without_traceback(tmp_path):
    done = run_cli(tmp_path, "data=beir", f"data.reader.path={tmp_path / 'absent'}", f"out={tmp_path / 'out'}")
    assert done.returncode == 1
    assert done.stderr.strip() == f"annotate: {tmp_path / 'absent'}: no such folder; set data.reader.path to a BEIR folder"
