"""GradCache and activation checkpointing give the loss and every gradient of the plain whole-batch step."""
import copy

import pytest
import torch

from dense_scaling.model import lora, memory
from dense_scaling.model.biencoder import BiEncoder, load_encoder
from dense_scaling.model.distributed import leave_process_group
from dense_scaling.model.module import ContrastiveRetriever
from dense_scaling.train import run

ARCH = {"model_type": "bert", "num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2,
        "intermediate_size": 64, "max_position_embeddings": 64}
B, K, VOCAB = 6, 5, 60  # 6 queries, 6 positives + 5 shared negatives: chunks of 4 leave uneven remainders


FAMILIES = {"modernbert": {**ARCH, "model_type": "modernbert", "intermediate_size": 48},
            "gpt_neox": {**ARCH, "model_type": "gpt_neox", "use_cache": False}}


def tiny_biencoder(dropout: float = 0.0, seed: int = 0, arch: dict = ARCH, pooling: str = "mean") -> BiEncoder:
    torch.manual_seed(seed)
    encoder = load_encoder("scratch", arch=arch, vocab_size=VOCAB, dropout=dropout, special_tokens={"pad_token_id": 0})
    return BiEncoder(encoder, proj_dim=16, pooling=pooling, similarity="cos", temperature=0.05).train()


def tiny_batch(queries: int = B, negatives: int = K, seed: int = 1) -> dict:
    """A batch shaped as ContrastiveBatches makes one, with padding and one accidental positive."""
    generator = torch.Generator().manual_seed(seed)

    def texts(rows, length):
        ids = torch.randint(5, VOCAB, (rows, length), generator=generator)
        lengths = torch.randint(3, length + 1, (rows,), generator=generator)
        mask = (torch.arange(length) < lengths[:, None]).long()
        return ids * mask, mask

    query_ids, query_mask = texts(queries, 7)
    passage_ids, passage_mask = texts(queries + negatives, 12)
    positive_mask = torch.zeros(queries, queries + negatives, dtype=torch.bool)
    positive_mask[torch.arange(queries), torch.arange(queries)] = True
    positive_mask[0, queries + 1] = True
    return {"query_ids": query_ids, "query_mask": query_mask, "passage_ids": passage_ids,
            "passage_mask": passage_mask, "positive_mask": positive_mask, "num_tokens": 0}


def loss_and_gradients(model: BiEncoder, batch: dict, module=ContrastiveRetriever, **options) -> tuple:
    """The loss of one training step on ``batch`` and every parameter's gradient, from a copy of ``model``."""
    module = module(copy.deepcopy(model), **options)
    loss = module.batch_loss(batch)
    loss.backward()
    return loss.detach(), {name: p.grad for name, p in module.model.named_parameters()}


def assert_same_step(got, expected) -> None:
    torch.testing.assert_close(got[0], expected[0], rtol=1e-5, atol=1e-5)
    assert got[1].keys() == expected[1].keys()
    for name, grad in expected[1].items():
        assert (got[1][name] is None) == (grad is None), name
        if grad is not None:
            torch.testing.assert_close(got[1][name], grad, rtol=1e-5, atol=1e-5, msg=name)


@pytest.mark.parametrize("in_batch", [True, False])
@pytest.mark.parametrize("options", [{"grad_cache": 4}, {"grad_cache": 1}, {"gradient_checkpointing": True},
                                     {"grad_cache": 4, "gradient_checkpointing": True}], ids=str)
def test_loss_and_every_gradient_equal_the_whole_batch_step(in_batch, options):
    model, batch = tiny_biencoder(), tiny_batch()
    plain = loss_and_gradients(model, batch, in_batch_negatives=in_batch)
    assert plain[0] > 0 and all(g is not None and g.abs().sum() > 0 for g in plain[1].values())
    assert_same_step(loss_and_gradients(model, batch, in_batch_negatives=in_batch, **options), plain)


@pytest.mark.parametrize("family, pooling", [("modernbert", "mean"), ("gpt_neox", "last")])
def test_the_modern_backbones_take_the_same_step_cached_and_checkpointed(family, pooling):
    model, batch = tiny_biencoder(arch=FAMILIES[family], pooling=pooling), tiny_batch()
    expected = loss_and_gradients(model, batch)
    assert_same_step(loss_and_gradients(model, batch, grad_cache=4, gradient_checkpointing=True), expected)


def test_lora_adapters_take_the_same_step_cached_and_checkpointed():
    model = tiny_biencoder()
    model.encoder = lora.add_adapters(model.encoder, r=2, alpha=4)
    with torch.no_grad():  # as if trained: peft starts B at zero, which would leave A without a gradient
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    batch = tiny_batch()
    expected = loss_and_gradients(model, batch)
    got = loss_and_gradients(model, batch, grad_cache=4, gradient_checkpointing=True)
    assert_same_step(got, expected)
    assert all((grad is None) == ("lora_" not in name and not name.startswith("projection."))
               for name, grad in got[1].items())  # the frozen base gets no gradient


class ChunkedWithGraphs(ContrastiveRetriever):
    """The reference under dropout: the same chunks of 4 encoded in the same order, graphs kept."""

    def embed(self, ids, mask):
        return torch.cat([self.model.encode(i, m) for i, m in zip(ids.split(4), mask.split(4))])


def test_under_dropout_the_re_encoding_replays_each_chunks_dropout_masks():
    model, batch = tiny_biencoder(dropout=0.3), tiny_batch()
    torch.manual_seed(7)
    expected = loss_and_gradients(model, batch, ChunkedWithGraphs)
    after_reference = torch.get_rng_state()
    torch.manual_seed(7)
    got = loss_and_gradients(model, batch, grad_cache=4)
    assert_same_step(got, expected)
    assert torch.equal(torch.get_rng_state(), after_reference)  # the backward pass leaves the generator as it was
    torch.manual_seed(8)
    assert not torch.allclose(loss_and_gradients(model, batch, grad_cache=4)[0], got[0])  # dropout is on


def test_the_re_encoding_runs_under_the_forward_passs_autocast(monkeypatch):
    seen = []
    model = tiny_biencoder()
    encode = model.encode

    def recording(ids, mask):
        seen.append((torch.is_grad_enabled(), torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return encode(ids, mask)

    monkeypatch.setattr(model, "encode", recording)
    ids, mask = tiny_batch()["passage_ids"], tiny_batch()["passage_mask"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        embeddings = memory.cached_encode(model, ids, mask, chunk_size=4)
    embeddings.float().sum().backward()
    forward, backward = seen[:3], seen[3:]
    assert len(seen) == 6  # 11 passages in chunks of 4: three chunks, each encoded twice
    assert all(s == (False, True, torch.bfloat16) for s in forward)  # no graphs in the first pass
    assert all(s == (True, True, torch.bfloat16) for s in backward)


def test_a_bad_chunk_size_names_the_setting():
    with pytest.raises(ValueError, match="training.grad_cache=0"):
        ContrastiveRetriever(tiny_biencoder(), grad_cache=0)


def test_an_encoder_without_checkpointing_support_names_the_setting():
    with pytest.raises(ValueError, match="training.gradient_checkpointing=false"):
        memory.checkpoint_activations(torch.nn.Linear(2, 2))


def _share(batch: dict, rank: int, world: int) -> dict:
    """A rank's contiguous share of the queries, the positives and the negatives (data/batches.py)."""
    queries = len(batch["query_ids"])
    own = torch.arange(queries).tensor_split(world)[rank]
    passages = torch.cat([own, torch.arange(queries, len(batch["passage_ids"])).tensor_split(world)[rank]])
    return {"query_ids": batch["query_ids"][own], "query_mask": batch["query_mask"][own],
            "passage_ids": batch["passage_ids"][passages], "passage_mask": batch["passage_mask"][passages],
            "positive_mask": batch["positive_mask"][own]}


def _ddp_rank(rank, world, init_file, model, batch, in_batch, out_file):
    """One process: its share of the batch through GradCache, loss and gradients averaged as DDP does."""
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    loss, grads = loss_and_gradients(model, _share(batch, rank, world), grad_cache=2, in_batch_negatives=in_batch)
    for tensor in (loss, *grads.values()):
        torch.distributed.all_reduce(tensor)
    if rank == 0:
        torch.save((loss / world, {name: g / world for name, g in grads.items()}), out_file)
    leave_process_group()  # rank 1 waits for rank 0's file before gloo goes


@pytest.mark.slow
@pytest.mark.parametrize("in_batch", [True, False])
def test_two_process_grad_cache_equals_the_single_process_whole_batch(tmp_path, in_batch):
    model, batch = tiny_biencoder(), tiny_batch(negatives=4)  # 3 queries, 3 positives and 2 negatives a rank
    expected = loss_and_gradients(model, batch, in_batch_negatives=in_batch)
    torch.multiprocessing.spawn(_ddp_rank, args=(2, tmp_path / "init", model, batch, in_batch, tmp_path / "out.pt"), nprocs=2)
    assert_same_step(torch.load(tmp_path / "out.pt"), expected)


def test_a_training_run_with_both_options_ends_with_the_plain_runs_weights(compose_train, tmp_path):
    tiny = ["model=micro_L1_H32", "training.max_steps=3", "training.warmup_steps=1", "training.batch_size=8",
            "training.num_negatives=8", "training.num_workers=0", "training.dropout=0", "data.num_train_pairs=64",
            "trainer.precision=32", "~logger", "eval=none"]
    plain = run(compose_train(*tiny), tmp_path / "plain")
    cached = run(compose_train(*tiny, "training.grad_cache=3", "training.gradient_checkpointing=true"),
                 tmp_path / "cached")
    assert cached.train_loss_final == pytest.approx(plain.train_loss_final, rel=1e-5)
    weights = [BiEncoder.from_pretrained(tmp_path / name / "model").state_dict() for name in ("plain", "cached")]
    for name, value in weights[0].items():
        torch.testing.assert_close(weights[1][name], value, rtol=1e-4, atol=1e-5, msg=name)
