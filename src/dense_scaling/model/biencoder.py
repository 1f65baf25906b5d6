"""The bi-encoder: one Transformer shared by queries and passages, pooling, a linear projection."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel

from dense_scaling.model import lora, st_folder
from dense_scaling.model.model_card import model_card

SETTINGS_FILE = "biencoder.json"
POOLINGS = ("mean", "cls", "last")
DROPOUT_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob",  # BERT, ERNIE
                  "hidden_dropout", "attention_dropout", "mlp_dropout", "embedding_dropout")  # GPT-NeoX, ModernBERT
PROJECTION_FILE = "projection.pt"


class BiEncoder(nn.Module):
    """``v = pool(Transformer(x)) W + b`` for queries and passages alike (the paper's encoder).

    ``pooling`` is ``"mean"`` (masked mean of the last layer, the paper's), ``"cls"`` (the first
    token) or ``"last"`` (the last non-padding token: for decoder-only backbones, where only it has
    seen the whole text).
    ``similarity`` is ``"dot"`` (the paper's raw inner product) or ``"cos"`` (the vectors are
    L2-normalised); scores are divided by ``temperature``. The encoder's unused pooler is removed.
    """

    def __init__(
        self,
        encoder: nn.Module,
        proj_dim: int = 768,
        pooling: str = "mean",
        similarity: str = "dot",
        temperature: float = 1.0,
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling '{pooling}' is not one of: {', '.join(POOLINGS)}")
        if similarity not in ("dot", "cos"):
            raise ValueError(f"similarity '{similarity}' is not one of: dot, cos")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if getattr(encoder, "pooler", None) is not None:
            encoder.pooler = None
        self.encoder = encoder
        self.projection = nn.Linear(encoder.config.hidden_size, proj_dim)
        self.pooling, self.similarity, self.temperature = pooling, similarity, float(temperature)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Embeddings ``[batch, proj_dim]`` of tokenised texts."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "last":
            last = attention_mask.shape[1] - 1 - attention_mask.flip(1).argmax(1)  # either padding side
            pooled = hidden[torch.arange(len(hidden), device=hidden.device), last]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        vectors = self.projection(pooled)
        return nn.functional.normalize(vectors, dim=-1) if self.similarity == "cos" else vectors

    forward = encode

    def score(self, queries: torch.Tensor, passages: torch.Tensor) -> torch.Tensor:
        """All query-passage scores ``[n_queries, n_passages]``: inner products / temperature."""
        return queries @ passages.T / self.temperature

    def non_embedding_parameters(self, include_projection: bool = False) -> int:
        """N as in Kaplan et al.: every encoder parameter except token, position and token-type
        embedding tables (``nn.Embedding`` modules). The embedding LayerNorm is counted; the
        removed pooler is not, nor are LoRA adapters (N is the backbone's). The projection is counted
        only with ``include_projection`` (DRScale counts it, in units of 1024**2; we count plain parameters)."""
        embedding = {id(p) for m in self.encoder.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
        count = sum(p.numel() for name, p in self.encoder.named_parameters()
                    if id(p) not in embedding and "lora_" not in name)
        if include_projection:
            count += sum(p.numel() for p in self.projection.parameters())
        return count

    def size_fields(self) -> dict[str, int]:
        """results.json's sizes: ``N`` (Kaplan's), ``N_with_projection`` (DRScale's), ``N_total`` (every
        parameter, adapters included) and ``N_trainable`` (those training updates: all of them, or
        with LoRA the adapters and the projection)."""
        return {"N": self.non_embedding_parameters(),
                "N_with_projection": self.non_embedding_parameters(include_projection=True),
                "N_total": sum(p.numel() for p in self.parameters()),
                "N_trainable": sum(p.numel() for p in self.parameters() if p.requires_grad)}

    def save_pretrained(self, folder: str | Path) -> None:
        """Save to a folder that :meth:`from_pretrained` reads back. With LoRA adapters, ``encoder/``
        holds the Transformer with the adapters merged in (what every reader loads) and ``adapter/``
        the adapters alone, as peft saves them (:func:`~dense_scaling.model.lora.load_adapters`)."""
        folder = Path(folder)
        lora.merged(self.encoder).save_pretrained(folder / "encoder")
        if lora.has_adapters(self.encoder):
            lora.save_adapters(self.encoder, folder / lora.ADAPTER_FOLDER)
        torch.save(self.projection.state_dict(), folder / PROJECTION_FILE)
        settings = {"proj_dim": self.projection.out_features, "pooling": self.pooling,
                    "similarity": self.similarity, "temperature": self.temperature}
        (folder / SETTINGS_FILE).write_text(json.dumps(settings, indent=2))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "BiEncoder":
        """Load a bi-encoder saved by :meth:`save_pretrained`."""
        folder = Path(folder)
        if not (folder / SETTINGS_FILE).exists():
            raise FileNotFoundError(f"{folder} holds no {SETTINGS_FILE}; it was not saved by BiEncoder.save_pretrained")
        settings = json.loads((folder / SETTINGS_FILE).read_text())
        model = cls(AutoModel.from_pretrained(folder / "encoder"), **settings)
        model.projection.load_state_dict(torch.load(folder / PROJECTION_FILE, weights_only=True))
        return model

    def save_sentence_transformer(self, folder: str | Path, tokenizer, max_query_length: int,
                                  max_passage_length: int, card: str | None = None) -> Path:
        """Write a folder that ``sentence_transformers.SentenceTransformer(folder)`` loads with the same
        embeddings: this pooling, the projection as a Dense module, Normalize for cosine, and the
        query and passage lengths (``encode_query``, ``encode_document``); ``card`` is its README.md
        (by default :func:`~dense_scaling.model.model_card.model_card` without a training run)."""
        card = card or model_card(self, max_query_length, max_passage_length)
        return st_folder.write_sentence_transformer(self, tokenizer, folder, max_query_length, max_passage_length, card)

    @classmethod
    def from_sentence_transformer(cls, folder: str | Path, dropout: float | None = None,
                                  temperature: float | None = None) -> "BiEncoder":
        """The BiEncoder of a local sentence-transformers folder, computing its embeddings: its pooling,
        its Dense module as the projection (the identity when it has none), cosine when it normalises.
        The temperature is ``temperature``, else the one it was exported with from here, else 0.05
        for a normalising model (sentence-transformers' MultipleNegativesRankingLoss scale 20) and 1
        for a dot-product one."""
        transformer = AutoConfig.from_pretrained(str(folder), local_files_only=True)  # its Transformer's, in the root
        parts = st_folder.read_sentence_transformer(folder, dropout_settings(transformer, dropout))
        temperature = temperature or parts.temperature or (0.05 if parts.similarity == "cos" else 1.0)
        hidden = parts.encoder.config.hidden_size
        proj_dim = parts.projection.out_features if parts.projection is not None else hidden
        model = cls(parts.encoder, proj_dim, parts.pooling, parts.similarity, temperature)
        with torch.no_grad():
            if parts.projection is not None:
                model.projection.load_state_dict(parts.projection.state_dict())
            else:
                model.projection.weight.copy_(torch.eye(hidden))
                model.projection.bias.zero_()
        return model


def load_encoder(
    init: str,
    hub_id: str | None = None,
    arch: dict | None = None,
    vocab_size: int | None = None,
    dropout: float | None = None,
    special_tokens: dict[str, int] | None = None,
) -> nn.Module:
    """A Transformer encoder: ``init='pretrained'`` loads ``hub_id`` (a hub id or a local folder);
    ``init='scratch'`` builds the architecture ``arch`` (``model_type`` plus config fields) with
    random weights, ``vocab_size`` tokens and the tokenizer's ``special_tokens`` ids (``pad_token_id``,
    ...). ``dropout`` (None: the model's own) goes to every dropout setting the config has."""
    if init == "pretrained":
        if not hub_id:
            raise ValueError("init=pretrained needs model.hub_id (a hub id or a local folder)")
        try:
            config = _with_dropout(AutoConfig.from_pretrained(hub_id), dropout)
            return AutoModel.from_pretrained(hub_id, config=config)
        except OSError as err:
            raise OSError(
                f"cannot load pretrained model '{hub_id}': it is neither a local folder nor in the "
                f"Hugging Face cache, and it could not be downloaded ({type(err).__name__}). Use a local "
                f"folder (model.hub_id=/path/to/saved/model) or train from scratch with init=scratch"
            ) from None
    if init == "scratch":
        if not arch or "model_type" not in arch:
            raise ValueError("init=scratch needs model.arch with a model_type and its sizes")
        fields = {k: v for k, v in arch.items() if k != "model_type"}
        if vocab_size is not None:
            fields["vocab_size"] = vocab_size
        fields.update(special_tokens or {})
        config = _with_dropout(AutoConfig.for_model(arch["model_type"], **fields), dropout)
        if config.pad_token_id is not None and config.pad_token_id >= config.vocab_size:
            raise ValueError(f"model type '{arch['model_type']}' pads with token {config.pad_token_id}, outside the "
                             f"{config.vocab_size:,}-token vocabulary: give the tokenizer's ids, "
                             f"special_tokens=special_token_ids(tokenizer)")
        return AutoModel.from_config(config)
    raise ValueError(f"init '{init}' is not one of: pretrained, scratch")


def dropout_settings(config, dropout: float | None) -> dict[str, float]:
    """Each dropout setting ``config`` has (named differently by each family) set to ``dropout``;
    none for None (the model's own)."""
    if dropout is None:
        return {}
    names = [name for name in DROPOUT_FIELDS if hasattr(config, name)]
    if not names:
        raise ValueError(f"training.dropout={dropout}: model type '{config.model_type}' has none of the dropout "
                         f"settings known here ({', '.join(DROPOUT_FIELDS)}); set training.dropout=null to keep its own")
    return dict.fromkeys(names, dropout)


def _with_dropout(config, dropout: float | None):
    for name, value in dropout_settings(config, dropout).items():
        setattr(config, name, value)
    return config


def special_token_ids(tokenizer) -> dict[str, int]:
    """The ids a from-scratch model's config takes from ``tokenizer``: padding (the embedding row kept
    at zero) and the begin/end tokens, [CLS] and [SEP] for a WordPiece tokenizer."""
    ids = {"pad_token_id": tokenizer.pad_token_id, "cls_token_id": tokenizer.cls_token_id,
           "sep_token_id": tokenizer.sep_token_id, "bos_token_id": tokenizer.cls_token_id or tokenizer.bos_token_id,
           "eos_token_id": tokenizer.sep_token_id or tokenizer.eos_token_id}
    return {key: value for key, value in ids.items() if value is not None}


def check_vocabulary(vocab_size: int, encoder: nn.Module, hub_id: str | None) -> None:
    """Refuse a tokenizer with more tokens than the pretrained ``encoder`` has embedding rows: its
    largest ids would index past the table (an error deep in the first step, or wrong rows)."""
    rows = encoder.get_input_embeddings().num_embeddings
    if vocab_size > rows:
        raise ValueError(
            f"init=pretrained: the tokenizer has {vocab_size:,} tokens but model '{hub_id}' has an embedding "
            f"table of {rows:,} rows, so token ids {rows:,} and above have no embedding. Use the model's own "
            f"tokenizer (tokenizer=pretrained), a vocab of at most {rows:,} tokens, or train from scratch (init=scratch)"
        )


def build_biencoder(
    init: str,
    hub_id: str | None = None,
    arch: dict | None = None,
    vocab_size: int | None = None,
    dropout: float | None = None,
    proj_dim: int = 768,
    pooling: str = "mean",
    similarity: str = "dot",
    temperature: float = 1.0,
    name: str | None = None,
    special_tokens: dict[str, int] | None = None,
    lora_settings: dict | None = None,
) -> BiEncoder:
    """A :class:`BiEncoder` from a model config (the Hydra ``model`` group); ``name`` is a label.
    ``vocab_size`` is the tokenizer's; a pretrained encoder must have an embedding row for each token.
    ``lora_settings`` (``r``, ``alpha``, ``dropout``, ``target_modules``; ``r`` None: no adapters)
    freezes the Transformer and trains LoRA adapters on it (:mod:`dense_scaling.model.lora`).
    A local sentence-transformers folder as ``hub_id`` gives the model it holds, projection included
    (:meth:`BiEncoder.from_sentence_transformer`); the settings must then be the folder's.
    The model is in training mode (``from_pretrained`` of transformers hands its models over in eval
    mode, and Lightning keeps the mode it finds, so dropout would be off in fine-tuning)."""
    if init == "pretrained" and st_folder.is_sentence_transformer(hub_id):
        model = BiEncoder.from_sentence_transformer(hub_id, dropout, temperature)
        _check_settings(model, hub_id, proj_dim=proj_dim, pooling=pooling, similarity=similarity)
        if vocab_size is not None:
            check_vocabulary(vocab_size, model.encoder, hub_id)
    else:
        encoder = load_encoder(init, hub_id, dict(arch) if arch else None, vocab_size, dropout, special_tokens)
        if init == "pretrained" and vocab_size is not None:
            check_vocabulary(vocab_size, encoder, hub_id)
        model = BiEncoder(encoder, proj_dim=proj_dim, pooling=pooling, similarity=similarity, temperature=temperature)
    if lora_settings and lora_settings.get("r") is not None:
        model.encoder = lora.add_adapters(model.encoder, **lora_settings)
    return model.train()


def _check_settings(model: BiEncoder, hub_id: str, **settings) -> None:
    """Refuse settings that differ from those of the sentence-transformers model ``model`` was read from."""
    holds = {"proj_dim": model.projection.out_features, "pooling": model.pooling, "similarity": model.similarity}
    wrong = [f"{key}={holds[key]} (not {value})" for key, value in settings.items() if holds[key] != value]
    if wrong:
        raise ValueError(
            f"init=pretrained: the sentence-transformers model '{hub_id}' has {', '.join(wrong)}; a run starts from "
            f"it as it is, so set {' '.join(entry.split(' ')[0] for entry in wrong)}"
        )
