import numpy as np
import pyarrow as pa
import pytest

from mpq.core.records import arrow_array

COLUMNS = [
    (pa.string(), ["a", None, "", "é ü", "x" * 300]),
    (pa.bool_(), [True, None, False, np.bool_(True), False, True, True, True, False]),
    (pa.int32(), [2, None, -(2**31), 2**31 - 1]),
    (pa.int64(), [0, None, np.int64(2**40), -5, np.int32(7)]),
    (pa.float64(), [0.5, None, float("nan"), 3, np.float32(0.25), -np.inf, np.int64(9), False]),
    (pa.list_(pa.float64()), [[1.0, 2.0], None, [], [np.nan], [3.0, 4.0, 5.0]]),
    (pa.string(), []),
    (pa.float64(), [None, None]),
]


@pytest.mark.parametrize(("kind", "values"), COLUMNS, ids=lambda x: str(x)[:20])
def test_arrow_arrays_equal_pyarrows_own(kind, values):
    ours, theirs = arrow_array(values, kind), pa.array(values, kind)
    ours.validate(full=True)
    assert ours.type == theirs.type
    assert ours.null_count == theirs.null_count
    assert [repr(v) for v in ours.to_pylist()] == [repr(v) for v in theirs.to_pylist()]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (pa.string(), 5),
        (pa.int64(), 3.0),
        (pa.int64(), True),
        (pa.int64(), "7"),
        (pa.float64(), "1.5"),
        (pa.int32(), 3.5),
        (pa.float64(), b"1"),
        (pa.bool_(), 1),
    ],
)
def test_values_of_another_type_are_refused(kind, value):
    with pytest.raises(TypeError, match="record column cannot hold"):
        arrow_array([value], kind)
