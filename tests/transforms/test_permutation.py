import pytest

from maflow.transforms import Permutation, RandomPermutation, ReversePermutation
from tests.contract import check_transform


@pytest.mark.parametrize(
    "make",
    [lambda: Permutation([3, 0, 2, 1]), lambda: ReversePermutation(4), lambda: RandomPermutation(4, seed=9)],
)
def test_permutation_contract(make):
    check_transform(make(), 4, factory=make)


def test_permutations_are_buffers():
    layer = RandomPermutation(6, seed=1)
    assert set(layer.state_dict()) == {"permutation", "inverse_permutation"}
    assert not list(layer.parameters())


def test_not_a_permutation_is_rejected():
    with pytest.raises(ValueError, match="permutation"):
        Permutation([0, 0, 1])
