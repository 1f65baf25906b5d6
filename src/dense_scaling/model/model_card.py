"""The model card (README.md) of an exported model: its size, its data, how it was trained and what
its training run measured, from the run's results.json."""
from __future__ import annotations

import math

from dense_scaling.results import RunResults, format_metrics

TRAINING_KEYS = ("max_steps", "batch_size", "num_negatives", "in_batch_negatives", "lr", "weight_decay",
                 "warmup_steps", "dropout")


def model_card(model, query_length: int, passage_length: int, results: RunResults | None = None) -> str:
    """Markdown for a BiEncoder exported to sentence-transformers; ``results`` (its training run's)
    adds D, the data, the recipe and the measured CE and ranking metrics."""
    sizes, config = model.size_fields(), model.encoder.config
    similarity = "cosine" if model.similarity == "cos" else "dot product"
    lines = [
        "---", "library_name: sentence-transformers", "tags:", "- sentence-transformers", "- dense-retrieval",
        "- dense-scaling", "---", "",
        f"# {results.run.model if results and results.run.model else 'dense-scaling bi-encoder'}", "",
        "A dense retriever trained with dense-scaling (after Fang et al., Scaling Laws for Dense Retrieval, SIGIR 2024).", "",
        "## Model", "",
        f"- N = {sizes['N']:,} non-embedding parameters (Kaplan's count, projection excluded); "
        f"{sizes['N_with_projection']:,} with the projection; {sizes['N_total']:,} in all",
        f"- encoder: {config.model_type}, {config.num_hidden_layers} layer{'s' * (config.num_hidden_layers != 1)}, "
        f"hidden size {config.hidden_size}",
        f"- {model.pooling} pooling, a linear projection to {model.projection.out_features} dimensions, "
        f"{similarity} scores (trained with temperature {model.temperature:g})",
        f"- queries truncated to {query_length} tokens (`encode_query`), passages to {passage_length} "
        f"(`encode_document`, `encode`)",
    ]
    if results is not None:
        lines += _training(results) + _measured(results)
    lines += ["", "## Usage", "", "```python", "from sentence_transformers import SentenceTransformer",
              'model = SentenceTransformer("path/to/this/folder")',
              'queries = model.encode_query(["what is a dense retriever?"])',
              'passages = model.encode_document(["A dense retriever embeds queries and passages."])',
              "scores = model.similarity(queries, passages)", "```", ""]
    return "\n".join(lines)


def _training(results: RunResults) -> list[str]:
    cfg, run = results.config, results.run
    training = cfg.get("training", {})
    start = (f"from `{cfg.get('encoder', {}).get('hub_id')}`" if cfg.get("init") == "pretrained"
             else "from scratch (random weights)")
    recipe = ", ".join(f"{key} {training[key]}" for key in TRAINING_KEYS if key in training)
    return [
        "", "## Training", "",
        f"- data: {run.data} (annotation: {run.annotation}), D = "
        + (f"{results.D:,} training pairs" if results.D is not None else "unknown"),
        f"- started {start}; {results.steps} steps, seed {run.seed}, precision {run.precision}",
        f"- recipe: {recipe}" if recipe else "- recipe: not recorded",
        "- loss: cross-entropy of the positive among the batch's shared random negatives"
        + (" and in-batch negatives" if training.get("in_batch_negatives") else ""),
    ]


def _measured(results: RunResults) -> list[str]:
    ce, ranking = results.ce, results.ranking
    if ce is None:
        return ["", "## Measured", "", "No evaluation ran in training."]
    interval = f" [{ce.reported_ci95[0]:.4f}, {ce.reported_ci95[1]:.4f}]" if ce.reported_ci95 else ""
    lines = [
        "", "## Measured", "",
        f"- contrastive entropy {ce.reported:.4f}{interval} (95% CI) on {ce.num_pairs:,} test pairs of "
        f"{results.run.data}, K = {ce.K} random negatives, R = {ce.R} repeats (random model: "
        f"ln(K+1) = {math.log(ce.K + 1):.4f}); protocol {results.protocol}, step {ce.reported_step}",
    ]
    if ranking is not None:
        lines.append(f"- ranking over {ranking.subcorpus_size:,} passages: {format_metrics(ranking.metrics)}")
    return lines
