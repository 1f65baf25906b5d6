"""Every row of docs/bad-inputs.md: the bad input gets its message (or is read correctly), and the
page shows the message the code gives today."""
import pytest

from tests.helpers.bad_inputs import CASES, DOC, outcome


@pytest.fixture(scope="module")
def page():
    return DOC.read_text(encoding="utf-8")


def test_the_table_has_every_case_once_and_at_least_sixty():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 60


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input_gets_its_message(case, tmp_path, page):
    message = outcome(case, tmp_path / case.id)
    assert case.expect in message
    row = next((line for line in page.splitlines() if line.startswith(f"| `{case.id}` |")), None)
    assert row is not None, f"{case.id} is not in {DOC.name}; run python -m tests.helpers.bad_inputs"
    assert f"`{message}`" in row.replace("\\|", "|"), f"{DOC.name} is out of date; run python -m tests.helpers.bad_inputs"
