"""ICT pairs on fixed text, and the annotation job (output folder, resume) driven by ICT."""
import json

import pytest

from dense_scaling.annotation import AnnotationError, ICTGenerator, Task, run_annotation, split_sentences
from dense_scaling.data.readers import load_beir
from tests.helpers.annotation import TEXT, output_files, small_source

WITHOUT = {  # each sentence -> the passage without it
    "Alpha beta.": "Gamma delta! Epsilon zeta?",
    "Gamma delta!": "Alpha beta. Epsilon zeta?",
    "Epsilon zeta?": "Alpha beta. Gamma delta!",
}


def test_sentences_split_on_end_marks_followed_by_space_or_end():
    assert split_sentences(TEXT) == list(WITHOUT)
    assert split_sentences('He said "no." Then left.  Done') == ['He said "no."', "Then left.", "Done"]
    assert split_sentences("Pi is 3.14 exactly.") == ["Pi is 3.14 exactly."]
    assert split_sentences("甲乙。丙丁！戊己？") == ["甲乙。", "丙丁！", "戊己？"]


def test_removal_probability_one_gives_every_sentence_and_the_passage_without_it():
    annotation = ICTGenerator(removal_probability=1.0).annotate([Task("p", TEXT, seed=3, human_pairs=3)])[0]
    texts = {p["_id"]: p["text"] for p in annotation.passages}
    pairs = {q["text"]: texts[q["positive"]] for q in annotation.queries}
    assert pairs == WITHOUT  # three samples draw the three sentences, each once
    assert [q["_id"] for q in annotation.queries] == ["ict-p-0", "ict-p-1", "ict-p-2"]
    assert sorted(texts) == ["p#ict0", "p#ict1", "p#ict2"]
    assert all(p["parent"] == "p" for p in annotation.passages)


def test_removal_probability_zero_keeps_the_original_passage_as_positive():
    annotation = ICTGenerator(removal_probability=0.0).annotate([Task("p", TEXT, seed=3, human_pairs=3)])[0]
    assert annotation.passages == []
    assert {q["text"] for q in annotation.queries} == set(WITHOUT)
    assert {q["positive"] for q in annotation.queries} == {"p"}


def test_chinese_sentence_is_cut_without_spaces():
    annotation = ICTGenerator(removal_probability=1.0).annotate([Task("z", "甲乙。丙丁！戊己", 0, human_pairs=3)])[0]
    texts = {p["_id"]: p["text"] for p in annotation.passages}
    pairs = {q["text"]: texts[q["positive"]] for q in annotation.queries}
    assert pairs == {"甲乙。": "丙丁！戊己", "丙丁！": "甲乙。戊己", "戊己": "甲乙。丙丁！"}


def test_same_seed_same_pairs_other_seed_other_order():
    tasks = [Task(f"p{i}", TEXT + " Eta theta. Iota kappa.", seed=i, human_pairs=2) for i in range(6)]
    generator = ICTGenerator()
    first, again = generator.annotate(tasks), generator.annotate(tasks)
    assert first == again
    reseeded = generator.annotate([Task(t.pid, t.text, t.seed + 100, t.human_pairs) for t in tasks])
    assert [a.queries for a in reseeded] != [a.queries for a in first]


def test_one_sentence_passage_is_skipped_with_a_reason():
    annotation = ICTGenerator().annotate([Task("p", "Just one sentence", 0, human_pairs=1)])[0]
    assert (annotation.status, annotation.reason) == ("skipped", "fewer than 2 sentences")


def test_removal_probability_outside_unit_interval_is_refused():
    with pytest.raises(AnnotationError, match="removal_probability=1.5"):
        ICTGenerator(removal_probability=1.5)


@pytest.mark.parametrize("gz", [True, False])
def test_job_writes_a_beir_folder_with_the_train_split_replaced(tmp_path, gz):
    source = small_source(tmp_path / "src", gz)
    summary = run_annotation(ICTGenerator(removal_probability=1.0), source, tmp_path / "out", progress=False)
    assert summary.counts == {
        "passages": 3, "ok": 2, "skipped": 1, "failed": 0, "pending": 0, "queries": 3, "new_passages": 3,
    }
    original, annotated = load_beir(source), load_beir(tmp_path / "out")
    n = len(original.corpus_ids)
    assert annotated.corpus_ids[:n] == original.corpus_ids and annotated.corpus_texts[:n] == original.corpus_texts
    assert annotated.corpus_ids[n:] == ["p0#ict0", "p0#ict1", "p1#ict0"]
    assert annotated.num_eval_passages == n  # the new passages are training-only: never evaluated
    assert json.loads((tmp_path / "out/annotation.json").read_text())["source_passages"] == n
    assert annotated.corpus_texts[n] in {"Greek " + text for text in WITHOUT.values()}  # parent's title kept
    assert annotated.qrels["test"] == original.qrels["test"]
    assert (tmp_path / "out/qrels/test.tsv").read_bytes() == (source / "qrels/test.tsv").read_bytes()
    assert annotated.qrels["train"] == {
        "ict-p0-0": {"p0#ict0": 1}, "ict-p0-1": {"p0#ict1": 1}, "ict-p1-0": {"p1#ict0": 1},
    }
    assert set(annotated.query_ids) == {"t0", "ict-p0-0", "ict-p0-1", "ict-p1-0"}
    corpus_name = "corpus.jsonl.gz" if gz else "corpus.jsonl"
    assert (tmp_path / "out" / corpus_name).read_bytes() == (source / corpus_name).read_bytes()


def test_interrupted_job_resumes_to_the_files_of_an_uninterrupted_one(tmp_path, monkeypatch):
    source = small_source(tmp_path / "src")
    run_annotation(ICTGenerator(batch_size=1), source, tmp_path / "whole", seed=5, progress=False)

    calls = []
    original = ICTGenerator.annotate

    def interrupt_second_batch(self, tasks):
        calls.append(len(tasks))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, tasks)

    monkeypatch.setattr(ICTGenerator, "annotate", interrupt_second_batch)
    with pytest.raises(KeyboardInterrupt):
        run_annotation(ICTGenerator(batch_size=1), source, tmp_path / "resumed", seed=5, progress=False)
    assert len((tmp_path / "resumed/generated.jsonl").read_text().splitlines()) == 1
    calls.clear()
    run_annotation(ICTGenerator(batch_size=2), source, tmp_path / "resumed", seed=5, progress=False)
    assert calls == [2]  # only the two passages not done; batch size is not a setting
    assert output_files(tmp_path / "resumed") == output_files(tmp_path / "whole")


def test_torn_last_log_line_is_dropped_on_resume(tmp_path):
    source = small_source(tmp_path / "src")
    run_annotation(ICTGenerator(), source, tmp_path / "whole", progress=False)
    run_annotation(ICTGenerator(), source, tmp_path / "torn", progress=False)
    log = tmp_path / "torn/generated.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text(lines[0] + lines[1][:10])  # killed while writing the second record
    run_annotation(ICTGenerator(), source, tmp_path / "torn", progress=False)
    assert output_files(tmp_path / "torn") == output_files(tmp_path / "whole")


def test_resume_with_other_settings_or_into_a_foreign_folder_is_refused(tmp_path):
    source = small_source(tmp_path / "src")
    run_annotation(ICTGenerator(), source, tmp_path / "out", progress=False)
    with pytest.raises(AnnotationError, match="removal_probability.* differ"):
        run_annotation(ICTGenerator(removal_probability=0.5), source, tmp_path / "out", progress=False)
    with pytest.raises(AnnotationError, match="not empty and holds no annotation.json"):
        run_annotation(ICTGenerator(), source, source.parent, progress=False)


def test_corpus_pool_leaves_out_the_test_positives_and_limit_samples(tmp_path):
    source = small_source(tmp_path / "src")
    summary = run_annotation(ICTGenerator(), source, tmp_path / "all", pool="corpus", progress=False)
    assert summary.counts["passages"] == 3  # p3 is a test positive
    summary = run_annotation(ICTGenerator(), source, tmp_path / "two", pool="corpus", limit=2, progress=False)
    assert summary.counts["passages"] == 2
    with pytest.raises(AnnotationError, match="passages.limit=9"):
        run_annotation(ICTGenerator(), source, tmp_path / "nine", limit=9, progress=False)
