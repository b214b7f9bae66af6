"""docs/revocation.md: devices, log out everywhere, logout, regenerate, signals."""

# [account]
from flask import Blueprint
from flask import abort
from flask import session
from flask_login import current_user
from flask_login import login_required

from .login import hybrid

account = Blueprint("account", __name__, url_prefix="/account")


@account.get("/devices")
@login_required
def devices():
    return [
        {
            "sid": info.sid,
            "this_device": info.sid == session.sid,
            "last_seen": info.last_seen.isoformat(timespec="minutes"),
            "kept_in": info.mode,  # "jwt" (its token) or "server" (Redis)
            "browser": info.user_agent,
            "ip": info.ip,
        }
        for info in hybrid.sessions_for(current_user.get_id())
    ]


@account.post("/devices/<sid>/log-out")
@login_required
def log_out_device(sid):
    # A sid is not a secret: only let users end their own sessions.
    if sid not in {info.sid for info in hybrid.sessions_for(current_user.get_id())}:
        abort(404)
    hybrid.revoke(sid)
    return {"ended": sid}


@account.post("/log-out-everywhere")
@login_required
def log_out_everywhere():
    ended = hybrid.revoke_user(current_user.get_id())  # this device too
    return {"ended": ended}


@account.post("/password")
@login_required
def change_password():
    # ... store the new password hash ...
    hybrid.regenerate()  # a new id for this session; the old one is dead
    return {"changed": True}


@account.post("/log-out-this-device")
def log_out():
    hybrid.logout()  # clears the session and ends every token it had
    return {"user": None}


# [end account]

# [audit]
from flask_hybridsession import signals  # noqa: E402


def audit(app, sid, user_id=None, reason=None, **extra):
    app.logger.info("session %s of %s ended: %s", sid, user_id, reason)


signals.session_revoked.connect(audit)
# [end audit]
