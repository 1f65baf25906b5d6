"""trainer.precision=auto: bf16 only where the device computes it natively, said in one line."""
import logging

import pytest

from dense_scaling import precision
from dense_scaling.precision import BF16, FP32, choose, cpu_flags, cpu_precision, cuda_precision, trainer_precision
from dense_scaling.train import run

EPYC_AVX2 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse sse2 avx avx2 fma\n\nprocessor\t: 1\n"
SAPPHIRE_RAPIDS = "flags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
GRAVITON = "processor\t: 0\nFeatures\t: fp asimd sve bf16\n"


def cpuinfo(tmp_path, text):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return path


def test_cpu_flags_are_read_from_x86_and_arm_cpuinfo(tmp_path):
    assert cpu_flags(cpuinfo(tmp_path, EPYC_AVX2)) == {"fpu", "sse", "sse2", "avx", "avx2", "fma"}
    assert "bf16" in cpu_flags(cpuinfo(tmp_path, GRAVITON))
    assert cpu_flags(tmp_path / "absent") is None
    assert cpu_flags(cpuinfo(tmp_path, "processor\t: 0\n")) is None


@pytest.mark.parametrize("text, expected, named", [
    (EPYC_AVX2, FP32, "no native bf16"),
    ("flags : avx2 avx512f avx512_bf16\n", BF16, "avx512_bf16"),
    (SAPPHIRE_RAPIDS, BF16, "amx_bf16, avx512_bf16"),
    ("flags : avx2 avx512f avx512bw\n", FP32, "no native bf16"),  # AVX-512 without its bf16 instructions
])
def test_cpu_choice_follows_the_native_bf16_flags(tmp_path, text, expected, named):
    chosen, why = cpu_precision(cpu_flags(cpuinfo(tmp_path, text)))
    assert chosen == expected and named in why


def test_unreadable_flags_mean_fp32_and_say_so():
    chosen, why = cpu_precision(None)
    assert chosen == FP32 and "could not be read" in why


@pytest.mark.parametrize("capability, expected", [((8, 0), BF16), ((9, 0), BF16), ((7, 5), FP32), ((6, 1), FP32)])
def test_cuda_choice_follows_the_compute_capability(capability, expected):
    chosen, why = cuda_precision(capability)
    assert chosen == expected and f"{capability[0]}.{capability[1]}" in why


def test_auto_on_a_cpu_without_native_bf16_picks_fp32_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "CPUINFO", cpuinfo(tmp_path, EPYC_AVX2))
    chosen, line, warning = choose("auto", "cpu")
    assert (chosen, warning) == (FP32, False)
    assert line.startswith("precision 32-true (trainer.precision=auto): the CPU has no native bf16")


def test_bf16_asked_on_a_cpu_without_it_warns(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(precision, "CPUINFO", cpuinfo(tmp_path, EPYC_AVX2))
    with caplog.at_level(logging.INFO, logger="dense_scaling"):
        assert trainer_precision({"precision": "bf16-mixed", "accelerator": "cpu"}) == "bf16-mixed"
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "slower than in fp32" in record.getMessage()
    monkeypatch.setattr(precision, "CPUINFO", cpuinfo(tmp_path, SAPPHIRE_RAPIDS))
    assert choose("bf16-mixed", "cpu")[2] is False
    assert choose("32-true", "cpu") == ("32-true", "precision 32-true (trainer.precision=32-true, as asked)", False)


def test_a_run_prints_its_auto_precision_and_records_it(compose_train, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(precision, "CPUINFO", cpuinfo(tmp_path, EPYC_AVX2))
    cfg = compose_train("model=micro_L1_H32", "training.max_steps=2", "training.num_workers=0", "training.batch_size=4",
                        "training.num_negatives=4", "data.num_train_pairs=16", "~logger", "eval=none")
    assert cfg.trainer.precision == "auto"
    with caplog.at_level(logging.INFO, logger="dense_scaling"):
        results = run(cfg, tmp_path / "run")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("precision ")]
    assert lines == ["precision 32-true (trainer.precision=auto): the CPU has no native bf16 (neither amx_bf16 nor "
                     "avx512_bf16 in its flags); bf16 autocast would be emulated and slower"]
    assert results.run.precision == "32-true"
