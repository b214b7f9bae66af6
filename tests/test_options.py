"""The table of options: one entry per key makes the defaults, the checks and the docs."""

from __future__ import annotations

import dataclasses
import datetime
import typing as t

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from flask_hybridsession import ConfigurationError
from flask_hybridsession import options
from flask_hybridsession.config import DEFAULTS
from flask_hybridsession.config import DESCRIPTIONS
from flask_hybridsession.config import OPTIONS
from flask_hybridsession.config import Settings
from flask_hybridsession.config import load_settings
from flask_hybridsession.options import Invalid
from flask_hybridsession.options import Option

from .conftest import SECRET

NO_CONFIG: dict[str, t.Any] = {}


def _app(**config: t.Any) -> Flask:
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY=SECRET, **config)
    return app


def test_every_key_is_one_entry_with_a_doc_line() -> None:
    keys = [option.key for option in OPTIONS]
    assert len(keys) == len(set(keys))
    for option in OPTIONS:
        assert option.key.startswith("HYBRID_SESSION_") and option.key.isupper(), option.key
        assert option.doc and option.doc.endswith("."), option.key


def test_defaults_and_descriptions_are_made_from_the_table_in_its_order() -> None:
    assert list(DEFAULTS.items()) == [(option.key, option.default) for option in OPTIONS]
    assert list(DESCRIPTIONS.items()) == [(option.key, option.doc) for option in OPTIONS]


def test_every_option_is_a_settings_field_in_the_same_order() -> None:
    # Settings keeps its fields typed for mypy; this keeps it and the table one list.
    assert [option.field for option in OPTIONS] == [
        field.name for field in dataclasses.fields(Settings)
    ]


def test_every_default_is_accepted_by_its_own_parser() -> None:
    defaults = dict(DEFAULTS)
    settings = load_settings(_app())
    for option in OPTIONS:
        assert option.read(defaults) == getattr(settings, option.field), option.key


def test_defaults_are_written_back_for_every_key() -> None:
    app = _app()
    load_settings(app)
    assert {key: app.config[key] for key in DEFAULTS} == DEFAULTS


def test_field_is_the_key_without_prefix_unless_named() -> None:
    assert Option("HYBRID_SESSION_IDLE_TIMEOUT", None, options.flag, "x.").field == "idle_timeout"
    named = Option("HYBRID_SESSION_REDIS", None, options.flag, "x.", attribute="redis_client")
    assert named.field == "redis_client"


def test_read_names_the_key_and_leaves_no_parser_exception_behind() -> None:
    option = Option("HYBRID_SESSION_X", True, options.flag, "x.")
    with pytest.raises(ConfigurationError) as info:
        option.read({"HYBRID_SESSION_X": "yes"})
    assert info.value.key == "HYBRID_SESSION_X"
    assert str(info.value) == "HYBRID_SESSION_X: is 'yes'; use True or False."
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_keys_are_checked_in_table_order_then_combinations() -> None:
    # Two wrong keys: the one higher in the table (and the reference) is named.
    app = _app(HYBRID_SESSION_TOKEN_CACHE=-1, HYBRID_SESSION_MODE="redis")
    with pytest.raises(ConfigurationError) as info:
        load_settings(app)
    assert info.value.key == "HYBRID_SESSION_MODE"
    # A combination is checked once every key is fine alone.
    app = _app(
        HYBRID_SESSION_MODE="server",
        HYBRID_SESSION_FAIL_OPEN_JWT=True,
        HYBRID_SESSION_TOKEN_CACHE=-1,
    )
    with pytest.raises(ConfigurationError) as info:
        load_settings(app)
    assert info.value.key == "HYBRID_SESSION_TOKEN_CACHE"


# The reusable parsers.


def test_one_of() -> None:
    parse = options.one_of(("a", "b"), "use 'a' or 'b'.")
    assert parse("b", NO_CONFIG) == "b"
    for value in ("c", "", None, ["a"]):
        with pytest.raises(Invalid, match="use 'a' or 'b'"):
            parse(value, NO_CONFIG)


def test_subset() -> None:
    parse = options.subset(frozenset({"x", "y"}), "use a subset.")
    assert parse("x", NO_CONFIG) == frozenset({"x"})
    assert parse(["x", "y", "x"], NO_CONFIG) == frozenset({"x", "y"})
    with pytest.raises(Invalid, match=r"^is \('z',\); use a subset\.$"):
        parse("z", NO_CONFIG)
    for value in ((), 5, None, ("x", "z"), [["x"]]):
        with pytest.raises(Invalid):
            parse(value, NO_CONFIG)


@given(st.one_of(st.integers(), st.booleans(), st.floats(), st.text(), st.none()))
def test_whole_number_takes_exactly_the_ints_of_its_range(value: object) -> None:
    parse = options.whole_number(0, 16, "use 0 to 16.")
    if type(value) is int and 0 <= value <= 16:
        assert parse(value, NO_CONFIG) == value
    else:
        with pytest.raises(Invalid, match="use 0 to 16"):
            parse(value, NO_CONFIG)


def test_seconds_take_a_whole_timedelta() -> None:
    parse = options.seconds(3600, "use seconds.")
    assert parse(datetime.timedelta(minutes=5), NO_CONFIG) == 300
    assert type(parse(datetime.timedelta(minutes=5), NO_CONFIG)) is int
    assert parse(3600, NO_CONFIG) == 3600
    for value in (datetime.timedelta(seconds=1.5), 0, 3601, 1.0, True, "60"):
        with pytest.raises(Invalid, match="use seconds"):
            parse(value, NO_CONFIG)


def test_positive_number() -> None:
    parse = options.positive_number(60, "use 0 to 60.")
    assert parse(2, NO_CONFIG) == 2.0 and type(parse(2, NO_CONFIG)) is float
    for value in (0, -1, 60.5, True, "1", None):
        with pytest.raises(Invalid):
            parse(value, NO_CONFIG)


def test_text() -> None:
    assert options.text("fix.", forbid="{}")("", NO_CONFIG) == ""
    with pytest.raises(Invalid, match="fix"):
        options.text("fix.", forbid="{}")("a{b}", NO_CONFIG)
    with pytest.raises(Invalid, match="fix"):
        options.text("fix.", allow_empty=False)("", NO_CONFIG)
    with pytest.raises(Invalid, match="fix"):
        options.text("fix.")(b"bytes", NO_CONFIG)


def test_optional_passes_none_through() -> None:
    parse = options.optional(options.flag)
    assert parse(None, NO_CONFIG) is None
    assert parse(False, NO_CONFIG) is False
    with pytest.raises(Invalid):
        parse(0, NO_CONFIG)


def test_keys_are_never_quoted() -> None:
    secret = b"s" * 31
    for parse in (options.secret_key(32, "fix."), options.key_ring(32, "fix.")):
        with pytest.raises(Invalid) as info:
            parse(secret, NO_CONFIG)
        assert "sss" not in str(info.value)
    assert options.secret_key(32, "fix.")(b"k" * 32, NO_CONFIG) == b"k" * 32


def test_key_ring() -> None:
    parse = options.key_ring(32, "fix.")
    one, two = b"1" * 32, b"2" * 32
    assert parse(one, NO_CONFIG) == (one,)
    assert parse([one, two], NO_CONFIG) == (one, two)
    for value in ([], [one, b"short"], ["x" * 32], {one}, "x" * 32):
        with pytest.raises(Invalid, match="fix"):
            parse(value, NO_CONFIG)


def test_pem() -> None:
    text = "-----BEGIN PUBLIC KEY-----\n..."
    assert options.pem(text, NO_CONFIG) == text.encode()
    assert options.pem_list(text, NO_CONFIG) == (text.encode(),)
    assert options.pem_list(None, NO_CONFIG) == ()
    assert options.pem_list([text, text.encode()], NO_CONFIG) == (text.encode(),) * 2
    for value in ("garbage", 5, None):
        with pytest.raises(Invalid, match="PEM-encoded"):
            options.pem(value, NO_CONFIG)


def test_redis_url_message_never_holds_the_url() -> None:
    url = "http://user:hunter2@127.0.0.1:6379"
    with pytest.raises(Invalid) as info:
        options.redis_url(url, NO_CONFIG)
    assert "hunter2" not in str(info.value) and "redis://" in str(info.value)
    assert options.redis_url("redis://127.0.0.1:6379/0", NO_CONFIG) == "redis://127.0.0.1:6379/0"


def test_redis_client_is_duck_typed() -> None:
    with pytest.raises(Invalid, match="is object; give a redis-py client"):
        options.redis_client(object(), NO_CONFIG)
