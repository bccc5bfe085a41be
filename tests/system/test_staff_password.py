"""Staff passwords through the gateway: the bootstrap admin's one-time
password gives, at the first login, a token that can do nothing but replace
it (not call the API at the gateway or at a service, not refresh, not be
used twice); and
staff change their own password with the current one, which ends every
session they had.

Fixtures come from certificates_fixtures.py (cert_stack: broker, identity,
certificates, gateway, staff of ULB A).
"""
import uuid

from api_checks import error_of
from certificates_fixtures import STAFF_PASSWORD
from nagar_proc import wait_until


def login(g, username, password):
    return g.post("/api/v1/auth/staff/login", {"username": username, "password": password})


def bootstrap_another_admin(s):
    """A real `nagar-identity bootstrap-admin`: it only runs while no state
    admin is enabled, so the session's admins step aside for it (and come
    back in the caller's finally)."""
    enabled = s.identity.db.sql("SELECT coalesce(string_agg(user_id, ','), '') FROM "
                                "identity.staff WHERE role = 'STATE_ADMIN' AND NOT disabled")
    s.identity.db.sql("UPDATE identity.staff SET disabled = true WHERE role = 'STATE_ADMIN'")
    username = f"boot-{uuid.uuid4().hex[:8]}"
    boot = s.identity.db.run_cli("bootstrap-admin", username)
    assert boot.returncode == 0, boot.stderr
    password = boot.stdout.strip()
    assert len(password) == 20
    return username, password, [u for u in enabled.split(",") if u]


def test_bootstrap_password_is_replaced_at_first_login(cert_stack):
    s, g = cert_stack, cert_stack.gateway
    username, one_time, others = bootstrap_another_admin(s)
    try:
        listed = s.identity.db.sql(f"SELECT must_change_password FROM identity.staff "
                                   f"WHERE username = '{username}'")
        assert listed == "t"

        r = login(g, username, one_time)
        assert r.status_code == 200, r.text
        pair = r.json()
        assert pair["passwordChangeRequired"] is True and pair["role"] == "STATE_ADMIN"
        assert pair.get("refreshToken", "") == ""          # nothing to refresh
        change_token = pair["accessToken"]

        # The token can do nothing but replace the password: not at the
        # gateway, not at a service it is sent to directly, not for a grant.
        for method, path in (("GET", "/api/v1/staff"), ("GET", "/api/v1/certificates/audit"),
                             ("POST", "/api/v1/staff/me/password")):
            r = g.request(method, path, token=change_token,
                          json={} if method == "POST" else None)
            assert "not an access token for this API" in error_of(r, 401,
                                                                  "UNAUTHENTICATED")["message"]
        c = s.identity.client()
        refused = c.call("staff.list", {}, authorization=change_token)
        assert refused.code == "UNAUTHENTICATED", refused
        refused = c.call("token.refresh", {"refreshToken": change_token})
        assert refused.code == "UNAUTHENTICATED", refused

        # Replacing it: the token is required and checked; the new password
        # is not the one-time one.
        path = "/api/v1/auth/staff/password"
        error_of(g.post(path, {"passwordChangeToken": "v1.k1.AAAA.BBBB",
                               "newPassword": "a-new-password-42"}), 401, "UNAUTHENTICATED",
                 "passwordChangeToken")
        error_of(g.post(path, {"passwordChangeToken": change_token, "newPassword": "short"}),
                 422, "INVALID_ARGUMENT", "newPassword")
        error_of(g.post(path, {"passwordChangeToken": change_token, "newPassword": one_time}),
                 422, "INVALID_ARGUMENT", "newPassword")
        new_password = "state-admin-" + uuid.uuid4().hex[:12]
        r = g.post(path, {"passwordChangeToken": change_token, "newPassword": new_password})
        assert r.status_code == 200, r.text
        assert r.json()["sessionsRevoked"] is True and r.json()["username"] == username
        # Once: the token (and the one-time password) are spent.
        error_of(g.post(path, {"passwordChangeToken": change_token,
                               "newPassword": "another-password-77"}), 422,
                 "FAILED_PRECONDITION", "passwordChangeToken")
        error_of(login(g, username, one_time), 401, "UNAUTHENTICATED")

        r = login(g, username, new_password)
        assert r.status_code == 200, r.text
        full = r.json()
        assert full.get("passwordChangeRequired", False) is False and full["refreshToken"]
        r = g.get("/api/v1/staff", token=full["accessToken"])
        assert r.status_code == 200, r.text
        account = next(a for a in r.json()["staff"] if a["username"] == username)
        assert account.get("passwordChangeRequired", False) is False
        audit = s.identity.db.sql(f"SELECT count(*) FROM identity.audit WHERE action = "
                                  f"'staff.password_changed' AND subject = '{full['userId']}'")
        assert audit == "1"
    finally:
        s.identity.db.sql(f"UPDATE identity.staff SET disabled = true WHERE username = "
                          f"'{username}'")
        for user_id in others:
            s.identity.db.sql(f"UPDATE identity.staff SET disabled = false WHERE user_id = "
                              f"'{user_id}'")


def test_staff_change_their_own_password_and_every_session_ends(cert_stack):
    s, g = cert_stack, cert_stack.gateway
    username = f"clerk-{uuid.uuid4().hex[:10]}"
    r = g.post("/api/v1/staff", {"username": username, "fullName": "Clerk Who Changes",
                                 "role": "CLERK", "ulb": s.ulb_a, "password": STAFF_PASSWORD},
               token=s.admin)
    assert r.status_code == 200, r.text
    first = g.login_staff(username, STAFF_PASSWORD)
    second = g.login_staff(username, STAFF_PASSWORD)
    for pair in (first, second):
        assert g.get("/api/v1/certificates/applications",
                     token=pair["accessToken"]).status_code == 200

    path = "/api/v1/staff/me/password"
    error_of(g.post(path, {"currentPassword": STAFF_PASSWORD, "newPassword": "x"},
                    token=first["accessToken"]), 422, "INVALID_ARGUMENT", "newPassword")
    error_of(g.post(path, {"currentPassword": STAFF_PASSWORD, "newPassword": STAFF_PASSWORD},
                    token=first["accessToken"]), 422, "INVALID_ARGUMENT", "newPassword")
    error_of(g.post(path, {"newPassword": "a-new-password-42"}, token=first["accessToken"]),
             422, "INVALID_ARGUMENT", "currentPassword")
    # The current password is required, and checked like a login.
    error_of(g.post(path, {"currentPassword": "not-my-password-1", "newPassword":
                           "a-new-password-42"}, token=first["accessToken"]), 401,
             "UNAUTHENTICATED")
    # Citizens have no password; the route is for staff.
    error_of(g.post(path, {"currentPassword": "x", "newPassword": "a-new-password-42"},
                    token=s.citizen), 403, "PERMISSION_DENIED")
    # Without a login it is refused before it reaches identity.
    error_of(g.post(path, {"currentPassword": STAFF_PASSWORD,
                           "newPassword": "a-new-password-42"}), 401, "UNAUTHENTICATED")

    new_password = "clerk-" + uuid.uuid4().hex[:14]
    r = g.post(path, {"currentPassword": STAFF_PASSWORD, "newPassword": new_password},
               token=first["accessToken"], headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 200, r.text
    assert r.json()["sessionsRevoked"] is True

    # Every session of the account ended: both access tokens stop (within a
    # revocation poll), both refresh tokens are refused.
    def all_refused():
        return all(g.get("/api/v1/certificates/applications",
                         token=pair["accessToken"]).status_code == 401
                   for pair in (first, second))
    wait_until(all_refused, 10, interval=0.2, what="the old access tokens to be refused")
    for pair in (first, second):
        error_of(g.post("/api/v1/auth/refresh", {"refreshToken": pair["refreshToken"]}), 401,
                 "UNAUTHENTICATED")
    error_of(login(g, username, STAFF_PASSWORD), 401, "UNAUTHENTICATED")
    fresh = g.login_staff(username, new_password)
    assert g.get("/api/v1/certificates/applications",
                 token=fresh["accessToken"]).status_code == 200
    audit = s.identity.db.sql(f"SELECT count(*) FROM identity.audit WHERE action = "
                              f"'staff.password_changed' AND subject = '{fresh['userId']}'")
    assert audit == "1"
