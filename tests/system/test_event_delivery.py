"""Every event type of every service reaches the person it is for (issue 14
item 4), and only that person (issue 12 item 4).

Each test runs the real publisher, identity, notifications and the
gateway: the publisher names its record and at most the person's user id;
notifications asks the publisher who the record's persons are and identity
for the verified contact. What each test checks is where the messages of
one event type went: to the citizen's verified mobile (identity's, not a
number typed into the record) when the record names their account, to the
mobile on the record when it names none, and to nobody else.

    type                               test
    payment.received                   test_payment_received_reaches_the_owner[property_tax|water_tax]
    payment.reversed                   test_payment_reversed_reaches_the_owner[property_tax|water_tax]
    demand.raised                      test_demand_raised_is_recorded_and_a_bill_reaches_its_owner
    demand.notice                      test_demand_notice_messages.py (the annual demand, each owner)
    due.reminder.property_tax          test_reminder_campaign.py (nagar-batch, 30 owners)
    due.reminder.water_tax             test_water_reminder_reaches_the_consumer
    water.disconnection_notice         test_disconnection_notice_reaches_the_consumer
    certificate.application_received   test_certificate_event_reaches_the_applicant[application_received]
    certificate.registered             ...[registered]
    certificate.issued                 ...[issued]
    certificate.rejected               ...[rejected]
    certificate.fee_paid               test_certificate_fee_paid_online_and_refund_due_reach_the_applicant
    certificate.fee_refund_due         ...
    certificate.fee_refunded           ... (staff record the refund)
    otp.login                          test_notifications.py::test_identity_otp_goes_through_...

Each certificate test covers the three kinds: a marriage and a birth
applied for by a citizen (their verified mobile) and a death reported by a
clerk (the informant's mobile on the report). Then: an event that cannot be
delivered waits with its reason, staff see it, and it goes out once the
contact is added; and a raw bus client holding certificates' key reaches no
one but the record's own person.
"""
import time
import uuid

import pytest

import test_property_tax as pt
import test_water_tax as wt
from gateway_fixtures import GRANT
from nagar_proc import wait_until
from test_certificate_fee_online import callback, checkout, initiate, signed
from test_certificates import (apply, birth_report, death_report, informant, marriage_report,
                               ok, pay_fee, register)

PT = "/api/v1/property-tax"
WT = "/api/v1/water-tax"
# One ULB per test (LGD codes from services/identity/data); no other test uses them.
PT_ULB = "251008"        # Amarwara (Nagar Palika Parishad)
WT_ULB = "250675"        # Ambah (Nagar Palika Parishad)
CERT_ULB = "250699"      # Antari (Nagar Parishad)
RETRY_ULB = "250719"     # Aron (Nagar Parishad)
NOTICE_ULB = "250715"    # Ashoknagar
REMIND_ULB = "250949"    # Ashta
DEMAND_ULB = "250915"    # Anjad


def new_mobile():
    return "9" + str(uuid.uuid4().int % 10**9).zfill(9)


def in_list(values):
    return ", ".join(f"'{v}'" for v in values)


def addresses(n, event_type, subjects):
    """Where the messages of event_type about these records went (sorted)."""
    rows = n.sql(f"SELECT coalesce(string_agg(m.address, ',' ORDER BY m.address), '') "
                 f"FROM notifications.message m JOIN notifications.event e USING (event_id) "
                 f"WHERE e.type = '{event_type}' AND e.subject IN ({in_list(subjects)})")
    return [a for a in rows.split(",") if a]


def wait_sms(provider, mobile, count=1, timeout=30):
    return wait_until(lambda: provider.to(mobile) if len(provider.to(mobile)) >= count else None,
                      timeout, interval=0.2, what=f"{count} SMS to {mobile}")


def events_of(n, event_type, subjects):
    return n.sql(f"SELECT coalesce(string_agg(state, ',' ORDER BY seq), '') "
                 f"FROM notifications.event WHERE type = '{event_type}' "
                 f"AND subject IN ({in_list(subjects)})")


# ---- property tax and water tax: payments ---------------------------------------------------

def property_with_owner(s, clerk, ulb, owner):
    body = pt.property_body(ulb, 1200, owners=[dict(owner, shareBp=10000)])
    r = s.post(f"{PT}/properties", body, token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    return r.json()["propertyId"]


def connection_with_consumer(s, applicant, officer, ulb, mobile, ward=1):
    """A connection applied for by applicant (a citizen applying for their own
    connection is its consumer's account; a clerk's application names none)."""
    return wt.connect(s, applicant, officer, ulb, ward=ward, mobile=mobile)


class Payer:
    """Two accounts of one service: one whose record names a citizen's
    account (and a different, stale mobile), one that names only a mobile."""

    def __init__(self, service, stack_factory, notifications, ulb):
        self.service = service
        self.ulb = ulb
        self.s = stack_factory(business_date=wt.TODAY if service == "water_tax" else None)
        self.n = notifications(self.s.broker)
        self.clerk = self.s.staff("CLERK", ulb)
        self.officer = self.s.staff("REVENUE_OFFICER", ulb)
        self.verified = new_mobile()               # the citizen's OTP-proven number
        self.stale = new_mobile()                  # typed into the record, not theirs now
        self.recorded = new_mobile()               # the only contact of the second owner
        self.citizen = self.s.citizen(self.verified)
        if service == "property_tax":
            self.with_account = property_with_owner(
                self.s, self.clerk, ulb, {"name": "Sita Verma", "mobile": self.stale,
                                          "userId": self.citizen.user_id})
            self.without = property_with_owner(self.s, self.clerk, ulb,
                                               {"name": "Ram Lal", "mobile": self.recorded})
        else:
            wt.set_tariff(self.s, self.officer, ulb, connectionFees=wt.NO_FEE)
            self.with_account = connection_with_consumer(self.s, self.citizen, self.officer,
                                                         ulb, self.stale)
            self.without = connection_with_consumer(self.s, self.clerk, self.officer, ulb,
                                                    self.recorded, ward=2)

    def subject(self, account):
        return f"{'property' if self.service == 'property_tax' else 'connection'}:{account}"

    def pay(self, account, amount):
        if self.service == "property_tax":
            r = pt.pay(self.s, self.clerk, account, amount)
        else:
            r = wt.pay(self.s, self.clerk, account, amount)
        assert r.status_code == 200, r.text
        return r.json()["receiptNo"]

    def reverse(self, receipt_no):
        path = PT if self.service == "property_tax" else WT
        r = self.s.post(f"{path}/payments/reversals",
                        {"receiptNo": receipt_no, "reason": "cheque bounced"},
                        token=self.officer.token, key=uuid.uuid4().hex)
        assert r.status_code == 200, r.text
        return r.json()["receiptNo"]


@pytest.fixture(params=["property_tax", "water_tax"])
def payer(request, property_tax_stack, water_tax_stack, notifications):
    if request.param == "property_tax":
        return Payer("property_tax", property_tax_stack, notifications, PT_ULB)
    return Payer("water_tax", water_tax_stack, notifications, WT_ULB)


def test_payment_received_reaches_the_owner(payer, sms_provider):
    p = payer
    receipts = {p.with_account: p.pay(p.with_account, 50000),
                p.without: p.pay(p.without, 30000)}
    got = wait_sms(sms_provider, p.verified)
    wait_sms(sms_provider, p.recorded)
    assert receipts[p.with_account] in got[0]["text"] and "500.00" in got[0]["text"]
    assert receipts[p.without] in sms_provider.to(p.recorded)[0]["text"]
    # Identity's verified number, not the stale one on the record; nobody else.
    subjects = [p.subject(p.with_account), p.subject(p.without)]
    assert addresses(p.n, "payment.received", subjects) == sorted([p.verified, p.recorded])
    assert sms_provider.to(p.stale) == []
    assert events_of(p.n, "payment.received", subjects) == "delivered,delivered"


def test_payment_reversed_reaches_the_owner(payer, sms_provider):
    p = payer
    receipt = p.pay(p.with_account, 40000)
    reversal = p.reverse(receipt)
    got = wait_sms(sms_provider, p.verified, count=2)
    texts = [m["text"] for m in got]
    assert any(reversal in t and receipt in t and "cheque bounced" in t for t in texts), texts
    assert addresses(p.n, "payment.reversed", [p.subject(p.with_account)]) == [p.verified]
    assert sms_provider.to(p.stale) == [] and sms_provider.to(p.recorded) == []


def test_demand_raised_is_recorded_and_a_bill_reaches_its_owner(property_tax_stack, notifications,
                                                                 sms_provider):
    s = property_tax_stack()
    n = notifications(s.broker)
    officer, clerk = s.staff("REVENUE_OFFICER", DEMAND_ULB), s.staff("CLERK", DEMAND_ULB)
    pt.set_rates(s, officer, DEMAND_ULB, "2025-26")
    mobile = new_mobile()
    pid = property_with_owner(s, clerk, DEMAND_ULB, {"name": "Asha Verma", "mobile": mobile})
    pt.run_demand(s, officer, DEMAND_ULB, "2025-26")
    # The town-wide run names nobody: recorded, nothing sent for it (the
    # owner's own message is the demand notice's, test_demand_notice_messages.py).
    wait_until(lambda: n.sql(f"SELECT state FROM notifications.event WHERE ulb = '{DEMAND_ULB}' "
                             f"AND type = 'demand.raised' AND subject = ''") == "recorded", 30,
               what="the demand run's event to be recorded")
    assert n.sql(f"SELECT count(*) FROM notifications.message m JOIN notifications.event e "
                 f"USING (event_id) WHERE e.ulb = '{DEMAND_ULB}' "
                 f"AND e.type = 'demand.raised'") == "0"
    # A per-bill demand (what the demand notice will publish) reaches the owner.
    event = {"eventId": f"property_tax:bill-{uuid.uuid4().hex}", "type": "demand.raised",
             "ulb": DEMAND_ULB, "subject": f"property:{pid}",
             "params": [{"name": "property_id", "value": pid},
                        {"name": "amount_paise", "value": "345050"},
                        {"name": "due_date", "value": "2026-06-30"},
                        {"name": "financial_year", "value": "2025-26"}]}
    r = n.client("property_tax").call("event.deliver", {"event": event})
    assert r.ok, r
    text = wait_until(lambda: next((m["text"] for m in sms_provider.to(mobile)
                                    if "3,450.50" in m["text"]), None), 30, interval=0.2,
                      what="the bill's SMS")
    assert pid in text and "Anjad" in text, text
    assert addresses(n, "demand.raised", [f"property:{pid}"]) == [mobile]


# ---- water tax: notices and reminders -------------------------------------------------------

def test_disconnection_notice_reaches_the_consumer(water_tax_stack, notifications, sms_provider):
    s = water_tax_stack(business_date="2025-08-05")
    n = notifications(s.broker)
    officer, clerk = s.staff("REVENUE_OFFICER", NOTICE_ULB), s.staff("CLERK", NOTICE_ULB)
    wt.set_tariff(s, officer, NOTICE_ULB, connectionFees=wt.NO_FEE)
    verified, stale = new_mobile(), new_mobile()
    citizen = s.citizen(verified)
    late = connection_with_consumer(s, citizen, officer, NOTICE_ULB, stale)
    wt.run_bills(s, officer, NOTICE_ULB, "2025-06")
    wt.run_bills(s, officer, NOTICE_ULB, "2025-07")
    r = s.post(f"{WT}/disconnection-notices", {"ulb": NOTICE_ULB}, token=officer.token,
               key=uuid.uuid4().hex)
    assert r.status_code == 200 and r.json()["connectionIds"] == [late], r.text
    text = wait_sms(sms_provider, verified)[-1]["text"]
    assert late in text and "2025-08-20" in text and "Asha Verma" in text, text
    assert addresses(n, "water.disconnection_notice", [f"connection:{late}"]) == [verified]
    assert sms_provider.to(stale) == []


def test_water_reminder_reaches_the_consumer(water_tax_stack, notifications, sms_provider):
    """A water campaign's recipient is named by connection only: water tax's
    record says whose it is."""
    s = water_tax_stack(business_date=wt.TODAY)
    n = notifications(s.broker)
    officer, clerk = s.staff("REVENUE_OFFICER", REMIND_ULB), s.staff("CLERK", REMIND_ULB)
    wt.set_tariff(s, officer, REMIND_ULB, connectionFees=wt.NO_FEE)
    mobile = new_mobile()
    cid = connection_with_consumer(s, clerk, officer, REMIND_ULB, mobile)
    # nagar-batch's client: an operator's campaign grant for the ULB.
    grant = s.broker.token_keys.mint(user_id="staff:operator-1", role="REVENUE_OFFICER",
                                     ulb=REMIND_ULB, token_type=GRANT, session_id="",
                                     job="campaign",
                                     audience=("property_tax", "water_tax", "notifications"))
    batch_key = n.client("batch")

    class Granted:
        def call(self, method, request):
            return batch_key.call(method, request, authorization=grant)
    batch = Granted()
    r = batch.call("campaign.start", {"ulb": REMIND_ULB, "kind": 2, "perMinute": 600,
                                      "cycle": f"2025-08-15-{uuid.uuid4().hex[:6]}",
                                      "params": [{"name": "due_date", "value": "2025-08-15"}]})
    assert r.ok, r
    r = batch.call("campaign.add_recipients", {
        "campaignId": r.reply["campaignId"], "lastBatch": True,
        "recipients": [{"recipient": {},
                        "params": [{"name": "name", "value": "Asha Verma"},
                                   {"name": "account", "value": cid},
                                   {"name": "amount_paise", "value": "26400"}]}]})
    assert r.ok and r.reply["added"] == 1, r
    text = wait_sms(sms_provider, mobile)[0]["text"]
    assert cid in text and "264.00" in text and "2025-08-15" in text, text
    assert addresses(n, "due.reminder.water_tax", [f"connection:{cid}"]) == [mobile]


# ---- certificates: birth, death, marriage -----------------------------------------------------

class Applicants:
    """A marriage and a birth applied for by citizens, a death reported by a
    clerk (informant's mobile on the report), all in CERT_ULB."""

    def __init__(self, s):
        self.s = s
        self.registrar = s.create_staff("REGISTRAR", CERT_ULB)["accessToken"]
        self.clerk = s.create_staff("CLERK", CERT_ULB)["accessToken"]
        self.mobiles = {}
        self.tokens = {}
        for kind in ("marriage", "birth"):
            mobile = new_mobile()
            self.mobiles[kind] = mobile
            self.tokens[kind] = s.gateway.login_citizen(mobile)["accessToken"]
        self.mobiles["death"] = new_mobile()
        self.tokens["death"] = self.clerk

    def apply(self, kind):
        reports = {"marriage": marriage_report(),
                   # The citizen's own account is used; the report's informant is not told.
                   "birth": birth_report(informant=informant(new_mobile())),
                   "death": death_report(informant=informant(self.mobiles["death"]))}
        return ok(apply(self.s, kind, reports[kind], self.tokens[kind], ulb=CERT_ULB))


@pytest.mark.parametrize("step", ["application_received", "registered", "issued", "rejected"])
def test_certificate_event_reaches_the_applicant(step, cert_stack, notifications, sms_provider):
    s = cert_stack
    n = notifications(s.broker)
    people = Applicants(s)
    event_type = f"certificate.{step}"
    subjects = []
    for kind in ("marriage", "birth", "death"):
        app = people.apply(kind)
        subjects.append(f"application:{app['applicationId']}")
        if step == "rejected":
            ok(s.gateway.post(f"/api/v1/certificates/applications/{app['applicationId']}/reject",
                              {"reason": "the witnesses did not appear"},
                              token=people.registrar))
        elif step in ("registered", "issued"):
            if app.get("feePaise", "0") != "0":     # a marriage's fee, paid at the counter
                pay_fee(s, app["applicationId"], app["feePaise"], token=people.clerk)
            ok(register(s, app["applicationId"], people.registrar))
    wanted = sorted(people.mobiles.values())

    def all_told():
        return addresses(n, event_type, subjects) if \
            len(addresses(n, event_type, subjects)) >= 3 else None
    wait_until(all_told, 60, interval=0.3,
               what=f"{event_type} for the marriage, the birth and the death "
                    f"(events: {events_of(n, event_type, subjects)})")
    assert addresses(n, event_type, subjects) == wanted
    assert events_of(n, event_type, subjects) == "delivered,delivered,delivered"
    marriage_sms = [m["text"] for m in wait_sms(sms_provider, people.mobiles["marriage"])]
    assert any("Antari" in t for t in marriage_sms), marriage_sms
    if step != "application_received":
        assert any("Arjun Singh & Priya Sharma" in t for t in marriage_sms), marriage_sms


def test_certificate_fee_paid_online_and_refund_due_reach_the_applicant(cert_stack, notifications,
                                                                      sms_provider):
    """The applicant who paid a fee online is told it was received, with the
    receipt; one whose payment arrived after the fee was paid at the counter
    is told the ULB will refund it, and then that it was refunded. A
    callback the provider repeats tells nobody again."""
    s = cert_stack
    n = notifications(s.broker)
    people = Applicants(s)
    mobile, citizen = people.mobiles["marriage"], people.tokens["marriage"]

    paid = people.apply("marriage")
    assert paid["feePaise"] == "3000", paid
    order = ok(initiate(s, paid["applicationId"], citizen))
    settled = checkout(s, order)["callbackBody"]
    assert settled["status"] == "PAID", settled
    subject = f"application:{paid['applicationId']}"
    (text,) = wait_until(lambda: [m["text"] for m in sms_provider.to(mobile)
                                  if settled["receiptNo"] in m["text"]] or None, 30,
                         interval=0.2, what="the fee-paid SMS")
    assert paid["applicationId"] in text and "30.00" in text, text
    assert addresses(n, "certificate.fee_paid", [subject]) == [mobile]

    # Paid at the counter while the citizen was at the provider's page.
    late = people.apply("marriage")
    order = ok(initiate(s, late["applicationId"], citizen))
    pay_fee(s, late["applicationId"], late["feePaise"], token=people.clerk)
    due = checkout(s, order)["callbackBody"]
    assert due["status"] == "REFUND_DUE", due
    late_subject = f"application:{late['applicationId']}"
    (text,) = wait_until(lambda: [m["text"] for m in sms_provider.to(mobile)
                                  if late["applicationId"] in m["text"] and
                                  ("refund" in m["text"] or "लौटाएगा" in m["text"])] or None,
                         30, interval=0.2, what="the refund-due SMS")
    assert "30.00" in text, text
    assert addresses(n, "certificate.fee_refund_due", [late_subject]) == [mobile]
    assert addresses(n, "certificate.fee_paid", [late_subject]) == []

    # The provider calls back again: the orders answer as they stand, nobody is told twice.
    for o, status in ((settled, "PAID"), (due, "REFUND_DUE")):
        r = callback(s, signed(s, o["orderId"], 3000, ref="FPAGAIN"))
        assert r.status_code == 200 and r.json()["status"] == status, r.text
    for app, event_type in ((paid, "certificate.fee_paid"), (late, "certificate.fee_refund_due")):
        assert s.db.sql(f"SELECT count(*) FROM certificates.outbox WHERE event_type = "
                        f"'{event_type}' AND position(convert_to('{app['applicationId']}', "
                        f"'UTF8') IN payload) > 0") == "1"
    assert events_of(n, "certificate.fee_paid", [subject]) == "delivered"
    assert events_of(n, "certificate.fee_refund_due", [late_subject]) == "delivered"

    # The clerk records that the ULB paid it back: the applicant is told that too.
    r = s.gateway.post(f"/api/v1/certificates/fee-payments/{due['orderId']}/refund",
                       {"mode": "BANK_TRANSFER", "reference": "UTR/77/1"}, token=people.clerk,
                       headers={"Idempotency-Key": uuid.uuid4().hex})
    refund = ok(r)["refund"]
    (text,) = wait_until(lambda: [m["text"] for m in sms_provider.to(mobile)
                                  if late["applicationId"] in m["text"] and
                                  refund["refundedOn"] in m["text"] and
                                  ("was refunded" in m["text"] or "लौटा दिया" in m["text"])]
                     or None,
                         30, interval=0.2, what="the refunded SMS")
    assert "30.00" in text and "UTR" not in text, text
    assert addresses(n, "certificate.fee_refunded", [late_subject]) == [mobile]


# ---- an event nobody can be reached for yet ---------------------------------------------------

def test_undelivered_event_is_seen_by_staff_and_sent_once_a_contact_is_added(
        property_tax_stack, notifications, sms_provider):
    s = property_tax_stack()
    n = notifications(s.broker, NAGAR_NOTIFY_RESOLVE_RETRY_BASE_MS=1000,
                      NAGAR_NOTIFY_RESOLVE_RETRY_MAX_MS=2000)
    clerk = s.staff("CLERK", RETRY_ULB)
    officer = s.staff("COMMISSIONER", RETRY_ULB)
    pid = property_with_owner(s, clerk, RETRY_ULB, {"name": "Gopal Das", "mobile": ""})
    receipt = pt.pay(s, clerk, pid, 20000).json()["receiptNo"]
    event_id = wait_until(lambda: n.sql(
        f"SELECT event_id FROM notifications.event WHERE type = 'payment.received' "
        f"AND ulb = '{RETRY_ULB}' AND reason <> ''"), 30, what="the receipt event to wait")
    # Staff see it, with the reason, through the gateway (their ULB only).
    r = s.get("/api/v1/notifications/events", token=officer.token,
              params={"ulb": RETRY_ULB})
    assert r.status_code == 200, r.text
    listed = {e["eventId"]: e for e in r.json().get("events", [])}
    assert event_id in listed, r.text
    assert listed[event_id]["state"] == "PENDING"
    assert "names nobody with an account or a mobile" in listed[event_id]["reason"]
    other = s.staff("COMMISSIONER", PT_ULB)
    r = s.get("/api/v1/notifications/events", token=other.token, params={"ulb": RETRY_ULB})
    assert r.status_code == 403, r.text
    # It is retried (with back-off) and stays visible until a contact exists.
    wait_until(lambda: int(n.sql(f"SELECT attempts FROM notifications.event "
                                 f"WHERE event_id = '{event_id}'")) >= 2, 30,
               what="a second attempt")
    assert n.event_state(event_id).startswith("pending|")
    # The owner's mobile is added to the record: the next retry reaches it, once.
    mobile = new_mobile()
    s.sql(f"UPDATE property_owner SET mobile = '{mobile}' WHERE property_id = '{pid}'")
    r = s.post(f"/api/v1/notifications/events/{event_id}/retry", {}, token=officer.token,
               key=uuid.uuid4().hex)
    assert r.status_code in (200, 404), r.text    # 404 when a retry had already delivered it
    text = wait_sms(sms_provider, mobile)[0]["text"]
    assert receipt in text and pid in text
    n.wait_event(event_id, "delivered")
    time.sleep(2.5)
    assert len(sms_provider.to(mobile)) == 1
    r = s.get("/api/v1/notifications/events", token=officer.token,
              params={"ulb": RETRY_ULB, "state": "DELIVERED"})
    assert event_id in [e["eventId"] for e in r.json().get("events", [])]


# ---- a stolen key ---------------------------------------------------------------------------------

def test_certificates_key_reaches_no_one_but_the_subject(cert_stack, notifications, sms_provider):
    """A raw bus client holding certificates' key (not its database): another
    service's event type and typed-param violations are refused at once; a
    free mobile number is refused; someone else's user id about a real
    application is refused when certificates is asked; with no user id the
    message reaches only the application's own applicant."""
    s = cert_stack
    n = notifications(s.broker)
    people = Applicants(s)
    app = people.apply("marriage")
    victim_mobile = new_mobile()
    victim = s.gateway.login_citizen(victim_mobile)["userId"]
    stolen = n.client("certificates")
    base = {"type": "certificate.registered", "ulb": CERT_ULB,
            "subject": f"application:{app['applicationId']}",
            "params": [{"name": "application_id", "value": app["applicationId"]},
                       {"name": "registration_number", "value": f"{CERT_ULB}/M/2026/1"},
                       {"name": "kind", "value": "marriage"},
                       {"name": "name", "value": "Arjun Singh & Priya Sharma"}]}

    def event(**change):
        return dict(base, eventId=f"certificates:forged-{uuid.uuid4().hex}", **change)
    refused_now = [
        (event(type="payment.received"), "PERMISSION_DENIED"),
        (event(type="water.disconnection_notice"), "PERMISSION_DENIED"),
        (event(recipient={"mobile": victim_mobile}), "INVALID_ARGUMENT"),
        # A person is named by the record's own key for them, never a number,
        # and by a user id or that key, not both.
        (event(recipient={"person": victim_mobile}), "INVALID_ARGUMENT"),
        (event(recipient={"person": "owner:1", "userId": victim}), "INVALID_ARGUMENT"),
        (event(params=base["params"][:3] + [{"name": "name",
                                              "value": "pay fee to x@okbank"}]),
         "INVALID_ARGUMENT"),
        (event(params=base["params"][:3] + [{"name": "name",
                                              "value": "visit https://evil.example"}]),
         "INVALID_ARGUMENT"),
    ]
    for forged, code in refused_now:
        r = stolen.call("event.deliver", {"event": forged})
        assert r.code == code, (forged, r)
    # Someone else's user id about a real record: certificates says who its person is.
    aimed = event(recipient={"userId": victim})
    r = stolen.call("event.deliver", {"event": aimed})
    assert r.ok, r
    assert "is not a person of" in n.wait_event(aimed["eventId"], "refused")
    # A key the record does not give any person reaches nobody; it waits,
    # with the reason, for staff to see.
    keyed = event(recipient={"person": "owner:2"})
    r = stolen.call("event.deliver", {"event": keyed})
    assert r.ok, r
    reason = wait_until(lambda: n.event_state(keyed["eventId"]).split("|", 1)[1] or None, 20,
                        what="the keyed event's reason")
    assert n.event_state(keyed["eventId"]).startswith("pending|"), reason
    assert "names no person owner:2" in reason, reason
    # No user id: it reaches the applicant, and only them.
    plain = event()
    r = stolen.call("event.deliver", {"event": plain})
    assert r.ok, r
    (message_id,) = n.messages_of(plain["eventId"])
    assert n.sql(f"SELECT address FROM notifications.message WHERE id = {message_id}") == \
        people.mobiles["marriage"]
    time.sleep(1.0)
    assert sms_provider.to(victim_mobile) == []
    assert n.sql(f"SELECT count(*) FROM notifications.message "
                 f"WHERE address = '{victim_mobile}'") == "0"
