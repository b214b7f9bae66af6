"""flask_hybridsession.serialization, called directly: Flask's tagged JSON, never pickle.

Every value is checked by type as well as by value (a tuple must not come back
a list, a Markup a str, True an int), and the text against Flask's own
``TaggedJSONSerializer``, which the module promises to match byte for byte.
"""

from __future__ import annotations

import datetime
import decimal
import json
import pathlib
import pickle
import typing as t
import uuid

import pytest
from flask.json.tag import JSONTag
from flask.json.tag import TaggedJSONSerializer
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from markupsafe import Markup

from flask_hybridsession.serialization import SessionSerializer

UTC: t.Final = datetime.UTC
MOMENT: t.Final = datetime.datetime(2026, 12, 4, 16, 30, 5, tzinfo=UTC)
ID: t.Final = uuid.UUID("12345678-1234-5678-1234-567812345678")

VALUES: t.Final = [
    pytest.param({"a": 1, "b": [2, 3]}, id="dict"),
    pytest.param({}, id="empty-dict"),
    pytest.param([1, "two", None], id="list"),
    pytest.param("text é \u2603 \U0001f600", id="str"),
    pytest.param("", id="empty-str"),
    pytest.param(-(2**70), id="int-big"),
    pytest.param(0, id="int-zero"),
    pytest.param(1.5, id="float"),
    pytest.param(1.0, id="float-integral"),
    pytest.param(-0.0, id="float-negative-zero"),
    pytest.param(float("inf"), id="float-infinity"),
    pytest.param(True, id="bool-true"),
    pytest.param(False, id="bool-false"),
    pytest.param(None, id="none"),
    pytest.param(b"\x00\xffbytes", id="bytes"),
    pytest.param(b"", id="empty-bytes"),
    pytest.param((1, "two", (3,)), id="tuple"),
    pytest.param((), id="empty-tuple"),
    pytest.param(MOMENT, id="datetime"),
    pytest.param(ID, id="uuid"),
    pytest.param(Markup("<b>bold</b>"), id="markup"),
    pytest.param({" t": [1, 2]}, id="dict-that-looks-like-a-tag"),
    pytest.param({" di": {" t": 1}}, id="dict-that-looks-like-an-escaped-dict"),
    pytest.param({" t": 1, "other": 2}, id="dict-with-a-tag-key-among-others"),
    pytest.param(["\udcff lone surrogate"], id="lone-surrogate"),
    pytest.param(
        {"cart": [(1, b"x")], "when": MOMENT, "id": ID, "note": Markup("<i>x</i>")},
        id="nested",
    ),
]


def same(a: t.Any, b: t.Any) -> bool:
    """Equal, and of the same type all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float) and a == 0:
        return str(a) == str(b)  # -0.0 stays -0.0
    return bool(a == b)


@pytest.fixture()
def serializer() -> SessionSerializer:
    return SessionSerializer()


@pytest.mark.parametrize("value", VALUES)
def test_tagged_types_round_trip(serializer: SessionSerializer, value: t.Any) -> None:
    text = serializer.dumps(value)
    assert same(serializer.loads(text), value)
    assert same(serializer.loads(serializer.dump_bytes(value)), value)


@pytest.mark.parametrize("value", VALUES)
def test_the_text_is_flasks(serializer: SessionSerializer, value: t.Any) -> None:
    """Byte for byte what Flask's own session serializer writes (no app context),
    and each reads what the other wrote."""
    flask = TaggedJSONSerializer()
    text = serializer.dumps(value)
    assert text == flask.dumps(value)
    assert same(flask.loads(text), value)
    assert same(serializer.loads(flask.dumps(value)), value)


def test_dump_bytes_is_ascii_json(serializer: SessionSerializer) -> None:
    data = serializer.dump_bytes({"k": "é\udcff", "b": b"\xff"})
    assert isinstance(data, bytes)
    data.decode("ascii")
    assert json.loads(data) == {"k": "é\udcff", "b": {" b": "/w=="}}


def test_a_naive_datetime_comes_back_in_utc_as_with_flask(serializer: SessionSerializer) -> None:
    naive = datetime.datetime(2026, 12, 4, 16, 30, 5)  # Flask reads a naive one as UTC
    assert serializer.loads(serializer.dumps(naive)) == naive.replace(tzinfo=UTC)
    # Whole seconds, as in an HTTP date.
    precise = MOMENT.replace(microsecond=123456)
    assert serializer.loads(serializer.dumps(precise)) == MOMENT


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({1, 2}, id="set"),
        pytest.param(object(), id="object"),
        pytest.param(decimal.Decimal("1.5"), id="decimal"),
        pytest.param({"k": frozenset()}, id="nested-frozenset"),
    ],
)
def test_a_value_of_no_tagged_type_is_refused_not_pickled(
    serializer: SessionSerializer, value: t.Any
) -> None:
    with pytest.raises(TypeError):
        serializer.dumps(value)


def test_a_registered_tag_round_trips_and_then_every_value_is_checked(
    serializer: SessionSerializer,
) -> None:
    class TagDecimal(JSONTag):
        key = " dec"

        def check(self, value: t.Any) -> bool:
            return isinstance(value, decimal.Decimal)

        def to_json(self, value: t.Any) -> t.Any:
            return str(value)

        def to_python(self, value: t.Any) -> t.Any:
            return decimal.Decimal(value)

    serializer.register(TagDecimal)
    value = {"price": decimal.Decimal("1.50"), "plain": [1, "a"], "t": (1,)}
    assert same(serializer.loads(serializer.dumps(value)), value)
    flask = TaggedJSONSerializer()
    flask.register(TagDecimal)
    assert serializer.dumps(value) == flask.dumps(value)


class Touch:
    """Unpickling this creates ``path``: the proof a pickle ran."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[t.Any, ...]:
        return (pathlib.Path.touch, (self.path,))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_a_pickle_is_never_loaded(
    serializer: SessionSerializer, tmp_path: pathlib.Path, protocol: int
) -> None:
    marker = tmp_path / "pickle-ran"
    payload = pickle.dumps(Touch(marker), protocol=protocol)
    with pytest.raises(ValueError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        serializer.loads(payload)
    assert not marker.exists()
    # Positive control: the payload is live, and the same call on it would run it.
    pickle.loads(payload)  # noqa: S301 - proves the marker works
    assert marker.exists()


# Round trips of any mix of Flask's types, bounded.

_datetimes = st.datetimes(
    min_value=datetime.datetime(1900, 1, 1),
    max_value=datetime.datetime(9999, 12, 31),
    timezones=st.just(UTC),
).map(lambda d: d.replace(microsecond=0))
_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.binary(max_size=64),
    st.uuids(),
    _datetimes,
    st.text(max_size=20).map(Markup),
)
_keys = st.sampled_from([" t", " b", " d", " m", " u", " di"]) | st.text(max_size=8)
session_values: t.Final = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(_keys, inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, database=None)
@given(value=st.dictionaries(st.text(max_size=8), session_values, max_size=6))
def test_any_session_round_trips_as_flasks_does(value: dict[str, t.Any]) -> None:
    serializer = SessionSerializer()
    text = serializer.dumps(value)
    assert same(serializer.loads(text), value)
    assert same(serializer.loads(serializer.dump_bytes(value)), value)
    assert text == TaggedJSONSerializer().dumps(value)
