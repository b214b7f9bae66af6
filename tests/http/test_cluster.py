"""The session contract, login and revocation suites again, on a real 3-master Redis Cluster,
with the size and devices tests that need Redis.

Each session's keys share one hash tag and each user's another, so every
script touches one slot: no CROSSSLOT error, and the round-trip budget holds
(a pipeline flushed to several nodes in parallel is one round trip).
"""

from __future__ import annotations

import collections.abc as cabc
import typing as t

import pytest
import redis

from ..conftest import AppFactory
from ..conftest import running
from ..topology import LocalCluster

# The same tests, on the cluster: three suites whole, and the tests of two
# others that hold sessions in Redis.
from .test_devices import test_devices_list_and_revoke_one  # noqa: F401
from .test_devices import test_guest_server_reads_never_write_last_seen  # noqa: F401
from .test_login import *  # noqa: F403
from .test_revocation import *  # noqa: F403
from .test_session_contract import *  # noqa: F403
from .test_size_limits import test_jwt_session_over_budget_raises_session_too_large  # noqa: F401
from .test_size_limits import test_server_mode_holds_sessions_far_over_the_cookie_budget  # noqa: F401


@pytest.fixture(scope="module")
def cluster() -> cabc.Iterator[LocalCluster]:
    with running(LocalCluster, "hs-cluster-") as local:
        yield local


@pytest.fixture()
def rdb(cluster: LocalCluster) -> cabc.Iterator[t.Any]:
    client = cluster.client()
    client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    client.script_flush()  # goes to every primary
    yield client
    client.close()


@pytest.fixture()
def redis_url(rdb: t.Any, cluster: LocalCluster) -> str:
    return cluster.url


@pytest.fixture(params=["server", "auto"])
def mode(request: pytest.FixtureRequest) -> str:
    return t.cast(str, request.param)


def test_sessions_of_many_users_spread_over_every_master(
    make_login_app: AppFactory, cluster: LocalCluster
) -> None:
    app = make_login_app("server")
    for user in ("alice", "bob"):
        for _ in range(15):
            app.test_client().post(f"/login/{user}")
    for index in range(30):
        app.test_client().post(f"/set/k/{index}")
    counts = [node.client().dbsize() for node in cluster.nodes]
    assert all(count > 0 for count in counts), counts
    with app.app_context():
        assert app.extensions["hybrid_session"].revoke_user("alice") == 15
        assert len(app.extensions["hybrid_session"].sessions_for("bob")) == 15


def test_the_revocation_view_listens_on_every_master(
    make_login_app: AppFactory, cluster: LocalCluster, rdb: t.Any
) -> None:
    """One listener per master: a message reaches it from any node, and a
    user's generation changed on its own node (tracking) drops the user."""
    from flask_hybridsession import admin
    from flask_hybridsession.keys import KeyNames
    from flask_hybridsession.testing import settle_views

    from ..forging import read_jwt
    from .support import credential_of
    from .support import replay
    from .test_revocation_view import holding
    from .test_revocation_view import view_of

    # A prefix of its own: the views of the module's other apps listen on theirs.
    app = make_login_app("auto", HYBRID_SESSION_KEY_PREFIX="view-every-master:")
    alice, bob = app.test_client(), app.test_client()
    alice.post("/login/alice")
    bob.post("/login/bob")
    holding(app, alice)
    holding(app, bob)
    view = view_of(app)
    engine = app.session_interface.engine  # type: ignore[attr-defined]
    assert admin.stats(engine, app)["view_subscribers"] == len(
        rdb.get_primaries()
    )  # one per master

    # A message published anywhere reaches the view (the nodes pass it on).
    sid = read_jwt(credential_of(bob))[1]["sid"]
    hits = view.hits
    rdb.publish("view-every-master:view", f"s:{sid}")
    settle_views()
    assert bob.get("/me").status_code == 200
    assert view.hits == hits  # asked Redis again

    # Alice's generation replaced behind the app's back, on its own node.
    with app.test_request_context():
        tag = engine.user_tag(engine.context(app.config, engine.secrets(app.config)), "alice")
    credential = credential_of(alice)
    rdb.set(KeyNames("view-every-master:").user_generation(tag), "1234567890123456")
    settle_views()
    assert replay(app, credential).status_code == 401
