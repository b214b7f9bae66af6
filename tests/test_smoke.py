from __future__ import annotations

from flask import Flask


def test_counts_visits(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/incr/n").text == "1"
    assert client.post("/incr/n").text == "2"
    assert client.get("/get/n").json == {"value": "2", "sid": client.get("/get/n").json["sid"], "new": False}
