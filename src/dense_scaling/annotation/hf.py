"""Hugging Face generation for the generators: loading with a clear offline error, and
batched sampling with one seed per generated row."""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer, LogitsProcessorList

from dense_scaling.annotation.records import AnnotationError
from dense_scaling.annotation.sampling import SeededSampler

MODEL_CLASSES = {"seq2seq": AutoModelForSeq2SeqLM, "causal": AutoModelForCausalLM}


def load_generator_model(
    name: str, kind: str, device: str = "auto", dtype: str | None = None, trust_remote_code: bool = False
):
    """``(tokenizer, model)`` from a local folder or the Hugging Face hub (or its cache), in
    eval mode on ``device`` (``auto``: CUDA when there is one). A causal LM's tokenizer pads on
    the left."""
    if name.startswith((".", "/", "~")) and not Path(name).expanduser().is_dir():
        raise AnnotationError(
            f"no model folder '{name}'; pass a local folder written by save_pretrained (method.model=/path/to/folder)"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
        model = MODEL_CLASSES[kind].from_pretrained(
            name, trust_remote_code=trust_remote_code, **({"dtype": getattr(torch, dtype)} if dtype else {})
        )
    except (OSError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AnnotationError(
            f"cannot load the model '{name}' from the Hugging Face hub or its cache ({reason}); without "
            f"network access pass a local folder written by save_pretrained (method.model=/path/to/folder)"
        ) from None
    if kind == "causal":
        tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return tokenizer, model.to(device).eval()


def sample_texts(
    tokenizer,
    model,
    inputs: list[str],
    row_seeds: list[int],
    per_input: int = 1,
    top_k: int = 0,
    top_p: float = 1.0,
    temperature: float = 1.0,
    max_input_tokens: int | None = None,
    max_new_tokens: int = 64,
) -> list[str]:
    """``per_input`` sampled continuations of each input, ``len(inputs) * per_input`` texts in
    input order; generated row ``i`` draws from ``row_seeds[i]``. A causal LM's inputs are
    complete prompts (special tokens included, e.g. from a chat template): only the new tokens
    are decoded."""
    encoder_decoder = model.config.is_encoder_decoder
    encoded = tokenizer(
        inputs,
        return_tensors="pt",
        padding=True,
        truncation=max_input_tokens is not None,
        max_length=max_input_tokens,
        add_special_tokens=encoder_decoder,
    ).to(model.device)
    sampler = SeededSampler(row_seeds, top_k=top_k, top_p=top_p, temperature=temperature)
    with torch.inference_mode():
        generated = model.generate(
            **encoded,
            do_sample=True,  # over the sampler's one-hot scores: takes the sampler's token
            top_k=0,
            top_p=1.0,
            temperature=1.0,
            num_return_sequences=per_input,
            max_new_tokens=max_new_tokens,
            logits_processor=LogitsProcessorList([sampler]),
            pad_token_id=tokenizer.pad_token_id,
        )
    if not encoder_decoder:
        generated = generated[:, encoded["input_ids"].shape[1] :]
    return [text.strip() for text in tokenizer.batch_decode(generated, skip_special_tokens=True)]
