import math

import torch

from dense_scaling.model.loss import contrastive_loss


def _hand_ce(row: list[float], target: int) -> float:
    return -(row[target] - math.log(sum(math.exp(s) for s in row)))


SCORES = torch.tensor(
    [
        # B=2 positives, then K=2 shared negatives
        [2.0, 0.5, 1.0, -1.0],
        [0.3, 1.5, 0.2, 0.7],
    ]
)
NO_LABELS = torch.tensor([[True, False, False, False], [False, True, False, False]])


def test_loss_with_in_batch_negatives_equals_hand_computation():
    expected = (_hand_ce([2.0, 0.5, 1.0, -1.0], 0) + _hand_ce([0.3, 1.5, 0.2, 0.7], 1)) / 2
    assert math.isclose(contrastive_loss(SCORES, NO_LABELS).item(), expected, rel_tol=1e-6)


def test_loss_without_in_batch_negatives_leaves_other_positives_out():
    expected = (_hand_ce([2.0, 1.0, -1.0], 0) + _hand_ce([1.5, 0.2, 0.7], 0)) / 2
    loss = contrastive_loss(SCORES, NO_LABELS, in_batch_negatives=False)
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)


def test_accidental_positive_is_masked():
    # negative column 2 is also a labelled positive of query 0; query 1's positive (column 0) too
    labels = NO_LABELS.clone()
    labels[0, 2] = True
    labels[1, 0] = True
    expected = (_hand_ce([2.0, 0.5, -1.0], 0) + _hand_ce([1.5, 0.2, 0.7], 0)) / 2
    assert math.isclose(contrastive_loss(SCORES, labels).item(), expected, rel_tol=1e-6)


def test_loss_gradient_is_finite_with_masks():
    scores = SCORES.clone().requires_grad_()
    labels = NO_LABELS.clone()
    labels[0, 3] = True
    contrastive_loss(scores, labels).backward()
    assert torch.isfinite(scores.grad).all()
    assert scores.grad[0, 3] == 0


def test_shares_of_a_batch_average_to_the_whole_batch_loss():
    # a data-parallel rank scores its share of the queries against the whole batch's candidates
    labels = NO_LABELS.clone()
    labels[1, 2] = True
    for in_batch in (True, False):
        whole = contrastive_loss(SCORES, labels, in_batch)
        shares = [contrastive_loss(SCORES[i : i + 1], labels[i : i + 1], in_batch, first_query=i, num_positives=2)
                  for i in range(2)]
        assert math.isclose(whole.item(), sum(s.item() for s in shares) / 2, rel_tol=1e-6)
