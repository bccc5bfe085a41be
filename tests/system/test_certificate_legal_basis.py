"""The legal figures of nagar-certificates and the law beside each (issue 14
item 7): fees.get answers, with the state default schedule, the act, section
or rule and year behind every figure, and says which could not be
confirmed; the database's fee_schedule columns carry the same citations;
and the window for entering a child's name runs from the date of
registration (RBD Act s.14, MP RBD Rules 2024 r.10), not from the birth.

Fixtures come from certificates_fixtures.py (cert_stack).
"""
import re

from test_certificates import (apply, birth_report, error, ok, pay_fee, register, today,
                               years_before)

FIGURES = {"freeDays": 21, "lateDays": 30, "lateFeePaise": "2000", "permissionDays": 365,
           "permissionFeePaise": "5000", "orderFeePaise": "10000", "marriageFeePaise": "3000",
           "childNameDays": 5475}
YEAR = re.compile(r"\b(19|20)\d\d\b")


def test_every_seeded_figure_is_cited_and_the_unconfirmed_say_so(cert_stack):
    s = cert_stack
    default = ok(s.gateway.get("/api/v1/certificates/fees"))
    for figure, value in FIGURES.items():
        assert default[figure] == value, (figure, default[figure])
    basis = {b["figure"]: b for b in default["legalBasis"]}
    for figure in list(FIGURES) + ["marriage.minimumAge", "marriage.witnesses",
                                   "certificateOnRegistration"]:
        b = basis[figure]
        assert b["law"] and YEAR.search(b["citation"]), b
        if figure not in ("marriageFeePaise", "marriage.minimumAge", "marriage.witnesses"):
            assert "Registration of Births and Deaths" in b["citation"] or "RBD Act" in \
                b["citation"], b
    assert "s.13(1)" in basis["lateFeePaise"]["citation"]
    assert "s.13(2)" in basis["permissionFeePaise"]["citation"]
    assert "s.13(3)" in basis["orderFeePaise"]["citation"]
    assert "Marriages Rules, 2008" in basis["marriageFeePaise"]["citation"]
    assert "Prohibition of Child Marriage Act, 2006" in basis["marriage.minimumAge"]["citation"]
    # What could not be confirmed says so, and why, instead of a made-up citation.
    for figure in ("childNameDays", "marriage.witnesses", "certificateOnRegistration"):
        assert basis[figure].get("confirmed", False) is False and basis[figure]["note"], figure
    for figure in ("freeDays", "lateFeePaise", "permissionFeePaise", "orderFeePaise",
                   "marriageFeePaise"):
        assert basis[figure]["confirmed"] is True, figure
    # The schedule's columns carry the citations in the database too.
    comments = s.db.sql("SELECT string_agg(a.attname || '=' || col_description(a.attrelid, "
                        "a.attnum), '|' ORDER BY a.attname) FROM pg_attribute a WHERE "
                        "a.attrelid = 'certificates.fee_schedule'::regclass AND "
                        "(a.attname LIKE '%_fee_paise' OR a.attname LIKE '%_days')")
    for column in ("free_days", "late_days", "permission_days", "child_name_days",
                   "late_fee_paise", "permission_fee_paise", "order_fee_paise",
                   "marriage_fee_paise"):
        assert re.search(column + r"=[^|]*(RBD Act|Marriages Rules)[^|]*\b20\d\d\b", comments), \
            (column, comments)
    # Only migrations change the law's table.
    r = s.db.psql_as_app("UPDATE certificates.legal_basis SET confirmed = true")
    assert not r.ok and r.sqlstate == "42501", r


def test_child_name_window_runs_from_registration_not_birth(cert_stack):
    s = cert_stack
    # Born 16 years ago, reported only now (a magistrate's order, s.13(3)):
    # more than 15 years after the birth, but the name is entered within the
    # window from the registration, which is today.
    born = years_before(today(), 16)
    app = ok(apply(s, "birth", birth_report(dateOfBirth=born), s.clerk_a,
                   permissionReference="SDM Agar order 41/2026"))
    assert app["lateWindow"] == "LATE_OVER_1_YEAR" and app["feePaise"] == "10000"
    pay_fee(s, app["applicationId"], "10000")
    registered = ok(register(s, app["applicationId"], s.registrar_a))
    path = f"/api/v1/certificates/applications/{app['applicationId']}/child-name"
    named = ok(s.gateway.post(path, {"childName": "Late Named"}, token=s.registrar_a))
    assert named["subjectName"] == "Late Named"
    assert named["certificateId"] != registered["certificateId"]      # version 2 issued

    # A birth registered 15 years and a day ago: the window has closed.
    app = ok(apply(s, "birth", birth_report(3), s.clerk_a))
    ok(register(s, app["applicationId"], s.registrar_a))
    s.db.sql(f"UPDATE certificates.application SET registered_at = now() - interval '5476 days' "
             f"WHERE application_id = '{app['applicationId']}'")
    path = f"/api/v1/certificates/applications/{app['applicationId']}/child-name"
    body = error(s.gateway.post(path, {"childName": "Too Late"}, token=s.registrar_a), 422,
                 "FAILED_PRECONDITION", "childName")
    assert "date of registration" in body["message"]

