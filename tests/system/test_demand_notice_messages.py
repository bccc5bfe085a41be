"""When the annual demand runs, each owner with a contact is told their
bill once: the amount payable on the notice and the link to the notice and
the payment page (issue 14 item 1), through property tax's outbox, a chunk
of bills at a time, and notifications (which finds the person's contact).

The property tax side is sql/notice_messages.sql's
pt_demand_notice_messages_chunk; the event is demand.notice
(services/notifications/migrations/005_demand_notice.sql), whose {{link}}
notifications derives from NAGAR_PORTAL_URL.
"""
import uuid

import test_property_tax as pt
from nagar_proc import wait_until
from test_event_delivery import addresses, new_mobile, wait_sms

PT = "/api/v1/property-tax"
ULB = "250760"              # Banda (no other test uses it)
PORTAL = "https://nagar.example.in"
TODAY = "2026-06-15"


def rupees(paise):
    """125050 -> '1,250.50' (the Indian grouping notifications prints)."""
    whole, fraction = divmod(paise, 100)
    digits = str(whole)
    head, tail = digits[:-3], digits[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return ",".join(groups + [tail]) + f".{fraction:02d}"


def new_property(s, clerk, owners, **kwargs):
    body = pt.property_body(ULB, 1200, owners=owners, **kwargs)
    r = s.post(f"{PT}/properties", body, token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    return r.json()["propertyId"]


def messages_done(s, officer, job_id):
    def done():
        job = s.get(f"{PT}/demand-jobs/{job_id}", token=officer.token).json()
        return job if job["messagesStatus"] == "DONE" else None
    return wait_until(done, 60, interval=0.2, what=f"demand job {job_id}'s messages")


def test_the_annual_demand_tells_each_owner_once(property_tax_stack, notifications,
                                                 sms_provider):
    s = property_tax_stack(business_date=TODAY, NAGAR_PORTAL_URL=PORTAL,
                           NAGAR_PROPERTY_TAX_NOTICE_CHUNK="2")
    n = notifications(s.broker, NAGAR_PORTAL_URL=PORTAL)
    officer, clerk = s.staff("REVENUE_OFFICER", ULB), s.staff("CLERK", ULB)
    pt.set_rates(s, officer, ULB, "2026-27")

    # Two owners with accounts (their verified numbers, not the stale one on
    # the register), a third owner known only by a mobile on the register,
    # and a fourth row with Sunita's register mobile and no account (Sunita
    # again: not told twice); a property whose two owners are known only by
    # their mobiles on the register (the second was never told before);
    # an owner nobody can reach; an exempt property (nothing to pay).
    verified_1, verified_2, stale, register_only, third, second = (new_mobile()
                                                                    for _ in range(6))
    sunita, ramesh = s.citizen(verified_1), s.citizen(verified_2)
    shared = new_property(s, clerk, [
        {"name": "Sunita Rathore", "mobile": stale, "userId": sunita.user_id, "shareBp": 4000},
        {"name": "Ramesh Rathore", "mobile": "", "userId": ramesh.user_id, "shareBp": 4000},
        {"name": "Geeta Rathore", "mobile": third, "shareBp": 1000},
        {"name": "Sunita R.", "mobile": stale, "shareBp": 1000}])
    kamla = new_property(s, clerk, [{"name": "Kamla Bai", "mobile": register_only,
                                     "shareBp": 5000},
                                    {"name": "Mohan Lal", "mobile": second, "shareBp": 5000}])
    unreachable = new_property(s, clerk, [{"name": "Hari Lal", "mobile": "", "shareBp": 10000}])
    exempt = new_property(s, clerk, [{"name": "Mandir Trust", "mobile": new_mobile(),
                                      "shareBp": 10000}], exemption="WORSHIP")

    job = pt.run_demand(s, officer, ULB, "2026-27")
    assert int(job["billsCreated"]) == 4, job
    job = messages_done(s, officer, job["jobId"])
    assert int(job["messagesQueued"]) == 5, job

    # Each message: the notice's amount payable that day, the year, the due
    # date and the link to the notice and payment page.
    for pid, mobiles in ((shared, (verified_1, verified_2, third)),
                         (kamla, (register_only, second))):
        notice = s.get(f"{PT}/properties/{pid}/demand-notices/2026-27",
                       token=clerk.token).json()
        amount = int(notice["payablePaise"])
        assert amount > 0, notice
        for mobile in mobiles:
            text = wait_sms(sms_provider, mobile)[0]["text"]
            for part in (rupees(amount), "2026-27", "2027-03-31", f"{PORTAL}/property/{pid}"):
                assert part in text, f"{part!r} not in {text!r}"
    assert addresses(n, "demand.notice", [f"property:{shared}"]) == sorted([verified_1,
                                                                            verified_2, third])
    assert addresses(n, "demand.notice", [f"property:{kamla}"]) == sorted([register_only,
                                                                           second])
    assert sms_provider.to(stale) == []
    subjects = ", ".join(f"'property:{p}'" for p in (shared, kamla, unreachable, exempt))
    events = f"SELECT count(*) FROM notifications.event WHERE type = 'demand.notice' " \
             f"AND subject IN ({subjects})"
    assert n.sql(events) == "5"
    # The owners without an account are named by the register's key for
    # them, never by their number; their events name no user id.
    assert n.sql(f"SELECT string_agg(person, ',' ORDER BY person) FROM notifications.event "
                 f"WHERE type = 'demand.notice' AND subject IN ({subjects}) "
                 f"AND user_id = ''") == "owner:1,owner:2,owner:3"
    assert s.sql(f"SELECT count(*) FROM outbox WHERE event_type = 'demand.notice' AND ulb = "
                 f"'{ULB}' AND (position(convert_to('{third}', 'UTF8') IN payload) > 0 OR "
                 f"position(convert_to('{second}', 'UTF8') IN payload) > 0)") == "0"

    # Never twice: the job's messages run again from the start (as after a
    # crash between a chunk and its record) queue nothing new.
    s.sql(f"UPDATE demand_job SET messages_status = 'WAITING', messages_cursor = '' "
          f"WHERE id = {int(job['jobId'])}")
    job = messages_done(s, officer, job["jobId"])
    assert int(job["messagesQueued"]) == 5, job
    assert s.sql(f"SELECT count(*) FROM demand_notice_message WHERE ulb = '{ULB}'") == "5"
    # The chunks put their events in the outbox in their own transactions.
    assert s.sql(f"SELECT count(*) FROM outbox WHERE event_type = 'demand.notice' "
                 f"AND ulb = '{ULB}'") == "5"
    assert n.sql(events) == "5"
    for mobile in (verified_1, verified_2, third, register_only, second):
        assert len(sms_provider.to(mobile)) == 1, sms_provider.to(mobile)
