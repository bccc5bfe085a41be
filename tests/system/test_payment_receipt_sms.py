"""A receipt SMS never blocks a payment and is never lost or doubled
(issue 4's acceptance, end to end with the real services): a clerk takes a
property-tax payment through the gateway while nagar-notifications is not
running; the payment is acknowledged at once; when notifications comes up,
the owner gets exactly one receipt SMS from property tax's outbox."""
import time
import uuid

from nagar_proc import wait_until

PT = "/api/v1/property-tax"
ULB = "250755"          # Bina (Nagar Palika Parishad); no other test uses it


def test_receipt_sms_waits_for_notifications_and_arrives_once(property_tax_stack, notifications,
                                                               sms_provider):
    s = property_tax_stack(NAGAR_PROPERTY_TAX_RELAY_INTERVAL_MS=200)
    clerk = s.staff("CLERK", ULB)
    mobile = "98" + str(uuid.uuid4().int % 10**8).zfill(8)
    body = {"ulb": ULB, "ward": 3, "zone": "A", "address": "7 Station Road",
            "usage": "RESIDENTIAL", "construction": "RCC", "occupancy": "RENTED",
            "owners": [{"name": "Ramesh Patel", "mobile": mobile, "shareBp": 10000}],
            "floors": [{"floor": 0, "areaSqft": "600"}]}
    r = s.post(f"{PT}/properties", body, token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    pid = r.json()["propertyId"]

    # Notifications is down: the payment is acknowledged all the same, within
    # the 10 s the client gives it of the gateway's 20 s deadline: it does not
    # wait for notifications.
    r = s.request("POST", f"{PT}/payments", token=clerk.token, key=uuid.uuid4().hex, timeout=10,
                  json={"propertyId": pid, "amountPaise": "125000", "mode": "CASH",
                        "counter": "C1", "advance": True})
    assert r.status_code == 200, r.text
    receipt_no = r.json()["receiptNo"]

    # The event waits in property tax's outbox; nothing is sent meanwhile.
    def pending():
        return int(s.sql(f"SELECT count(*) FROM outbox WHERE sent_at IS NULL AND ulb = '{ULB}'"))
    wait_until(lambda: pending() >= 1, 10, what="the payment event in the outbox")
    time.sleep(1.0)
    assert sms_provider.to(mobile) == []

    # Notifications comes up: the receipt SMS arrives, exactly once.
    notifications(s.broker)
    wait_until(lambda: sms_provider.to(mobile), 30, interval=0.1,
               what="the receipt SMS after notifications started")
    time.sleep(3.0)    # relay ticks and delivery retries that could double it
    sent = sms_provider.to(mobile)
    assert len(sent) == 1, sent
    assert receipt_no in str(sent[0]), sent[0]
    assert pending() == 0
