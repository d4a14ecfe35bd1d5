import pytest

from mpq.core.errors import ParameterError
from mpq.core.params import parse_bool as flag


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("yes", True), (" ON ", True), ("1", True), ("false", False),
     ("", False), ("No", False)],
)  # fmt: skip
def test_flag_reads_text_and_bools(value, expected):
    assert flag(value, "x") is expected


def test_flag_refuses_anything_else():
    with pytest.raises(ParameterError, match="trust_remote_code must be true or false"):
        flag("maybe", "trust_remote_code")
