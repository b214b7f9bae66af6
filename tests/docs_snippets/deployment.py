"""docs/deployment.md: one configuration per Redis topology."""

from flask import Flask


def sentinel(app: Flask) -> None:
    # [sentinel]
    app.config["HYBRID_SESSION_MODE"] = "server"
    app.config["HYBRID_SESSION_REDIS_URL"] = (
        "redis+sentinel://:master-password@sentinel-1:26379,sentinel-2:26379,sentinel-3:26379"
        "/sessions/0?sentinel_password=sentinel-password"
    )
    app.config["HYBRID_SESSION_WAIT_REPLICAS"] = 1  # a write survives a failover
    # [end sentinel]


def cluster(app: Flask) -> None:
    # [cluster]
    app.config["HYBRID_SESSION_MODE"] = "auto"
    app.config["HYBRID_SESSION_REDIS_URL"] = "rediss+cluster://:password@node-1:6379,node-2:6379"
    # [end cluster]


def tls(app: Flask) -> None:
    # [tls]
    app.config["HYBRID_SESSION_REDIS_URL"] = (
        "rediss://:password@redis.internal:6380/0"
        "?ssl_cert_reqs=required&ssl_ca_certs=/etc/ssl/certs/redis-ca.pem"
    )
    # [end tls]


def tls_client(app: Flask) -> None:
    # [tls-client]
    import redis

    app.config["HYBRID_SESSION_REDIS"] = redis.Redis(
        host="redis.internal",
        port=6380,
        password="password",
        ssl=True,
        ssl_ca_certs="/etc/ssl/certs/redis-ca.pem",
        ssl_certfile="/etc/ssl/private/app.crt",  # client certificates, when Redis asks
        ssl_keyfile="/etc/ssl/private/app.key",
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )
    # [end tls-client]
