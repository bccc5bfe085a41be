"""The event contract between publishers and notifications: every event a
service publishes through its outbox renders every template of its type,
in Hindi and in English, with no placeholder left without a value.

Property tax's and certificates' events are read from their outboxes after
real runs of the services (the params are exactly what their code sends);
water tax's are built the way its code builds them.
Each event is then delivered to a real nagar-notifications, once per
language, and the stored message bodies are checked. Notifications derives
the display params (amount, account, date, ulb_name) from the raw facts;
ulb_name comes from identity, and is the LGD code when identity is down.
"""
import time
import uuid

import contract

PT = "/api/v1/property-tax"
PT_ULB = "250925"        # Burhanpur (Nagar Nigam); no other test uses it
WATER_ULB = "250863"     # Akodia (Nagar Parishad); no other test uses it
LANGUAGES = ("hi", "en")
CITIZEN_TYPES = {"payment.received", "payment.reversed", "certificate.application_received",
                 "certificate.registered", "certificate.rejected", "certificate.issued",
                 "water.disconnection_notice"}


def new_mobile():
    return "7" + str(uuid.uuid4().int % 10**9).zfill(9)


def outbox_events(sql, table, where):
    rows = sql(f"SELECT coalesce(string_agg(encode(payload, 'hex'), ',' ORDER BY id), '') "
               f"FROM {table} WHERE {where}")
    return [contract.decode("nagar.notifications.Event", bytes.fromhex(h))
            for h in rows.split(",") if h]


def deliver_in_both_languages(n, principal, event, timeout_ms=15000):
    """Delivers event once per language (as a new event of principal's, its
    subject and user id as published; each call given timeout_ms) and waits for
    its message; returns {language: (stored body, message language)}. Fails on
    any refusal."""
    client = n.client(principal)
    rendered = {}
    for language in LANGUAGES:
        copy = dict(event)
        copy["eventId"] = f"{principal}:contract-{uuid.uuid4().hex}"
        copy["recipient"] = dict(event["recipient"] or {}, mobile="", email="",
                                 language=language)
        r = client.call("event.deliver", {"event": copy}, timeout_ms=timeout_ms)
        assert r.ok, (event["type"], language, r.code, r.field, r.message, event["params"])
        (message_id,) = n.messages_of(copy["eventId"], 1)
        row = n.sql(f"SELECT language || '|' || body FROM notifications.message "
                    f"WHERE id = {message_id}")
        got_language, body = row.split("|", 1)
        assert "{{" not in body and "}}" not in body, (event["type"], language, body)
        rendered[language] = (body, got_language)
    return rendered


def check_contract_table(n, published_types):
    """Every published type is known; citizen-facing ones have both languages."""
    known = set(n.sql("SELECT string_agg(type, ',') FROM notifications.event_type").split(","))
    assert set(published_types) <= known, set(published_types) - known
    for event_type in set(published_types) & CITIZEN_TYPES:
        languages = n.sql(f"SELECT string_agg(DISTINCT language, ',' ORDER BY language) "
                          f"FROM notifications.template WHERE type = '{event_type}' "
                          f"AND channel = 'sms' AND ulb = ''")
        assert languages == "en,hi", (event_type, languages)


def test_property_tax_events_render_in_both_languages(property_tax_stack, notifications):
    s = property_tax_stack(NAGAR_PROPERTY_TAX_OUTBOX_RELAY="false")
    clerk = s.staff("CLERK", PT_ULB)
    officer = s.staff("REVENUE_OFFICER", PT_ULB)
    before = int(s.sql("SELECT coalesce(max(id), 0) FROM outbox"))
    body = {"ulb": PT_ULB, "ward": 2, "zone": "B", "address": "12 Lalbagh Road",
            "usage": "RESIDENTIAL", "construction": "RCC", "occupancy": "SELF_OCCUPIED",
            "owners": [{"name": "Sita Verma", "mobile": new_mobile(), "shareBp": 10000}],
            "floors": [{"floor": 0, "areaSqft": "900"}]}
    r = s.post(f"{PT}/properties", body, token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    pid = r.json()["propertyId"]
    r = s.post(f"{PT}/payments", {"propertyId": pid, "amountPaise": "12500000", "mode": "CASH",
                                  "counter": "C1", "advance": True}, token=clerk.token,
               key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    receipt_no = r.json()["receiptNo"]
    r = s.post(f"{PT}/payments/reversals", {"receiptNo": receipt_no, "reason": "cheque bounced"},
               token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    reversal_no = r.json()["receiptNo"]

    events = outbox_events(s.sql, "outbox", f"id > {before} AND ulb = '{PT_ULB}'")
    assert [e["type"] for e in events] == ["payment.received", "payment.reversed"], events
    # The ULB-wide fact of an annual demand run, exactly as demand.c builds it.
    events.append({"eventId": "", "type": "demand.raised", "ulb": PT_ULB,
                   "occurredAtMs": int(time.time() * 1000),
                   "recipient": {"mobile": "", "email": "", "language": "", "userId": ""},
                   "params": [{"name": "fy", "value": "2025-26"},
                              {"name": "bills", "value": "500"},
                              {"name": "job_id", "value": "7"}],
                   "essential": True})

    n = notifications(s.broker)
    check_contract_table(n, [e["type"] for e in events])
    received, reversed_ = (deliver_in_both_languages(n, "property_tax", e) for e in events[:2])
    for language in LANGUAGES:
        text, got = received[language]
        assert got == language
        # Burhanpur's name comes from identity; 12500000 paise in Indian grouping.
        assert text.startswith("Burhanpur Nagar Nigam: "), text
        assert "1,25,000.00" in text and pid in text and receipt_no in text, text
        text, got = reversed_[language]
        assert got == language and reversal_no in text and "1,25,000.00" in text, text
        assert "cheque bounced" in text and pid in text, text

    # The ULB-wide demand.raised names nobody: recorded, not set aside, nothing sent.
    demand = dict(events[2], eventId=f"property_tax:contract-{uuid.uuid4().hex}")
    r = n.client("property_tax").call("event.deliver", {"event": demand})
    assert r.ok and r.reply["messageIds"] == [], r
    assert n.sql(f"SELECT count(*) FROM notifications.event "
                 f"WHERE event_id = '{demand['eventId']}'") == "1"
    # The same type with an owner's address and per-bill facts is a message.
    assert n.event_state(demand["eventId"]) == "recorded|"
    per_bill = dict(demand, subject=f"property:{pid}",
                    params=[{"name": "property_id", "value": pid},
                            {"name": "amount_paise", "value": "345050"},
                            {"name": "due_date", "value": "2026-06-30"},
                            {"name": "financial_year", "value": "2026-27"}])
    rendered = deliver_in_both_languages(n, "property_tax", per_bill)
    assert "3,450.50" in rendered["en"][0] and "2026-06-30" in rendered["en"][0]


def test_certificate_events_render_in_both_languages(cert_stack, notifications):
    from test_certificates import apply, birth_report, death_report, ok, register
    s = cert_stack
    before = int(s.db.sql("SELECT coalesce(max(id), 0) FROM certificates.outbox"))
    app = ok(apply(s, "death", death_report(2), s.clerk_a))
    cert = ok(register(s, app["applicationId"], s.registrar_a))
    rejected = ok(apply(s, "birth", birth_report(1), s.citizen, ulb=s.ulb_a))
    path = f"/api/v1/certificates/applications/{rejected['applicationId']}/reject"
    ok(s.gateway.post(path, {"reason": "hospital has no record of this birth"},
                      token=s.registrar_a))

    events = outbox_events(s.db.sql, "certificates.outbox", f"id > {before}")
    types = [e["type"] for e in events]
    assert set(types) == {"certificate.application_received", "certificate.registered",
                          "certificate.issued", "certificate.rejected"}, types

    n = notifications(s.broker)
    check_contract_table(n, types)
    for event in events:
        rendered = deliver_in_both_languages(n, "certificates", event)
        for language in LANGUAGES:
            text, got = rendered[language]
            assert got == language, (event["type"], text)
            assert text.startswith("Agar Nagar Palika Parishad: "), text
        if event["type"] == "certificate.issued":
            assert cert["registrationNumber"] in rendered["en"][0]
            assert "Kamla Devi" in rendered["en"][0] and "death" in rendered["en"][0]
            assert "मृत्यु" in rendered["hi"][0] and "Kamla Devi" in rendered["hi"][0]


def test_water_tax_events_as_built_by_water_tax(broker, identity, notifications, directory):
    """Water tax's events as its code builds them (payment.c, report.c,
    bill.c); a stand-in water tax answers who the connection's consumer is."""
    b = broker()
    identity(b)
    n = notifications(b)
    connection = f"{WATER_ULB}-W004-000042"
    directory(b, services=("water_tax",)).record(f"connection:{connection}", WATER_ULB,
                                                 [("", new_mobile())])
    now = int(time.time() * 1000)

    def event(event_type, subject, **params):
        return {"eventId": "", "type": event_type, "ulb": WATER_ULB, "occurredAtMs": now,
                "subject": subject,
                "recipient": {"mobile": "", "email": "", "language": "", "userId": ""},
                "params": [{"name": k, "value": v} for k, v in params.items()],
                "essential": True}

    subject = f"connection:{connection}"
    events = [
        event("payment.received", subject, receipt_no=f"{WATER_ULB}/2026-27/C1/000017",
              amount_paise="45000", connection_id=connection),
        event("payment.reversed", subject, receipt_no=f"{WATER_ULB}/2026-27/C1/000017",
              reversal_no=f"{WATER_ULB}/2026-27/C1/000018", amount_paise="45000",
              reason="cheque bounced", connection_id=connection),
        event("water.disconnection_notice", subject, name="Ramesh Patel",
              account=connection, amount_paise="123456", due_date="2026-08-15"),
    ]
    check_contract_table(n, [e["type"] for e in events] + ["demand.raised"])
    for e in events:
        rendered = deliver_in_both_languages(n, "water_tax", e)
        assert rendered["en"][0].startswith("Akodia Nagar Parishad: "), rendered
        assert connection in rendered["en"][0] and connection in rendered["hi"][0]
    bill_run = event("demand.raised", "", service="water_tax", period="2026-07", bills="40",
                     job_id="3")
    bill_run["eventId"] = f"water_tax:contract-{uuid.uuid4().hex}"
    r = n.client("water_tax").call("event.deliver", {"event": bill_run})
    assert r.ok and r.reply["messageIds"] == [], r


def test_receipt_is_sent_with_the_lgd_code_when_identity_is_down(broker, notifications,
                                                                  directory):
    b = broker()        # no identity on this bus
    n = notifications(b, NAGAR_NOTIFY_ULB_TIMEOUT_MS="10000")
    # The owner has no account: the record's mobile is used, identity is not needed.
    pid = f"{PT_ULB}-001-000001"
    d = directory(b, services=("property_tax",))
    d.record(f"property:{pid}", PT_ULB, [("", new_mobile())])
    # 2026-03-31 20:00 UTC is already 1 April (and financial year 2026-27) in India.
    occurred = 1774987200000
    event = {"eventId": "", "type": "payment.received", "ulb": PT_ULB,
             "occurredAtMs": occurred, "subject": f"property:{pid}",
             "recipient": {"mobile": "", "email": "", "language": "", "userId": ""},
             "params": [{"name": "receipt_no", "value": f"{PT_ULB}/2026-27/C1/000001"},
                        {"name": "amount_paise", "value": "5"},
                        {"name": "property_id", "value": f"{PT_ULB}-001-000001"}],
             "essential": True}
    # Rendered at once, not after waiting for identity (up to 10 s for a ULB
    # name here): each delivery is given 5 s.
    rendered = deliver_in_both_languages(n, "property_tax", event, timeout_ms=5000)
    text = rendered["en"][0]
    assert text.startswith(f"{PT_ULB}: payment of Rs 0.05 received for account "
                           f"{PT_ULB}-001-000001."), text

    # The e-mail template reads {{date}}: the IST calendar date of occurred_at_ms.
    # (Identity is down here, so a stand-in keeps the owner's verified e-mail.)
    mail_pid, user = f"{PT_ULB}-001-000002", f"citizen:{uuid.uuid4()}"
    d.record(f"property:{mail_pid}", PT_ULB, [(user, "")])
    d2 = directory(b, services=("identity",))
    d2.contact(user, email=f"c{uuid.uuid4().hex[:8]}@example.in", language="en")
    mail = dict(event, eventId=f"property_tax:contract-{uuid.uuid4().hex}",
                subject=f"property:{mail_pid}",
                params=[dict(p, value=mail_pid) if p["name"] == "property_id" else p
                        for p in event["params"]],
                recipient={"mobile": "", "email": "", "language": "", "userId": user})
    r = n.client("property_tax").call("event.deliver", {"event": mail})
    assert r.ok, r
    (message_id,) = n.messages_of(mail["eventId"], 1)
    body = n.sql(f"SELECT body FROM notifications.message WHERE id = {message_id}")
    assert "on 2026-04-01." in body and "{{" not in body, body

    # A malformed raw fact is refused, naming the param: the publisher must fix it.
    bad = dict(event, eventId=f"property_tax:contract-{uuid.uuid4().hex}",
               recipient={"mobile": "", "email": "", "language": "en", "userId": ""},
               params=[{"name": "receipt_no", "value": f"{PT_ULB}/2026-27/C1/000002"},
                       {"name": "amount_paise", "value": "12.50"},
                       {"name": "property_id", "value": f"{PT_ULB}-001-000001"}])
    r = n.client("property_tax").call("event.deliver", {"event": bad})
    assert r.code == "INVALID_ARGUMENT" and r.field == "event.params[1].value" and \
        "amount_paise" in r.message, r
