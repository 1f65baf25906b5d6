"""The composed training config is checked before any data is read; each bad setting is named."""
import pytest

from dense_scaling.config_check import ConfigError, check_train_config

BAD_SETTINGS = [
    ("training.max_steps=-1", "training.max_steps=-1 must be >= 1"),
    ("training.max_steps=0", "training.max_steps=0 must be >= 1"),
    ("training.batch_size=0", "training.batch_size=0 must be >= 1"),
    ("training.lr=abc", "training.lr='abc' is not a number"),
    ("training.lr=0", "training.lr=0 must be > 0"),
    ("training.dropout=1.0", "training.dropout=1.0 must be < 1"),
    ("training.num_negatives=-3", "training.num_negatives=-3 must be >= 0"),
    ("data.num_train_pairs=abc", "data.num_train_pairs='abc' is not a whole number"),
    ("data.num_train_pairs=12.5", "data.num_train_pairs=12.5 is not a whole number"),
    ("data.num_train_pairs=0", "data.num_train_pairs=0 must be >= 1"),
    ("data.max_passage_length=1", "data.max_passage_length=1 must be >= 3"),
    ("eval.every_n_steps=0", "eval.every_n_steps=0 must be >= 1: give a whole number >= 1; to evaluate only at the end"),
    ("eval.protocol=best", "eval.protocol='best' is not one of the choices: give one of test-best, val-selected"),
    ("eval.repeats=0", "eval.repeats=0 must be >= 1"),
    ("temperature=0", "temperature=0 must be > 0"),
    ("temperature=-1", "temperature=-1 must be > 0"),
    ("similarity=euclid", "similarity='euclid' is not one of the choices: give one of dot, cos"),
    ("init=random", "init='random' is not one of the choices"),
    ("training.in_batch_negatives=maybe", "training.in_batch_negatives='maybe' is not one of the choices"),
    ("+training.foo=1", "training.foo is not a setting (known keys:"),
    ("+training.max_step=5", "training.max_step is not a setting (did you mean training.max_steps?)"),
    ("+eval.repeat=2", "eval.repeat is not a setting (did you mean eval.repeats?)"),
]


@pytest.mark.parametrize("override,message", BAD_SETTINGS, ids=[o for o, _ in BAD_SETTINGS])
def test_a_bad_setting_is_named_with_what_is_allowed(compose_train, override, message):
    with pytest.raises(ConfigError, match="invalid settings: ") as error:
        check_train_config(compose_train(override))
    assert message in str(error.value)


def test_every_problem_is_listed_at_once(compose_train):
    with pytest.raises(ConfigError) as error:
        check_train_config(compose_train("training.lr=abc", "training.batch_size=0"))
    assert "training.lr='abc'" in str(error.value) and "training.batch_size=0" in str(error.value)


@pytest.mark.parametrize("overrides", [
    (), ("eval=none",), ("data.num_train_pairs=null",), ("training.lr=1",), ("eval.pool_size=null",),
    ("data=squad", "tokenizer=vocab", "model=bert_tiny", "init=scratch", "similarity=dot", "temperature=1"),
])
def test_the_shipped_settings_pass(compose_train, overrides):
    check_train_config(compose_train(*overrides))
