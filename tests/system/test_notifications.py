"""nagar-notifications over the bus with real peers on loopback: a real SMTP
server (aiosmtpd) and a fake SMS provider (HTTP) that record what they get.
Events and direct sends, Hindi intact, de-duplication, retries and
dead-letters on provider failures (HTTP 500, hang, SMTP 4xx), templates
with placeholders checked and ULB overrides, opt-out and quiet hours, staff
delivery status scoped to the ULB, the transactional outbox with
notifications down and a relay killed mid-relay, reminder campaigns run
twice, and identity's OTPs through notifications.
"""
import datetime
import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from gateway_fixtures import GRANT
from nagar_proc import wait_until
from notifications_fixtures import (CAMPAIGN_KIND, CAMPAIGN_STATE, CHANNEL, EVENT_STATE,
                                    MESSAGE_STATUS)

BHOPAL = "250946"
BERASIA = "250945"
STATE_ADMIN = {"userId": "staff:admin-test", "role": "STATE_ADMIN", "ulb": ""}
PAYMENT_HI = "{ulb_name}: खाता {account} हेतु ₹{amount} का भुगतान प्राप्त हुआ। रसीद क्रमांक {receipt_no}। धन्यवाद।"
# 2026-11-28 10:00 IST: the date notifications derives for the e-mail.
OCCURRED_AT_MS = int(datetime.datetime(2026, 11, 28, 4, 30,
                                       tzinfo=datetime.timezone.utc).timestamp() * 1000)


def staff(role, ulb):
    return {"userId": f"staff:{uuid.uuid4().hex[:8]}", "role": role, "ulb": ulb}


_counter = [0]


def new_mobile():
    _counter[0] += 1
    return f"8{uuid.uuid4().int % 10**5:05d}{_counter[0]:04d}"


def params(**values):
    return [{"name": k, "value": v} for k, v in values.items()]


def receipt_number(ulb):
    return f"{ulb}/2026-27/C1/{uuid.uuid4().int % 10**6:06d}"


def new_property(ulb=BHOPAL):
    return f"{ulb}-001-{uuid.uuid4().int % 10**6:06d}"


def owner(d, ulb=BHOPAL, mobile=None, email="", account=False):
    """A property of ulb and its owner as the (fake) publisher and identity
    know them: with account=True (or an e-mail) the owner has a user id whose
    verified contacts are identity's; otherwise the record holds the mobile.
    Returns (property id, user id or "", mobile)."""
    pid = new_property(ulb)
    mobile = mobile or new_mobile()
    user_id = ""
    if account or email:
        user_id = f"citizen:{uuid.uuid4()}"
        d.contact(user_id, mobile=mobile, email=email)
        d.record(f"property:{pid}", ulb, [(user_id, "")])
    else:
        d.record(f"property:{pid}", ulb, [("", mobile)])
    return pid, user_id, mobile


def payment_event(principal, pid, user_id="", language="hi", ulb=BHOPAL, receipt=None,
                  event_type="payment.received"):
    """A receipt as property tax publishes it: raw facts about a record, the
    owner named by user id at most (notifications derives the amount in
    rupees, the account, the date and the town, and finds the contact)."""
    receipt = receipt or receipt_number(ulb)
    return {"eventId": f"{principal}:{uuid.uuid4().int % 10**12}", "type": event_type,
            "ulb": ulb, "occurredAtMs": OCCURRED_AT_MS, "subject": f"property:{pid}",
            "recipient": {"userId": user_id, "language": language},
            "params": params(receipt_no=receipt, amount_paise="125000", property_id=pid)}


def reminder_event(principal, pid, ulb=BHOPAL):
    """A due-date reminder (not essential: opt-out and quiet hours apply)."""
    return {"eventId": f"{principal}:{uuid.uuid4().int % 10**12}",
            "type": "due.reminder.property_tax", "ulb": ulb, "subject": f"property:{pid}",
            "recipient": {"language": "hi"},
            "params": params(name="सीता वर्मा", amount_paise="50000", account=pid,
                             due_date="2026-06-30")}


def receipt_of(event):
    return next(p["value"] for p in event["params"] if p["name"] == "receipt_no")


def deliver(n, client, event, count=1):
    """Delivers event and waits for its messages; returns their ids."""
    r = client.call("event.deliver", {"event": event})
    assert r.ok and not r.reply["duplicate"], r
    return n.messages_of(event["eventId"], count)


def ucs2_segments(text):
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
    return 1 if units <= 70 else -(-units // 67)


@pytest.fixture
def setup(broker, notifications, sms_provider, smtp_server, directory):
    """A bus with notifications' stand-ins for identity and the publishers (the
    fifth item): events are resolved against what a test records there."""
    b = broker()
    return b, notifications, sms_provider, smtp_server, directory(b)


# ---- events, Hindi, de-duplication -----------------------------------------------

def test_event_reaches_sms_and_email_with_hindi_intact_once(setup):
    b, start, provider, smtp, d = setup
    n = start(b)
    c = n.client("property_tax")
    address = f"citizen{uuid.uuid4().hex[:6]}@example.in"
    pid, user_id, mobile = owner(d, email=address)
    event = payment_event("property_tax", pid, user_id=user_id)
    r = c.call("event.deliver", {"event": event})
    assert r.ok and not r.reply["duplicate"], r
    sms_id, mail_id = n.messages_of(event["eventId"], 2)
    n.wait_status(sms_id, "sent")
    n.wait_status(mail_id, "sent")
    # The contacts came from identity, by the user id; the record was asked first.
    assert ("property_tax", "notify.subjects", [f"property:{pid}"]) in d.calls
    assert ("identity", "contact.lookup", [user_id]) in d.calls

    receipt = receipt_of(event)
    # No identity's ULB names here: the town is named by its LGD code.
    text = PAYMENT_HI.format(ulb_name=BHOPAL, account=pid, amount="1,250.00",
                             receipt_no=receipt)
    got = provider.to(mobile)
    assert len(got) == 1, provider.requests
    sms = got[0]
    assert sms["text"] == text
    assert sms["unicode"] is True and sms["segments"] == ucs2_segments(text)
    assert sms["sender"] == "NAGARS" and sms["dlt_entity_id"] == "1101234567890123456"
    assert sms["reference"] == sms_id

    mails = smtp.to(address)
    assert len(mails) == 1
    mail = mails[0]
    assert mail["Subject"] == f"{BHOPAL}: भुगतान रसीद {receipt}"
    body = mail.get_content()
    assert (f"खाता {pid} हेतु ₹1,250.00 का भुगतान 2026-11-28 को प्राप्त हुआ। "
            f"रसीद क्रमांक {receipt} है।") in body
    assert mail.envelope_from == "no-reply@nagar.example.in"

    # The same event again: nothing new.
    again = c.call("event.deliver", {"event": event})
    assert again.ok and again.reply["duplicate"], again
    assert again.reply["messageIds"] == [sms_id, mail_id]
    time.sleep(1)
    assert len(provider.to(mobile)) == 1 and len(smtp.to(address)) == 1

    # Staff see the delivery; the stored body is what was sent.
    admin = n.client("gateway")
    listed = admin.call("message.list", {"eventId": event["eventId"]}, actor=STATE_ADMIN)
    assert listed.ok, listed
    by_id = {m["messageId"]: m for m in listed.reply["messages"]}
    assert by_id[sms_id]["status"] == MESSAGE_STATUS["SENT"]
    assert by_id[sms_id]["body"] == text and by_id[sms_id]["encoding"] == "UCS-2"
    assert by_id[sms_id]["providerMessageId"].startswith("prov-")
    assert by_id[mail_id]["channel"] == CHANNEL["EMAIL"]


def test_event_validation_and_caller_rules(setup):
    b, start, provider, smtp, d = setup
    n = start(b)
    c = n.client("property_tax")
    pid, user_id, mobile = owner(d)
    event = payment_event("property_tax", pid)
    cases = [
        ({}, "event"),
        ({"event": payment_event("water_tax", pid)}, "event.eventId"),
        ({"event": dict(event, type="no.such")}, "event.type"),
        ({"event": dict(event, ulb="bhopal")}, "event.ulb"),
        # A contact in the event: refused, whatever it is.
        ({"event": dict(event, recipient={"mobile": mobile})}, "event.recipient.mobile"),
        ({"event": dict(event, recipient={"mobile": "12345"})}, "event.recipient.mobile"),
        ({"event": dict(event, recipient={"email": "a@example.in"})}, "event.recipient.email"),
        ({"event": dict(event, recipient={"language": "fr"})}, "event.recipient.language"),
        ({"event": dict(event, recipient={"userId": "9876543210"})}, "event.recipient.userId"),
        # The record it is about: required, of the publisher's kind, of the ULB.
        ({"event": dict(event, subject="")}, "event.subject"),
        ({"event": dict(event, subject=f"connection:{BHOPAL}-W001-000001")}, "event.subject"),
        ({"event": dict(event, subject=f"property:{BERASIA}-001-000001")}, "event.subject"),
        ({"event": dict(event, subject="property:9876543210")}, "event.subject"),
        ({"event": dict(event, subject=f"property:{new_property()}")}, "event.params[2].value"),
    ]
    for request, field in cases:
        r = c.call("event.deliver", request)
        assert r.code == "INVALID_ARGUMENT" and r.field == field, (field, r)
    # Nothing was recorded or queued by any of them.
    assert n.sql(f"SELECT count(*) FROM notifications.event WHERE subject = 'property:{pid}'") \
        == "0"
    # A template placeholder without its fact: the event waits, saying why.
    missing = dict(event)
    missing["params"] = [p for p in event["params"] if p["name"] != "amount_paise"]
    r = c.call("event.deliver", {"event": missing})
    assert r.ok, r
    reason = n.wait_event(missing["eventId"], "pending")
    wait_until(lambda: "amount" in n.event_state(missing["eventId"]), 10,
               what="the missing placeholder to be named")
    assert n.sql(f"SELECT count(*) FROM notifications.message WHERE address = '{mobile}'") == "0"
    # The gateway may not publish events; identity may not list messages.
    r = n.client("gateway").call("event.deliver", {"event": payment_event("gateway", pid)})
    assert r.code == "PERMISSION_DENIED", r
    r = n.client("identity").call("message.list", {}, actor=STATE_ADMIN)
    assert r.code == "PERMISSION_DENIED", r
    assert reason is not None


def typed(event, **values):
    """event (with a new id) with the given params replaced (or added)."""
    copy = dict(event, eventId=event["eventId"].split(":")[0] + f":{uuid.uuid4().int % 10**12}")
    given = {p["name"]: p["value"] for p in event["params"]}
    given.update(values)
    copy["params"] = params(**given)
    return copy


def test_events_are_bound_to_their_publisher_and_params_are_typed(setup):
    """A compromised publisher's key can send only its own event types, and
    no param can carry a link, a UPI id or a phone number (issue 12 item 4)."""
    b, start, provider, smtp, d = setup
    n = start(b)
    pid, user_id, mobile = owner(d)
    certificates, property_tax = n.client("certificates"), n.client("property_tax")
    # Another service's event types: refused, whoever the recipient.
    connection = f"{BHOPAL}-W001-000001"
    for event_type, event in (
            ("payment.received", payment_event("certificates", pid)),
            ("water.disconnection_notice",
             {"eventId": f"certificates:{uuid.uuid4().int % 10**12}",
              "type": "water.disconnection_notice", "ulb": BHOPAL,
              "subject": f"connection:{connection}",
              "params": params(name="x", account=connection, amount_paise="100",
                               due_date="2026-06-30")})):
        r = certificates.call("event.deliver", {"event": event})
        assert r.code == "PERMISSION_DENIED" and r.field == "event.type", (event_type, r)
        assert "certificates may publish only its own" in r.message, r
    r = property_tax.call("event.deliver", {"event": dict(
        payment_event("property_tax", pid), type="certificate.issued")})
    assert r.code == "PERMISSION_DENIED", r
    r = n.client("certificates").call("message.send", {
        "type": "otp.login", "recipient": {"mobile": mobile},
        "params": params(otp="123456", minutes="5")}, idempotency_key=uuid.uuid4().hex)
    assert r.code == "PERMISSION_DENIED", r

    # Params: only the declared raw facts, each of its type.
    event = payment_event("property_tax", pid)
    bad = [
        ({"amount": "1,250.00"}, ".name"),                           # display values are derived
        ({"ulb_name": "Pay at x@okbank"}, ".name"),
        ({"note": "hello"}, ".name"),
        ({"receipt_no": "pay to x@okbank"}, ".value"),
        ({"receipt_no": "https://evil.example/pay"}, ".value"),
        ({"receipt_no": f"{BERASIA}/2026-27/C1/000001"}, ".value"),  # another town's receipt
        ({"receipt_no": f"{BHOPAL}/2026-27/9876543210/000001"}, ".value"),
        ({"amount_paise": "12.50"}, ".value"),
        ({"amount_paise": "9876543210x"}, ".value"),
        ({"property_id": "9876543210"}, ".value"),
        ({"property_id": f"{BERASIA}-001-000042"}, ".value"),
    ]
    reversal = dict(payment_event("property_tax", pid), type="payment.reversed")
    reversal = typed(reversal, reversal_no=receipt_number(BHOPAL), reason="cheque bounced")
    bad_reasons = ["pay again to x@okbank", "see https://evil.example", "call 98765 43210",
                   "call 9876543210", "visit www.evil.in", "upi://pay?pa=x@okbank",
                   "send to 203.0.113.5/pay", "pay x\uff20okbank", "pay＠okbank"]
    for value in bad_reasons:
        bad.append(({"reason": value}, ".value"))
    for change, suffix in bad:
        base = reversal if "reason" in change else event
        r = property_tax.call("event.deliver", {"event": typed(base, **change)})
        assert r.code == "INVALID_ARGUMENT" and r.field.startswith("event.params[") and \
            r.field.endswith(suffix), (change, r)
    # What refusals said is in the log, rate-limited, naming who tried.
    refused = n.proc.events("notifications.event_refused")
    assert refused and refused[0]["caller"] == "certificates", refused[0]
    # Plain words pass, and a dot that could start a domain name is kept apart.
    fine = typed(reversal, reason="cheque no. 004512 bounced, dated 12-05-2026 (Rs 1,250.50)",
                 reversal_no=receipt_number(BHOPAL))
    deliver(n, property_tax, fine)
    defanged = typed(reversal, reason="see evil.in for details", reversal_no=receipt_number(BHOPAL))
    (message_id,) = deliver(n, property_tax, defanged)
    body = n.sql(f"SELECT body FROM notifications.message WHERE id = {message_id}")
    assert "evil. in" in body and "evil.in" not in body, body
    assert n.sql(f"SELECT count(*) FROM notifications.message WHERE address = '{mobile}' "
                 f"AND body LIKE '%okbank%'") == "0"


def test_an_event_reaches_only_its_subjects_person(setup):
    """A publisher's key names a record and at most a user id: notifications
    asks the publisher who the record's persons are and identity for the
    contact. Someone else's user id, a record that does not exist or one of
    another town is refused; no user id reaches the record's own person."""
    b, start, provider, smtp, d = setup
    n = start(b)
    c = n.client("property_tax")
    pid, owner_id, owner_mobile = owner(d, account=True)
    other_pid, other_id, other_mobile = owner(d, account=True)
    refused = [
        # Someone else's account, about this record.
        (payment_event("property_tax", pid, user_id=other_id), "is not a person of"),
        # A record the publisher does not have.
        (payment_event("property_tax", new_property()), "has no record"),
    ]
    elsewhere = new_property()
    d.record(f"property:{elsewhere}", BERASIA, [(owner_id, "")])
    refused.append((payment_event("property_tax", elsewhere, user_id=owner_id),
                    "belongs to ULB"))
    for event, why in refused:
        r = c.call("event.deliver", {"event": event})
        assert r.ok, r      # accepted: the publisher's record decides, asked by notifications
        reason = n.wait_event(event["eventId"], "refused")
        assert why in reason, (why, reason)
    assert n.proc.events("notifications.recipient_refused")
    # Without a user id it reaches the record's person, and only them.
    (message_id,) = deliver(n, c, payment_event("property_tax", pid))
    n.wait_status(message_id, "sent")
    time.sleep(0.5)
    assert len(provider.to(owner_mobile)) == 1 and provider.to(other_mobile) == []
    # Staff see the refused ones, with the reason.
    listed = n.client("gateway").call("event.list", {"ulb": BHOPAL,
                                                      "state": EVENT_STATE["REFUSED"]},
                                      actor=staff("COMMISSIONER", BHOPAL))
    assert listed.ok, listed
    ids = {e["eventId"]: e for e in listed.reply["events"]}
    assert refused[0][0]["eventId"] in ids
    assert "is not a person of" in ids[refused[0][0]["eventId"]]["reason"]


def _listed(n, state=None, ulb=BHOPAL, role="COMMISSIONER"):
    """event.list as staff of ulb see it: {event id: event}."""
    request = {"ulb": ulb}
    if state:
        request["state"] = EVENT_STATE[state]
    r = n.client("gateway").call("event.list", request, actor=staff(role, ulb))
    assert r.ok, r
    return {e["eventId"]: e for e in r.reply.get("events", [])}


def _messages(n, event_id):
    return n.sql(f"SELECT count(*) FROM notifications.message WHERE event_id = '{event_id}'")


def test_an_event_waits_with_its_reason_and_goes_out_once_when_the_cause_goes(setup):
    """Issue 14 item 4: an event that cannot be delivered yet is kept, shown
    to staff with the reason, and retried on its own (no staff action) until
    the cause goes: the publisher down, identity down, the person's contact
    added later. Each then reaches its person exactly once."""
    b, start, provider, smtp, d = setup
    n = start(b, NAGAR_NOTIFY_RESOLVE_RETRY_BASE_MS=300, NAGAR_NOTIFY_RESOLVE_RETRY_MAX_MS=600)
    c = n.client("property_tax")

    def attempts(event_id):
        return int(n.sql(f"SELECT attempts FROM notifications.event "
                         f"WHERE event_id = '{event_id}'") or 0)

    def waits(event, why):
        r = c.call("event.deliver", {"event": event})
        assert r.ok and not r.reply["duplicate"], r
        event_id = event["eventId"]
        wait_until(lambda: attempts(event_id) >= 2 and why in n.event_state(event_id), 20,
                   interval=0.1, what=f"event {event_id} to be retried for {why!r} "
                                      f"(now {n.event_state(event_id)!r})")
        assert n.event_state(event_id).startswith("pending|")
        shown = _listed(n, "PENDING")[event_id]
        assert why in shown["reason"] and shown["attempts"] >= 2, shown
        assert shown["nextAttemptAt"] and not shown.get("resolvedAt"), shown
        assert _messages(n, event_id) == "0"

    def goes_out_once(event, mobile):
        n.wait_event(event["eventId"], "delivered")
        (message_id,) = n.messages_of(event["eventId"])
        n.wait_status(message_id, "sent")
        assert len(provider.to(mobile)) == 1 and receipt_of(event) in provider.to(mobile)[0]["text"]
        assert event["eventId"] not in _listed(n)      # no longer among the undelivered

    # The publisher does not answer notify.subjects; identity does not answer
    # contact.lookup. Each time the event waits, and goes out once it answers.
    for down, why in (("property_tax", "property_tax did not answer notify.subjects"),
                      ("identity", "identity did not answer contact.lookup")):
        pid, user_id, mobile = owner(d, account=True)
        d.unavailable.add(down)
        event = payment_event("property_tax", pid, user_id=user_id)
        waits(event, why)
        d.unavailable.discard(down)
        goes_out_once(event, mobile)

    # The record names an account with no verified contact and has no mobile:
    # the citizen proves a mobile later, and the event goes to it.
    pid, user_id = new_property(), f"citizen:{uuid.uuid4()}"
    d.record(f"property:{pid}", BHOPAL, [(user_id, "")])
    no_contact = payment_event("property_tax", pid)
    waits(no_contact, f"user {user_id} has no verified contact in identity")
    mobile = new_mobile()
    d.contact(user_id, mobile=mobile)
    goes_out_once(no_contact, mobile)


def test_an_event_never_deliverable_is_given_up_visibly_and_a_staff_retry_sends_it(setup):
    """After NAGAR_NOTIFY_RESOLVE_GIVE_UP_S an event still without a contact
    is UNDELIVERABLE (not dropped): staff of its ULB see it with the reason,
    staff of another ULB and citizens do not, and a staff retry once the
    contact exists sends it, once."""
    b, start, provider, smtp, d = setup
    n = start(b, NAGAR_NOTIFY_RESOLVE_RETRY_BASE_MS=300, NAGAR_NOTIFY_RESOLVE_RETRY_MAX_MS=600,
              NAGAR_NOTIFY_RESOLVE_GIVE_UP_S=1)
    pid, user_id = new_property(), f"citizen:{uuid.uuid4()}"
    d.record(f"property:{pid}", BHOPAL, [(user_id, "")])
    event = payment_event("property_tax", pid)
    r = n.client("property_tax").call("event.deliver", {"event": event})
    assert r.ok, r
    event_id = event["eventId"]
    reason = n.wait_event(event_id, "undeliverable")
    assert f"user {user_id} has no verified contact in identity" in reason, reason
    assert n.proc.events("notifications.event_pending")
    assert _messages(n, event_id) == "0"
    # Listed by default (every state but delivered and recorded) and by state.
    shown = _listed(n)[event_id]
    assert shown["state"] == EVENT_STATE["UNDELIVERABLE"] and reason == shown["reason"], shown
    assert event_id in _listed(n, "UNDELIVERABLE")
    # Not for another ULB's staff, nor for a citizen.
    gateway = n.client("gateway")
    r = gateway.call("event.list", {"ulb": BHOPAL}, actor=staff("COMMISSIONER", BERASIA))
    assert r.code == "PERMISSION_DENIED" and r.field == "ulb", r
    r = gateway.call("event.retry", {"eventId": event_id}, actor=staff("COMMISSIONER", BERASIA))
    assert r.code == "NOT_FOUND", r
    citizen = {"userId": f"citizen:{uuid.uuid4()}", "role": "CITIZEN", "ulb": ""}
    r = gateway.call("event.list", {"ulb": BHOPAL}, actor=citizen)
    assert r.code == "PERMISSION_DENIED", r
    # The contact exists now; the ULB's staff retry it: it goes out, once.
    mobile = new_mobile()
    d.contact(user_id, mobile=mobile)
    r = gateway.call("event.retry", {"eventId": event_id}, actor=staff("COMMISSIONER", BHOPAL))
    assert r.ok and r.reply["eventId"] == event_id, r
    assert n.proc.events("notifications.event_retry")
    n.wait_event(event_id, "delivered")
    (message_id,) = n.messages_of(event_id)
    n.wait_status(message_id, "sent")
    assert len(provider.to(mobile)) == 1
    # Delivered: nothing left to retry.
    r = gateway.call("event.retry", {"eventId": event_id}, actor=staff("COMMISSIONER", BHOPAL))
    assert r.code == "NOT_FOUND" and r.field == "eventId", r


def test_sms_size_gsm7_and_ucs2(notifications_db):
    def size(text):
        out = subprocess.run([notifications_db.binary, "sms-size", text], capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)
    assert size("a" * 160) == {"encoding": "GSM-7", "characters": 160, "segments": 1}
    assert size("a" * 161)["segments"] == 2
    assert size("a" * 306)["segments"] == 2 and size("a" * 307)["segments"] == 3
    assert size("[" * 80) == {"encoding": "GSM-7", "characters": 160, "segments": 1}
    assert size("€" * 81)["segments"] == 2
    assert size("Çé£ " * 10)["encoding"] == "GSM-7"
    assert size("क" * 70) == {"encoding": "UCS-2", "characters": 70, "segments": 1}
    assert size("क" * 71)["segments"] == 2
    assert size("क" * 134)["segments"] == 2 and size("क" * 135)["segments"] == 3
    assert size("a" * 100 + "₹")["encoding"] == "UCS-2"


# ---- failures: retry, dead-letter, recovery ---------------------------------------

def test_sms_provider_500_is_retried_then_dead_lettered_and_recovery_sends_once(setup):
    b, start, provider, smtp, d = setup
    n = start(b)
    c = n.client("property_tax")
    provider.mode = "500"
    doomed_pid, _, doomed = owner(d)
    (doomed_id,) = deliver(n, c, payment_event("property_tax", doomed_pid))
    n.wait_status(doomed_id, "dead", timeout=30)
    tries = [q for q in provider.requests if q["json"]["to"] == f"91{doomed}"]
    assert len(tries) == 3 and all(q["answered"] == 500 for q in tries)
    row = n.sql(f"SELECT attempts, last_error FROM notifications.message WHERE id = {doomed_id}")
    assert row.startswith("3|") and "HTTP 500" in row
    assert n.proc.events("notifications.dead")

    # A provider that comes back gets the pending message once.
    lucky_pid, _, lucky = owner(d)
    (lucky_id,) = deliver(n, c, payment_event("property_tax", lucky_pid))
    wait_until(lambda: any(q["json"]["to"] == f"91{lucky}" for q in provider.requests), 10,
               what="the first failing attempt")
    provider.mode = "ok"
    n.wait_status(lucky_id, "sent", timeout=30)
    time.sleep(1.5)
    assert len(provider.to(lucky)) == 1
    assert n.status(doomed_id) == "dead"     # dead stays dead


def test_sms_provider_that_hangs_times_out_and_the_worker_keeps_answering(setup):
    b, start, provider, smtp, d = setup
    n = start(b, NAGAR_NOTIFY_HTTP_TIMEOUT_MS=800, NAGAR_NOTIFY_CONNECT_TIMEOUT_MS=300)
    c = n.client("property_tax")
    provider.mode = "hang"
    pid, _, mobile = owner(d)
    (message_id,) = deliver(n, c, payment_event("property_tax", pid))
    wait_until(lambda: len(provider.requests) >= 1, 10, what="the provider to be called")
    n.wait_status(message_id, "dead", timeout=30)
    assert len([q for q in provider.requests if q["json"]["to"] == f"91{mobile}"]) == 3
    error = n.sql(f"SELECT last_error FROM notifications.message WHERE id = {message_id}")
    assert "timed out" in error.lower() or "timeout" in error.lower(), error
    n.stop()

    # While a transfer hangs (30 s allowed here), the worker answers other
    # calls: within the 10 s the caller gives it, and the transfer is still
    # hanging afterwards (one request, unanswered, the message still sending).
    n = start(b, NAGAR_NOTIFY_HTTP_TIMEOUT_MS=30000, NAGAR_NOTIFY_CONNECT_TIMEOUT_MS=300)
    pid, _, mobile = owner(d)
    (message_id,) = deliver(n, n.client("property_tax"), payment_event("property_tax", pid))

    def hanging():
        return [q for q in provider.requests if q["json"]["to"] == f"91{mobile}"]
    wait_until(hanging, 10, what="the provider to be called")
    listed = n.client("gateway").call("message.list", {"eventId": "none"}, actor=STATE_ADMIN,
                                      timeout_ms=10000)
    assert listed.ok, listed
    assert [q["answered"] for q in hanging()] == ["hang"]
    assert n.status(message_id) == "sending"


def test_smtp_4xx_is_retried_then_dead_and_5xx_is_rejected_at_once(setup):
    b, start, provider, smtp, d = setup
    n = start(b)
    c = n.client("property_tax")
    smtp.mode = "451"
    provider.mode = "ok"
    address = f"a{uuid.uuid4().hex[:6]}@example.in"
    pid, user_id, _ = owner(d, email=address)
    d.contact(user_id, email=address)         # an e-mail only
    (message_id,) = deliver(n, c, payment_event("property_tax", pid, user_id=user_id))
    n.wait_status(message_id, "dead", timeout=30)
    assert smtp.handler.attempts == 3 and not smtp.messages
    assert "451" in n.sql(f"SELECT last_error FROM notifications.message WHERE id = {message_id}")

    smtp.mode = "550"
    address2 = f"b{uuid.uuid4().hex[:6]}@example.in"
    pid2, user2, _ = owner(d, email=address2)
    d.contact(user2, email=address2)
    (message2,) = deliver(n, c, payment_event("property_tax", pid2, user_id=user2))
    n.wait_status(message2, "dead", timeout=20)
    assert smtp.handler.attempts == 4      # one attempt: a 5xx is final

    # Back to normal: a message that met one 451 arrives exactly once.
    smtp.mode = "451"
    address3 = f"c{uuid.uuid4().hex[:6]}@example.in"
    pid3, user3, _ = owner(d, email=address3)
    d.contact(user3, email=address3, language="en")
    (message3,) = deliver(n, c, payment_event("property_tax", pid3, user_id=user3))
    wait_until(lambda: smtp.handler.attempts >= 5, 10, what="a refused attempt")
    smtp.mode = "ok"
    n.wait_status(message3, "sent", timeout=30)
    time.sleep(1)
    mails = smtp.to(address3)
    assert len(mails) == 1 and mails[0]["Subject"].startswith(f"{BHOPAL}: payment receipt")


# ---- templates ----------------------------------------------------------------------

def test_templates_are_versioned_checked_and_overridable_per_ulb(setup):
    b, start, provider, smtp, d = setup
    n = start(b)
    g = n.client("gateway")
    commissioner = staff("COMMISSIONER", BERASIA)
    template = {"type": "payment.received", "language": "hi", "channel": CHANNEL["SMS"],
                "ulb": BERASIA, "body": "बेरसिया: ₹{{amount}} प्राप्त, रसीद {{receipt_no}}",
                "dltTemplateId": "1107160000000000001"}
    for change, field in (({"body": "राशि {{amount}} {{password}}"}, "template.body"),
                          ({"body": "राशि {{amount"}, "template.body"),
                          ({"body": "राशि }} {{amount}}"}, "template.body"),
                          ({"type": "no.such.type"}, "template.type"),
                          ({"language": "fr"}, "template.language"),
                          ({"subject": "x"}, "template.subject"),
                          ({"dltTemplateId": "abc"}, "template.dltTemplateId"),
                          ({"body": ""}, "template.body")):
        r = g.call("template.save", {"template": dict(template, **change)}, actor=commissioner)
        assert r.code == "INVALID_ARGUMENT" and r.field == field, (change, r)
    r = g.call("template.save", {"template": dict(template, ulb=BHOPAL)}, actor=commissioner)
    assert r.code == "PERMISSION_DENIED", r
    r = g.call("template.save", {"template": template}, actor=staff("CLERK", BERASIA))
    assert r.code == "PERMISSION_DENIED", r

    first = g.call("template.save", {"template": template}, actor=commissioner)
    assert first.ok, first
    key = uuid.uuid4().hex
    second = g.call("template.save", {"template": dict(template, body="बेरसिया नगर: ₹{{amount}}, रसीद {{receipt_no}} ({{ulb}})")},
                    actor=commissioner, idempotency_key=key)
    assert second.ok and second.reply["version"] == first.reply["version"] + 1, second
    replay = g.call("template.save", {"template": dict(template, body="बेरसिया नगर: ₹{{amount}}, रसीद {{receipt_no}} ({{ulb}})")},
                    actor=commissioner, idempotency_key=key)
    assert replay.ok and replay.replayed and replay.reply["version"] == second.reply["version"]
    listed = g.call("template.list", {"type": "payment.received", "ulb": BERASIA,
                                      "allVersions": True}, actor=commissioner)
    versions = [t["version"] for t in listed.reply["templates"] if t["channel"] == CHANNEL["SMS"]
                and t["language"] == "hi"]
    assert versions[:2] == [second.reply["version"], first.reply["version"]]
    types = {e["type"]: e["placeholders"] for e in listed.reply["eventTypes"]}
    assert "receipt_no" in types["payment.received"]

    c = n.client("property_tax")
    receipts, mobiles, pids = {}, {}, {}
    for ulb in (BERASIA, BHOPAL):
        pids[ulb], _, mobiles[ulb] = owner(d, ulb=ulb)
        receipts[ulb] = receipt_number(ulb)
        (message_id,) = deliver(n, c, payment_event("property_tax", pids[ulb], ulb=ulb,
                                                    receipt=receipts[ulb]))
        n.wait_status(message_id, "sent")
    in_berasia, in_bhopal = mobiles[BERASIA], mobiles[BHOPAL]
    assert provider.to(in_berasia)[0]["text"] == \
        f"बेरसिया नगर: ₹1,250.00, रसीद {receipts[BERASIA]} ({BERASIA})"
    assert provider.to(in_berasia)[0]["dlt_template_id"] == "1107160000000000001"
    assert provider.to(in_bhopal)[0]["text"].startswith(f"{BHOPAL}: खाता {pids[BHOPAL]}")


# ---- opt-out, quiet hours, rate limit ---------------------------------------------------

def test_opt_out_suppresses_only_non_essential_messages(setup):
    b, start, provider, smtp, d = setup
    n = start(b)
    g, c = n.client("gateway"), n.client("property_tax")
    pid, _, mobile = owner(d)
    r = g.call("optout.set", {"mobile": mobile, "optedOut": True},
               actor={"userId": "citizen:x", "role": "CITIZEN", "ulb": ""})
    assert r.code == "PERMISSION_DENIED", r
    r = g.call("optout.set", {"mobile": mobile, "optedOut": True}, actor=staff("CLERK", BHOPAL))
    assert r.ok and r.reply["subject"] == f"mobile:{mobile}", r
    (reminder_id,) = deliver(n, c, reminder_event("property_tax", pid))
    (receipt_id,) = deliver(n, c, payment_event("property_tax", pid))
    n.wait_status(reminder_id, "suppressed")
    n.wait_status(receipt_id, "sent")
    assert len(provider.to(mobile)) == 1

    # A citizen opts their own account out (and only their own).
    citizen = {"userId": "citizen:abc", "role": "CITIZEN", "ulb": ""}
    r = g.call("optout.set", {"userId": "citizen:other", "optedOut": True}, actor=citizen)
    assert r.code == "PERMISSION_DENIED"
    r = g.call("optout.set", {"userId": "citizen:abc", "optedOut": True}, actor=citizen)
    assert r.ok, r


def test_quiet_hours_defer_non_essential_messages_only(setup):
    b, start, provider, smtp, d = setup
    ist = time.gmtime(time.time() + 19800)
    begin = (ist.tm_hour * 60 + ist.tm_min - 30) % 1440
    end = (ist.tm_hour * 60 + ist.tm_min + 60) % 1440
    window = f"{begin // 60:02d}:{begin % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    n = start(b, NAGAR_NOTIFY_QUIET_HOURS=window)
    c = n.client("property_tax")
    pid, _, mobile = owner(d)
    (reminder_id,) = deliver(n, c, reminder_event("property_tax", pid))
    (receipt_id,) = deliver(n, c, payment_event("property_tax", pid))
    n.wait_status(receipt_id, "sent")
    wait_until(lambda: n.sql(f"SELECT last_error FROM notifications.message WHERE id = {reminder_id}")
               == "quiet hours (IST)", 10, what="the reminder to be deferred")
    assert n.status(reminder_id) == "queued"
    minutes = float(n.sql(f"SELECT extract(epoch FROM next_attempt_at - now()) / 60 "
                          f"FROM notifications.message WHERE id = {reminder_id}"))
    assert 55 <= minutes <= 61, minutes
    assert n.sql(f"SELECT attempts FROM notifications.message WHERE id = {reminder_id}") == "0"
    assert len(provider.to(mobile)) == 1


def test_per_recipient_rate_limit_defers_the_excess(setup):
    b, start, provider, smtp, d = setup
    n = start(b, NAGAR_NOTIFY_RATE_PER_RECIPIENT=2, NAGAR_NOTIFY_RATE_WINDOW_S=3600)
    c = n.client("property_tax")
    pid, _, mobile = owner(d)
    ids = []
    for _ in range(4):
        ids += deliver(n, c, reminder_event("property_tax", pid))
    wait_until(lambda: len(provider.to(mobile)) == 2, 15, what="two reminders")
    time.sleep(1)
    statuses = [n.status(i) for i in ids]
    assert statuses.count("sent") == 2 and statuses.count("queued") == 2, statuses
    assert len(provider.to(mobile)) == 2


# ---- delivery status for staff ----------------------------------------------------------

def test_message_list_is_scoped_to_the_staff_members_ulb(setup):
    b, start, provider, smtp, d = setup
    n = start(b)
    c, g = n.client("property_tax"), n.client("gateway")
    mobile = new_mobile()
    for ulb in (BHOPAL, BERASIA):
        pid, _, _ = owner(d, ulb=ulb, mobile=mobile)
        deliver(n, c, payment_event("property_tax", pid, ulb=ulb))
    clerk = staff("CLERK", BERASIA)
    r = g.call("message.list", {"address": mobile}, actor=clerk)
    assert r.ok and [m["ulb"] for m in r.reply["messages"]] == [BERASIA], r
    r = g.call("message.list", {"address": mobile, "ulb": BHOPAL}, actor=clerk)
    assert r.code == "PERMISSION_DENIED" and r.field == "ulb", r
    r = g.call("message.list", {"address": mobile},
               actor={"userId": "citizen:1", "role": "CITIZEN", "ulb": ""})
    assert r.code == "PERMISSION_DENIED"
    r = g.call("message.list", {"address": mobile, "pageSize": 1}, actor=STATE_ADMIN)
    assert r.ok and len(r.reply["messages"]) == 1 and r.reply["nextPageToken"]
    r2 = g.call("message.list", {"address": mobile, "pageSize": 1,
                                 "pageToken": r.reply["nextPageToken"]}, actor=STATE_ADMIN)
    assert r2.ok and {r.reply["messages"][0]["ulb"], r2.reply["messages"][0]["ulb"]} == \
        {BHOPAL, BERASIA}
    for request, field in (({"pageSize": 201}, "pageSize"), ({"pageToken": "zz"}, "pageToken"),
                           ({"status": 9}, "status"), ({"ulb": "x"}, "ulb")):
        r = g.call("message.list", request, actor=STATE_ADMIN)
        assert r.code == "INVALID_ARGUMENT" and r.field == field, (request, r)


# ---- the transactional outbox -------------------------------------------------------------

def test_payment_with_notifications_down_succeeds_at_once_and_sms_arrives_once_later(
        setup, outbox_demo):
    b, start, provider, smtp, d = setup
    demo = outbox_demo(b)
    relay = demo.start_relay(OUTBOX_DEMO_TIMEOUT_MS=500)
    d.any_contact_owns_everything = True
    user_id, mobile = f"citizen:{uuid.uuid4()}", new_mobile()
    d.contact(user_id, mobile=mobile)
    # The payment is its own transaction (payment row + outbox row) and calls
    # nobody: it succeeds with notifications down, and its event waits.
    _, account = demo.pay(BHOPAL, user_id, "98000", receipt_number(BHOPAL))
    time.sleep(2)
    assert demo.pending() == 1 and provider.requests == []
    assert relay.events("outbox.relay_retry"), "the relay did not report the wait"
    n = start(b)
    wait_until(lambda: len(provider.to(mobile)) == 1, 30, what="the receipt SMS")
    wait_until(lambda: demo.pending() == 0, 10, what="the outbox to drain")
    time.sleep(1.5)
    sms = provider.to(mobile)
    assert len(sms) == 1 and f"खाता {account} हेतु ₹980.00" in sms[0]["text"]
    assert n.sql(f"SELECT count(*) FROM notifications.event "
                 f"WHERE event_id LIKE 'property_tax:%' AND source = 'property_tax' "
                 f"AND event_id IN (SELECT event_id FROM notifications.message "
                 f"WHERE address = '{mobile}')") == "1"


def test_relay_killed_mid_relay_loses_nothing_and_sends_nothing_twice(
        setup, outbox_demo):
    b, start, provider, smtp, d = setup
    n = start(b)
    demo = outbox_demo(b)
    d.any_contact_owns_everything = True
    mobiles = [new_mobile() for _ in range(3)]
    for mobile in mobiles:
        user_id = f"citizen:{uuid.uuid4()}"
        d.contact(user_id, mobile=mobile)
        demo.pay(BHOPAL, user_id, "10000", receipt_number(BHOPAL))
    # Freeze notifications so the relay's requests wait unanswered, then
    # kill the relay after it sent and before it could mark anything sent.
    os.kill(n.proc.pid, signal.SIGSTOP)
    try:
        relay = demo.start_relay(OUTBOX_DEMO_TIMEOUT_MS=8000)
        relay.wait_event("outbox.relay_sent", timeout=15)
        time.sleep(0.5)     # let ZeroMQ's I/O thread hand the requests to the broker
        relay.kill(signal.SIGKILL)
    finally:
        os.kill(n.proc.pid, signal.SIGCONT)
    assert demo.pending() == 3          # nothing was marked sent
    # Notifications now answers the requests the dead relay sent.
    wait_until(lambda: all(len(provider.to(m)) == 1 for m in mobiles), 30,
               what="the three SMS from the first sends")
    demo.start_relay(OUTBOX_DEMO_TIMEOUT_MS=2000)
    wait_until(lambda: demo.pending() == 0, 30, what="the outbox to drain")
    time.sleep(1.5)
    assert all(len(provider.to(m)) == 1 for m in mobiles), provider.requests
    assert len(n.proc.events("notifications.event_duplicate")) >= 3


# ---- reminder campaigns ---------------------------------------------------------------------

class Granted:
    """nagar-batch's client: every call carries an operator's campaign grant
    for one ULB (issue 12: the batch key alone starts nothing)."""

    def __init__(self, client, grant):
        self.client = client
        self.grant = grant

    def call(self, method, request=None, **kwargs):
        return self.client.call(method, request, authorization=self.grant, **kwargs)


def campaign_client(n, b, ulb):
    grant = b.token_keys.mint(user_id="staff:operator-1", role="REVENUE_OFFICER", ulb=ulb,
                              token_type=GRANT, session_id="", job="campaign",
                              audience=("property_tax", "water_tax", "notifications"))
    return Granted(n.client("batch"), grant)


def test_campaign_run_twice_messages_nobody_twice(setup):
    b, start, provider, smtp, d = setup
    n = start(b)
    cycle = f"2026-06-30-{uuid.uuid4().hex[:6]}"
    start_request = {"ulb": BERASIA, "kind": CAMPAIGN_KIND["PROPERTY_TAX"], "cycle": cycle,
                     "perMinute": 600,
                     "params": params(due_date="2026-06-30")}
    # The batch key alone, or with a grant for another ULB, starts nothing.
    r = n.client("batch").call("campaign.start", start_request)
    assert r.code == "PERMISSION_DENIED", r
    r = campaign_client(n, b, BHOPAL).call("campaign.start", start_request)
    assert r.code == "PERMISSION_DENIED" and "250946" in r.message, r
    batch = campaign_client(n, b, BERASIA)
    r = batch.call("campaign.start", start_request)
    assert r.ok and not r.reply["existing"] and r.reply["state"] == CAMPAIGN_STATE["OPEN"], r
    campaign_id = r.reply["campaignId"]
    owners = [owner(d, ulb=BERASIA) for _ in range(5)]

    def recipients(some):
        """Named by account, never by a contact: the record's owner is told."""
        return [{"recipient": {"language": "hi"},
                 "params": params(name=f"नागरिक {'क' * (i + 1)}", account=pid,
                                  amount_paise=f"{10000 * (i + 1)}")}
                for i, (pid, _, _) in enumerate(some)]
    r = batch.call("campaign.add_recipients", {"campaignId": campaign_id,
                                               "recipients": recipients(owners[:3])})
    assert r.ok and r.reply == {"added": 3, "alreadyPresent": 0}, r
    # A contact in a recipient is refused outright; a bad param fails that recipient only.
    with_mobile = recipients(owners[:1])
    with_mobile[0]["recipient"]["mobile"] = new_mobile()
    r = batch.call("campaign.add_recipients", {"campaignId": campaign_id,
                                               "recipients": with_mobile})
    assert r.code == "INVALID_ARGUMENT" and r.field == "recipients[0].recipient.mobile", r
    upi = [{"recipient": {}, "params": params(name="pay x@okbank", account=new_property(BERASIA),
                                              amount_paise="100")}]
    r = batch.call("campaign.add_recipients", {"campaignId": campaign_id, "recipients": upi})
    assert r.ok and r.reply == {"added": 1, "alreadyPresent": 0}, r
    # Another service's key cannot feed a property tax campaign.
    r = n.client("water_tax").call("campaign.add_recipients",
                                   {"campaignId": campaign_id, "recipients": recipients(owners)})
    assert r.code == "PERMISSION_DENIED", r
    r = batch.call("campaign.add_recipients", {"campaignId": campaign_id,
                                               "recipients": recipients(owners),
                                               "lastBatch": True})
    assert r.ok and r.reply == {"added": 2, "alreadyPresent": 3}, r

    def done():
        s = batch.call("campaign.status", {"campaignId": campaign_id})
        return s.reply if s.ok and s.reply["state"] == CAMPAIGN_STATE["DONE"] and \
            s.reply["sent"] == 5 else None
    status = wait_until(done, 40, interval=0.3, what="the campaign to finish")
    assert status["recipients"] == 6 and status["queued"] == 5 and status["pending"] == 0
    assert status["failed"] == 1

    # Run it again: the same campaign comes back, closed; nobody gets a second SMS.
    again = batch.call("campaign.start", start_request)
    assert again.ok and again.reply["existing"] and again.reply["campaignId"] == campaign_id
    r = batch.call("campaign.add_recipients", {"campaignId": campaign_id,
                                               "recipients": recipients(owners)})
    assert r.code == "FAILED_PRECONDITION", r
    time.sleep(2)
    for i, (pid, _, mobile) in enumerate(owners):
        got = provider.to(mobile)
        assert len(got) == 1, (mobile, got)
        assert got[0]["text"].startswith(
            f"{BERASIA}: नागरिक {'क' * (i + 1)} जी, संपत्ति कर खाता {pid}")
    assert n.sql(f"SELECT count(*) FROM notifications.message WHERE campaign_id = {campaign_id}") \
        == "5"
    assert n.sql(f"SELECT count(*) FROM notifications.message WHERE campaign_id = {campaign_id} "
                 f"AND body LIKE '%okbank%'") == "0"


def test_campaign_is_throttled_and_resumes_after_a_restart(setup):
    b, start, provider, smtp, d = setup
    n = start(b)
    batch = campaign_client(n, b, BHOPAL)
    r = batch.call("campaign.start", {"ulb": BHOPAL, "kind": CAMPAIGN_KIND["WATER_TAX"],
                                      "cycle": f"wt-{uuid.uuid4().hex[:8]}", "perMinute": 60,
                                      "params": params(due_date="2026-07-31")})
    campaign_id = r.reply["campaignId"]
    connections = []
    for _ in range(70):
        connection = f"{BHOPAL}-W001-{uuid.uuid4().int % 10**6:06d}"
        d.record(f"connection:{connection}", BHOPAL, [("", new_mobile())])
        connections.append(connection)
    r = batch.call("campaign.add_recipients", {
        "campaignId": campaign_id, "lastBatch": True,
        "recipients": [{"recipient": {},
                        "params": params(name="x", account=connection, amount_paise="1000")}
                       for connection in connections]})
    assert r.ok and r.reply["added"] == 70, r
    time.sleep(3)
    # At most a minute's worth (60) plus the trickle of 1/s may be handed on.
    queued = int(n.sql(f"SELECT count(*) FROM notifications.event "
                       f"WHERE campaign_id = {campaign_id}"))
    assert 1 <= queued <= 64, queued
    n.stop()
    n2 = start(b)
    wait_until(lambda: batch.call("campaign.status", {"campaignId": campaign_id}).reply["queued"]
               > queued, 15, what="the restarted service to continue the campaign")
    status = batch.call("campaign.status", {"campaignId": campaign_id}).reply
    assert status["state"] in (CAMPAIGN_STATE["CLOSED"], CAMPAIGN_STATE["DONE"])
    assert n2.sql(f"SELECT count(*) - count(DISTINCT address) FROM notifications.message "
                  f"WHERE campaign_id = {campaign_id}") == "0"
    g = n.client("gateway")
    r = g.call("campaign.status", {"campaignId": campaign_id}, actor=staff("CLERK", BHOPAL))
    assert r.code == "PERMISSION_DENIED"
    r = g.call("campaign.status", {"campaignId": campaign_id},
               actor=staff("REVENUE_OFFICER", BHOPAL))
    assert r.ok and r.reply["recipients"] == 70


# ---- identity's OTP through notifications -----------------------------------------------------

def test_identity_otp_goes_through_notifications_and_is_never_stored_in_clear(
        setup, identity):
    b, start, provider, smtp, d = setup
    n = start(b)
    ident = identity(b, NAGAR_IDENTITY_OTP_VIA="notifications", NAGAR_OTP_SINK_FILE="",
                     NAGAR_IDENTITY_OTP_RESEND_S=0, NAGAR_IDENTITY_OTP_SEND_TIMEOUT_MS=30000)
    c = ident.client()
    mobile = new_mobile()
    r = c.call("otp.request", {"mobile": mobile}, client_ip="10.9.8.7")
    assert r.ok, r
    wait_until(lambda: len(provider.to(mobile)) == 1, 20, what="the OTP SMS")
    text = provider.to(mobile)[0]["text"]
    otp = text.split("ओटीपी ")[1][:6]
    assert otp.isdigit() and "5 मिनट" in text
    assert ident.otps(mobile) == []      # no development sink involved
    stored = n.sql(f"SELECT body || '|' || coalesce(encode(body_sealed, 'hex'), 'NULL') || '|' || "
                   f"status FROM notifications.message WHERE address = '{mobile}'")
    assert otp not in stored and "******" in stored and stored.endswith("|NULL|sent"), stored
    dump = n.sql("SELECT string_agg(body || last_error || coalesce(encode(request_hash, 'hex'), ''), '') "
                 f"FROM notifications.message JOIN notifications.event USING (event_id) "
                 f"WHERE address = '{mobile}'")
    assert otp not in dump
    logs = n.proc.log_text() + ident.proc.log_text()
    assert text not in logs and f'"{otp}"' not in logs and f"OTP {otp}" not in logs
    r = c.call("otp.verify", {"mobile": mobile, "otp": otp})
    assert r.ok and r.reply["role"] == "CITIZEN", r

    # Notifications down: the OTP request fails cleanly instead of hanging
    # (identity would wait up to its 30 s send timeout; the caller gives up
    # at 10 s).
    n.stop()
    r = c.call("otp.request", {"mobile": new_mobile()}, client_ip="10.9.8.6", timeout_ms=10000)
    assert r.code == "UNAVAILABLE", r


def test_a_birth_registered_before_the_child_is_named_reads_as_a_sentence(setup):
    """A birth may be registered before the child has a name (it is added
    later): the SMS then speaks of the child, in Hindi and in English, instead
    of leaving a blank (": का जन्म पंजीयन"). A named child keeps their name."""
    b, start, provider, smtp, d = setup
    n = start(b)
    c = n.client("certificates")
    crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    expected = {
        ("hi", ""): "{ulb}: शिशु का जन्म पंजीयन क्रमांक {number} पर दर्ज हो गया है।",
        ("en", ""): "{ulb}: the birth of the child has been registered as no. {number}.",
        ("en", "  "): "{ulb}: the birth of the child has been registered as no. {number}.",
        ("hi", "आरव शर्मा"): "{ulb}: आरव शर्मा का जन्म पंजीयन क्रमांक {number} पर दर्ज हो गया है।",
    }
    for i, ((language, name), text) in enumerate(expected.items()):
        application = "A" + "".join(crockford[uuid.uuid4().int % 32] for _ in range(16))
        user_id, mobile = f"citizen:{uuid.uuid4()}", new_mobile()
        d.contact(user_id, mobile=mobile, language=language)
        d.record(f"application:{application}", BHOPAL, [(user_id, "")])
        number = f"{BHOPAL}/B/2026/{uuid.uuid4().int % 10**6 + i}"
        event = {"eventId": f"certificates:{uuid.uuid4().int % 10**12}",
                 "type": "certificate.registered", "ulb": BHOPAL,
                 "occurredAtMs": OCCURRED_AT_MS, "subject": f"application:{application}",
                 "recipient": {"userId": user_id, "language": language},
                 "params": params(application_id=application, registration_number=number,
                                  kind="birth", name=name)}
        (message_id,) = deliver(n, c, event)
        n.wait_status(message_id, "sent")
        assert [m["text"] for m in provider.to(mobile)] == [text.format(ulb=BHOPAL,
                                                                         number=number)]
