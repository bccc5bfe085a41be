"""Drill: certificates' bus key is stolen, and the attacker uses it to make
notifications message people (issue 12 item 4): other services' event
types, free mobile numbers, someone else's account, links, UPI ids and phone
numbers in params, display values of its own making, other towns' records,
the contact and subject lookups themselves. Every attempt must be refused
(at once, or when notifications asks certificates about the record) and
leave a log line; no message may reach anyone but the record's own person;
the legitimate path still works. The suite is `make run`'s layout (real
keys from deploy/principals.conf, the file SMS sink)."""
import json
import os
import time
import uuid

import contract
from mdp_packed import NagarClient
from notifications_fixtures import NotifyClient
from suite import AttackTally

ULB = "250786"
OTHER_ULB = "250858"
PRINCIPAL = "certificates"


class Drill(AttackTally):
    def __init__(self, suite):
        super().__init__()
        self.s = suite
        self.curve = (os.path.join(suite.keys, "secret", f"{PRINCIPAL}.cert"),
                      os.path.join(suite.keys, "broker.pub"))
        self.endpoint = f"tcp://127.0.0.1:{suite.broker_port}"
        self.client = NotifyClient(self.endpoint, self.curve)

    def log_events(self, service, event):
        return [e for p in self.s.procs.get(service, []) for e in p.events(event)]

    def wait_logged(self, service, event, before):
        deadline = time.monotonic() + 5
        while len(self.log_events(service, event)) <= before and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.log_events(service, event)) > before

    def refused_now(self, name, method, request, code, log=("notifications",
                                                            "notifications.event_refused"),
                    idempotency_key=""):
        """An attempt notifications (or the worker's caller list) refuses at once."""
        before = len(self.log_events(*log))
        r = self.client.call(method, request, idempotency_key=idempotency_key, timeout_ms=8000)
        self.record(name, r.code == code, self.wait_logged(*log, before),
                    f"{r.code} {r.field} {r.message[:120]}")
        time.sleep(0.55)    # refusal lines are rate-limited (20 per 10 s): stay under it

    def refused_later(self, name, event):
        """Accepted, then refused when certificates is asked who the record's person is."""
        before = len(self.log_events("notifications", "notifications.recipient_refused"))
        r = self.client.call("event.deliver", {"event": event}, timeout_ms=8000)
        state = ""
        deadline = time.monotonic() + 20
        while r.ok and time.monotonic() < deadline:
            state = self.s.sql("nagar_notifications",
                               f"SELECT state FROM notifications.event "
                               f"WHERE event_id = '{event['eventId']}'")
            if state in ("refused", "delivered"):
                break
            time.sleep(0.1)
        sent = self.s.sql("nagar_notifications", f"SELECT count(*) FROM notifications.message "
                                                  f"WHERE event_id = '{event['eventId']}'")
        self.record(name, (not r.ok or state == "refused") and sent == "0",
                    self.wait_logged("notifications", "notifications.recipient_refused", before)
                    or not r.ok, f"{r.code} state={state} messages={sent}")

    def bus_denied(self, name, service, method, payload):
        """A call the worker's caller list refuses (or the broker's ACL)."""
        request = contract.encode("nagar.Request", {"method": method,
                                                    "context": {"requestId": uuid.uuid4().hex},
                                                    "payload": payload})
        before = (len(self.log_events(service, "bus.worker_caller_denied")) +
                  len([e for p in self.s.procs["broker"] for e in p.events("acl.call_denied")]))
        client = NagarClient(self.endpoint, curve=self.curve)
        try:
            got = client.request(service, request, timeout_ms=5000)
        finally:
            client.close()
        code = contract.decode("nagar.Reply", got[1][0])["status"]["code"] if got else None

        def grown():
            return (len(self.log_events(service, "bus.worker_caller_denied")) +
                    len([e for p in self.s.procs["broker"] for e in p.events("acl.call_denied")])
                    ) > before
        deadline = time.monotonic() + 5
        while not grown() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.record(name, code == 5, grown(), f"code={code}")     # PERMISSION_DENIED
        time.sleep(0.3)


def sink_lines(s):
    path = os.path.join(s.var, "notify_sink.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_stolen_publisher_key_cannot_message_anyone_else(suite_factory):
    s = suite_factory()
    s.start_all()
    # A citizen who applied for a marriage (their OTP-verified mobile is in
    # identity), and a victim the attacker would like to message.
    applicant_mobile, victim_mobile = "9812300001", "9812300002"
    applicant, victim = f"citizen:{uuid.uuid4()}", f"citizen:{uuid.uuid4()}"
    s.sql("nagar_identity", f"INSERT INTO identity.citizen (user_id, mobile) VALUES "
                            f"('{applicant}', '{applicant_mobile}'), "
                            f"('{victim}', '{victim_mobile}')")
    citizen = s.token("CITIZEN", "", applicant)
    married = time.strftime("%Y-%m-%d", time.localtime(time.time() - 10 * 86400))
    report = {"groom": {"name": "Arjun Singh", "dateOfBirth": "1995-01-01",
                        "fatherName": "Vikram Singh", "address": "7 MG Road"},
              "bride": {"name": "Priya Sharma", "dateOfBirth": "1997-01-01",
                        "fatherName": "Mohan Sharma", "address": "9 Nehru Nagar"},
              "dateOfMarriage": married, "placeOfMarriage": "Arya Samaj Mandir",
              "witnesses": [{"name": "Suresh Jain", "address": "1 Jain Mandir Road"},
                            {"name": "Meena Gupta", "address": "3 Tilak Path"}]}
    r = s.http("POST", "/api/v1/certificates/applications/marriage", token=citizen,
               key=uuid.uuid4().hex, json={"marriage": report, "ulb": ULB})
    assert r.status_code == 200, r.text
    app_id = r.json()["applicationId"]
    # The application's own event reaches the applicant (the legitimate path).
    def told(mobile):
        return [m for m in sink_lines(s) if mobile in json.dumps(m)]
    deadline = time.monotonic() + 30
    while not told(applicant_mobile) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert told(applicant_mobile), "the applicant was not told of their own application"

    a = Drill(s)
    subject = f"application:{app_id}"
    good_params = [{"name": "application_id", "value": app_id},
                   {"name": "registration_number", "value": f"{ULB}/M/2026/1"},
                   {"name": "kind", "value": "marriage"},
                   {"name": "name", "value": "Arjun Singh & Priya Sharma"}]

    def event(**change):
        base = {"eventId": f"{PRINCIPAL}:drill-{uuid.uuid4().hex}",
                "type": "certificate.registered", "ulb": ULB, "subject": subject,
                "params": good_params}
        base.update(change)
        return {"event": base}

    def with_param(name, value, params=None):
        out = [p for p in (params or good_params) if p["name"] != name]
        return out + [{"name": name, "value": value}]

    connection = f"{ULB}-W001-000001"
    # Other services' event types.
    for event_type, params, subj in (
            ("payment.received", [{"name": "receipt_no", "value": f"{ULB}/2026-27/C1/000001"},
                                  {"name": "amount_paise", "value": "100"},
                                  {"name": "property_id", "value": f"{ULB}-001-000001"}],
             f"property:{ULB}-001-000001"),
            ("payment.reversed", [{"name": "receipt_no", "value": f"{ULB}/2026-27/C1/000001"}],
             f"property:{ULB}-001-000001"),
            ("water.disconnection_notice", [{"name": "account", "value": connection}],
             f"connection:{connection}"),
            ("demand.raised", [{"name": "fy", "value": "2026-27"}], ""),
            ("due.reminder.property_tax", [{"name": "account", "value": f"{ULB}-001-000001"}],
             f"property:{ULB}-001-000001")):
        a.refused_now(f"publish {event_type} (another service's type)", "event.deliver",
                      event(type=event_type, params=params, subject=subj), "PERMISSION_DENIED")
    a.refused_now("event id in property tax's name", "event.deliver",
                  event(eventId=f"property_tax:{uuid.uuid4().hex}"), "INVALID_ARGUMENT")
    # Whom to: a free number or address, a forged kind of record, another town's record.
    a.refused_now("a free mobile number as recipient", "event.deliver",
                  event(recipient={"mobile": victim_mobile}), "INVALID_ARGUMENT")
    a.refused_now("a free e-mail address as recipient", "event.deliver",
                  event(recipient={"email": "victim@example.in"}), "INVALID_ARGUMENT")
    a.refused_now("a user id that is no user id (a phone number)", "event.deliver",
                  event(recipient={"userId": victim_mobile}), "INVALID_ARGUMENT")
    a.refused_now("no record named", "event.deliver", event(subject=""), "INVALID_ARGUMENT")
    a.refused_now("a property as the record (not certificates' kind)", "event.deliver",
                  event(subject=f"property:{ULB}-001-000001"), "INVALID_ARGUMENT")
    a.refused_now("application id param other than the record's", "event.deliver",
                  event(params=with_param("application_id", "A0000000000000000")),
                  "INVALID_ARGUMENT")
    # What it says: links, UPI ids, phone numbers, display values of its own.
    for name, value, attack in (
            ("name", "pay the fee to x@okbank", "a UPI id in a name"),
            ("name", "upi://pay?pa=x@okbank&am=500", "a UPI payment link in a name"),
            ("name", "see https://evil.example/pay", "a URL in a name"),
            ("name", "visit www.evil.in", "a bare www link in a name"),
            ("name", "call 9812300009", "a phone number in a name"),
            ("name", "call 98123 00009", "a spaced phone number in a name"),
            ("name", "pay x\uff20okbank", "a fullwidth @ in a name"),
            ("registration_number", f"{OTHER_ULB}/M/2026/1", "another town's registration no."),
            ("registration_number", "9812300009", "a phone number as registration no."),
            ("kind", "pay now", "free text as the kind"),
            ("ulb_name", "Pay at x@okbank", "the town's name of its own"),
            ("amount", "500", "a display value of its own (amount)"),
            ("note", "hello", "a param the type does not have")):
        a.refused_now(attack, "event.deliver", event(params=with_param(name, value)),
                      "INVALID_ARGUMENT")
    a.refused_now("a URL in a rejection reason", "event.deliver",
                  event(type="certificate.rejected",
                        params=[p for p in good_params if p["name"] != "registration_number"]
                        + [{"name": "reason", "value": "pay at 203.0.113.5/pay to appeal"}]),
                  "INVALID_ARGUMENT")
    # Someone else's account, a record that does not exist: certificates says no.
    a.refused_later("someone else's user id about a real application",
                    event(recipient={"userId": victim})["event"])
    a.refused_later("an application that does not exist",
                    event(subject="application:A0000000000000000",
                          params=with_param("application_id", "A0000000000000000"))["event"])
    # The lookups themselves: harvesting contacts or records.
    a.bus_denied("identity contact.lookup (harvest verified mobiles)", "identity",
                 "contact.lookup", contract.encode("nagar.identity.LookupContactsRequest",
                                                   {"userIds": [victim]}))
    a.bus_denied("property_tax notify.subjects (harvest owners)", "property_tax",
                 "notify.subjects", contract.encode("nagar.notifications.SubjectsRequest",
                                                    {"subjects": [f"property:{ULB}-001-000001"]}))
    a.bus_denied("notifications message.send (the OTP channel)", "notifications",
                 "message.send", contract.encode("nagar.notifications.SendMessageRequest", {
                     "type": "otp.login", "recipient": {"mobile": victim_mobile}}))
    a.bus_denied("notifications event.list (read undelivered events)", "notifications",
                 "event.list", b"")

    # The legitimate path with the same key: no user id, it reaches the applicant only.
    r = a.client.call("event.deliver", event(), timeout_ms=8000)
    assert r.ok, r
    time.sleep(3)
    assert not told(victim_mobile), "a message reached the victim"
    assert s.sql("nagar_notifications", f"SELECT count(*) FROM notifications.message "
                                        f"WHERE address = '{victim_mobile}'") == "0"
    assert s.sql("nagar_notifications", "SELECT count(*) FROM notifications.message "
                                        "WHERE body LIKE '%okbank%' OR body LIKE '%evil%'") == "0"
    a.client.close()

    a.report(f"\nDRILL stolen publisher key ({PRINCIPAL} -> notifications): attacks tried "
             f"{len(a.tried)}, blocked and logged {len(a.blocked)}; messages to the victim 0",
             at_least=30)
