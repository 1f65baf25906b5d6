"""Overrides of a training run small enough for a test: a 300-passage quickstart, a 1-layer
32-wide model, batches of 8, and (``TINY_EVAL``) a one-repeat evaluation."""

TINY_DATA = ["data.num_train_pairs=64", "+data.reader.num_passages=300", "+data.reader.num_test_passages=60",
             "+data.reader.num_concepts=60"]
TINY_RUN = ["model=micro_L1_H32", "training.batch_size=8", "training.num_negatives=8", "training.num_workers=0",
            *TINY_DATA]
TINY_EVAL = ["eval.repeats=1", "eval.pool_size=300"]
