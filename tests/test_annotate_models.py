"""docT5query and chat-LLM generation with tiny models saved to a folder and loaded by the real
from_pretrained path; the per-row seeded sampler."""
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

from dense_scaling.annotation import AnnotationError, Task, run_annotation
from dense_scaling.annotation.llm import ChatModelQueryGenerator
from dense_scaling.annotation.sampling import SeededSampler
from dense_scaling.annotation.seq2seq import Seq2SeqQueryGenerator
from tests.helpers.annotation import output_files, write_source

PASSAGES = {
    f"p{i}": (f"T{i}", text)
    for i, text in enumerate(
        [
            "the cat sat on the mat and it was happy",
            "dogs bark at night when the moon is bright",
            "a river runs to the sea under old bridges",
            "bread is baked in a hot oven every morning",
            "the train leaves the station at nine",
        ]
    )
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run faster on one thread, the more so on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Five train positives (p4 twice) and one test passage."""
    queries = {f"h{i}": f"question {i}" for i in range(6)} | {"t0": "held out"}
    passages = PASSAGES | {"p5": ("T5", "a held out passage about nothing")}
    qrels = {"train": [(f"h{i}", f"p{min(i, 4)}") for i in range(6)], "test": [("t0", "p5")]}
    return write_source(tmp_path_factory.mktemp("src"), passages, queries, qrels)


def word_tokenizer(tokens, specials, **named):
    """A word-level tokenizer over ``tokens`` (a list, or texts to learn the words from)."""
    if named.pop("learn", False):
        tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        tokenizer.train_from_iterator(tokens, trainers.WordLevelTrainer(special_tokens=specials))
    else:
        vocab = {token: i for i, token in enumerate(dict.fromkeys(specials + tokens))}
        tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", **named)


@pytest.fixture(scope="module")
def t5_folder(tmp_path_factory):
    """A random 1-layer T5 with a word-level tokenizer over the passages."""
    folder = tmp_path_factory.mktemp("t5")
    tokenizer = word_tokenizer([t for _, t in PASSAGES.values()], ["<pad>", "</s>", "<unk>"], learn=True,
                               pad_token="<pad>", eos_token="</s>")
    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tokenizer), d_model=16, d_ff=32, d_kv=8, num_layers=1, num_heads=2,
                      pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def scripted_chat_model(folder, answer_tokens):
    """A 1-layer Llama chat model that answers ``" ".join(answer_tokens)`` to any prompt.

    The blocks are zeroed, so the last hidden state is the (one-hot) embedding of the previous
    token, and the LM head maps each answer token to the next one, the last to EOS and every
    other token to the first answer token."""
    specials = ["<pad>", "<eos>", "<unk>", "<|user|>", "<|assistant|>"]
    tokenizer = word_tokenizer(answer_tokens, specials, pad_token="<pad>", eos_token="<eos>",
                               additional_special_tokens=specials[3:])
    tokenizer.chat_template = (
        "{% for m in messages %}<|user|> {{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    vocab = len(tokenizer)
    config = LlamaConfig(vocab_size=vocab, hidden_size=vocab + vocab % 2, intermediate_size=8, num_hidden_layers=1,
                         num_attention_heads=1, tie_word_embeddings=False, pad_token_id=0, eos_token_id=1)
    model = LlamaForCausalLM(config)
    chain = tokenizer.convert_tokens_to_ids(answer_tokens) + [tokenizer.eos_token_id]
    following = dict(zip(chain, chain[1:]))
    with torch.no_grad():
        for name, weight in model.model.layers.named_parameters():
            weight.fill_(1.0 if "norm" in name else 0.0)
        model.model.embed_tokens.weight.copy_(torch.eye(vocab, config.hidden_size))
        model.lm_head.weight.zero_()
        for token in range(vocab):
            model.lm_head.weight[following.get(token, chain[0]), token] = 50.0
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def interrupted_then_resumed(monkeypatch, generator_class, make, source, out, **job):
    """Run a job that dies in its second batch, then resume it with a fresh generator."""
    original, calls = generator_class.annotate, []

    def die_in_second_batch(self, tasks):
        calls.append(len(tasks))
        if len(calls) == 2:
            raise RuntimeError("killed")
        return original(self, tasks)

    with monkeypatch.context() as patch:
        patch.setattr(generator_class, "annotate", die_in_second_batch)
        with pytest.raises(RuntimeError, match="killed"):
            run_annotation(make(), source, out, progress=False, **job)
    return run_annotation(make(), source, out, progress=False, **job)


# --- the sampler ----------------------------------------------------------------------------

def chosen(sampler, scores):
    out = sampler(torch.zeros(scores.shape[0], 3, dtype=torch.long), scores)
    assert torch.isfinite(out).sum(dim=-1).tolist() == [1] * scores.shape[0]  # one allowed token per row
    return out.argmax(dim=-1).tolist()


def test_sampler_row_depends_on_its_seed_only():
    torch.manual_seed(0)
    scores = torch.randn(4, 50)
    together = chosen(SeededSampler([11, 22, 33, 44], top_k=20), scores)
    alone = [chosen(SeededSampler([seed], top_k=20), scores[i : i + 1])[0] for i, seed in enumerate([11, 22, 33, 44])]
    assert together == alone
    torch.manual_seed(123)  # the global random state plays no part
    assert chosen(SeededSampler([11, 22, 33, 44], top_k=20), scores) == together


def test_sampler_follows_the_distribution_within_top_k():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    picks = torch.tensor(chosen(SeededSampler(list(range(4000)), top_k=3), logits.repeat(4000, 1)))
    frequencies = torch.bincount(picks, minlength=4).float() / 4000
    assert frequencies[3] == 0  # outside the top 3
    assert torch.allclose(frequencies[:3], torch.tensor([0.5, 0.3, 0.15]) / 0.95, atol=0.03)


def test_sampler_top_p_keeps_the_smallest_prefix_reaching_p():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    picks = chosen(SeededSampler(list(range(2000)), top_p=0.75), logits.repeat(2000, 1))
    assert set(picks) == {0, 1}


# --- docT5query -----------------------------------------------------------------------------

def test_seq2seq_writes_up_to_n_queries_per_passage_and_the_seed_matters(t5_folder, source, tmp_path):
    make = lambda: Seq2SeqQueryGenerator(model=t5_folder, queries_per_passage=3, max_new_tokens=6, device="cpu")
    summary = run_annotation(make(), source, tmp_path / "a", seed=1, progress=False)
    assert summary.counts["passages"] == 5 and summary.counts["ok"] + summary.counts["skipped"] == 5
    assert 0 < summary.counts["queries"] <= 15
    run_annotation(make(), source, tmp_path / "b", seed=2, progress=False)
    assert (tmp_path / "a/queries.jsonl").read_text() != (tmp_path / "b/queries.jsonl").read_text()


def test_seq2seq_resume_after_a_crash_equals_an_uninterrupted_run(t5_folder, source, tmp_path, monkeypatch):
    make = lambda: Seq2SeqQueryGenerator(model=t5_folder, queries_per_passage=2, max_new_tokens=6, batch_size=2,
                                         device="cpu")
    run_annotation(make(), source, tmp_path / "whole", seed=3, progress=False)
    interrupted_then_resumed(monkeypatch, Seq2SeqQueryGenerator, make, source, tmp_path / "resumed", seed=3)
    assert output_files(tmp_path / "resumed") == output_files(tmp_path / "whole")


def test_model_folder_that_does_not_exist_says_to_pass_a_local_folder(tmp_path):
    with pytest.raises(AnnotationError, match="pass a local folder"):
        Seq2SeqQueryGenerator(model=str(tmp_path / "no-such-model"), device="cpu")


# --- chat LLM -------------------------------------------------------------------------------

def test_chat_model_answer_is_parsed_into_queries(tmp_path, source):
    folder = scripted_chat_model(tmp_path / "llm", ['["alpha', 'one",', '"beta', 'two"]'])
    generator = ChatModelQueryGenerator(model=folder, max_new_tokens=8, batch_size=2, device="cpu")
    summary = run_annotation(generator, source, tmp_path / "out", progress=False)
    assert summary.counts | {"pending": 0} == summary.counts
    assert (summary.counts["ok"], summary.counts["queries"]) == (5, 10)
    data_queries = (tmp_path / "out/queries.jsonl").read_text()
    assert '{"_id": "llm-p0-0", "text": "alpha one"}' in data_queries
    assert '{"_id": "llm-p0-1", "text": "beta two"}' in data_queries


def test_chat_model_invalid_answers_are_retried_then_skipped(tmp_path, source):
    folder = scripted_chat_model(tmp_path / "llm", ["not", "json"])
    generator = ChatModelQueryGenerator(model=folder, max_new_tokens=4, retries=2, device="cpu")
    asked = []
    ask = generator._ask
    generator._ask = lambda tasks, attempt: asked.append(attempt) or ask(tasks, attempt)
    annotations = generator.annotate([Task("p0", "the cat", 1), Task("p1", "the dog", 2)])
    assert asked == [0, 1, 2]
    assert [(a.status, a.attempts, a.reason) for a in annotations] == [("skipped", 3, "no JSON list or object")] * 2


def test_chat_model_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path, source, monkeypatch):
    folder = scripted_chat_model(tmp_path / "llm", ['["alpha', 'one"]'])
    make = lambda: ChatModelQueryGenerator(model=folder, max_new_tokens=4, batch_size=2, device="cpu")
    run_annotation(make(), source, tmp_path / "whole", progress=False)
    interrupted_then_resumed(monkeypatch, ChatModelQueryGenerator, make, source, tmp_path / "resumed")
    assert output_files(tmp_path / "resumed") == output_files(tmp_path / "whole")


def test_model_without_chat_template_is_refused(tmp_path, t5_folder):
    folder = scripted_chat_model(tmp_path / "llm", ["x"])
    (tmp_path / "llm" / "chat_template.jinja").unlink(missing_ok=True)
    config = (tmp_path / "llm" / "tokenizer_config.json")
    config.write_text(config.read_text().replace('"chat_template"', '"unused_template"'))
    with pytest.raises(AnnotationError, match="has no chat template"):
        ChatModelQueryGenerator(model=folder, device="cpu")
