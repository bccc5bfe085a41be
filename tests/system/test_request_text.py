"""What people type is taken trimmed (issue 14: a late registration's
permission reference of only spaces was accepted). Every worker trims the
string fields of a request before anything looks at them
(common/request_text.h), so required text of only spaces is missing and
refused, what is stored has no stray spaces, and passwords are the one
exception: they are kept exactly as typed."""
import uuid

from test_certificates import apply, birth_report, error, informant, ok


def test_required_text_of_only_spaces_is_refused_and_stored_text_is_trimmed(cert_stack):
    s = cert_stack
    # A required name of only spaces (and a no-break space pasted in) is missing.
    body = error(apply(s, "birth", birth_report(3, motherName=" \u00a0  "), s.citizen,
                       ulb=s.ulb_a), 422, "INVALID_ARGUMENT", "birth.motherName")
    assert "required" in body["message"], body
    # A late report's permission reference of only spaces is no reference.
    app = ok(apply(s, "birth", birth_report(40, childName="  Asha  ",
                                            informant={**informant(), "name": " Ramesh Verma "}),
                   s.citizen, ulb=f" {s.ulb_a} ", permissionReference="    "))
    assert app["permissionRequired"] is True, app
    assert app["permissionReference"] == "", app
    assert app["ulb"] == s.ulb_a and app["subjectName"] == "Asha", app
    assert app["birth"]["informant"]["name"] == "Ramesh Verma", app


def test_passwords_are_kept_exactly_as_typed(cert_stack):
    s = cert_stack
    username = f"clerk.{uuid.uuid4().hex[:8]}"
    password = "  two spaces each side  "
    staff = ok(s.gateway.post("/api/v1/staff", {
        "username": f"  {username} ", "fullName": "  Meena  Joshi ", "role": "CLERK",
        "ulb": s.ulb_a, "password": password}, token=s.admin))
    assert staff["username"] == username and staff["fullName"] == "Meena  Joshi", staff
    # The username is trimmed at login too; the password is not.
    assert s.gateway.login_staff(f" {username}", password)["role"] == "CLERK"
    r = s.gateway.post("/api/v1/auth/staff/login", {"username": username,
                                                    "password": password.strip()})
    assert r.status_code == 401, r.text
