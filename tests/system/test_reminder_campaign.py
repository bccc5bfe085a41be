"""Reminder campaigns end to end (issue 4, deliverable 4): nagar-batch pages
through property tax's defaulters (report.defaulters, keyset-paged) and
feeds them to a notifications campaign; every defaulter gets exactly one
reminder SMS, a second run messages nobody again, and an owner who paid
gets none. Also the paging itself: every defaulter exactly once across
pages, in property-id order, with a bad page token refused.

Property tax's outbox relay is slowed right down so that the demand SMS of
the same owners stay in its outbox: what reaches the SMS provider here is
the campaign's reminders (they are also told apart by their text).
"""
import os
import subprocess
import time
import uuid

import test_property_tax as pt
from nagar_proc import wait_until

PT = "/api/v1/property-tax"
ULB_CAMPAIGN = "250952"     # Budni; no other test uses it
ULB_PAGING = "250808"       # Burhar; no other test uses it
BUSINESS_DATE = "2026-06-15"   # 2025-26 has ended: its unpaid demand is arrears
CYCLE = "2026-06-30"
BATCH_TIMEOUT = 180


def owner_mobile(i):
    return "97" + str((uuid.uuid4().int + i) % 10**8).zfill(8)


def make_defaulters(s, ulb, count, payers=0):
    """count properties with unpaid 2025-26 demand and payers that paid it
    in full; returns ({pid: mobile} of defaulters, {pid: mobile} of payers)."""
    officer = s.staff("REVENUE_OFFICER", ulb)
    clerk = s.staff("CLERK", ulb)
    pt.set_rates(s, officer, ulb, "2025-26")
    owners = {}
    for i in range(count + payers):
        mobile = owner_mobile(i)
        pid = pt.create_property(s, clerk, ulb, 3000, ward=1 + i % 3,
                                 owners=[{"name": f"Owner {i}", "mobile": mobile,
                                          "shareBp": 10000}])
        owners[pid] = mobile
    pt.run_demand(s, officer, ulb, "2025-26")
    pids = sorted(owners)
    paid = {}
    for pid in pids[:payers]:
        payable = pt.n(pt.dues(s, clerk.token, pid), "payablePaise")
        assert payable > 0
        r = pt.pay(s, clerk, pid, payable)
        assert r.status_code == 200, r.text
        paid[pid] = owners.pop(pid)
    return owners, paid, clerk


def all_pages(s, token, ulb, limit):
    pages, page_token = [], ""
    for _ in range(100):
        params = {"ulb": ulb, "limit": limit}
        if page_token:
            params["pageToken"] = page_token
        r = s.get(f"{PT}/reports/defaulters", token=token, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body.get("defaulters", []))
        page_token = body.get("nextPageToken", "")
        if not page_token:
            return pages
        assert page_token == pages[-1][-1]["propertyId"]
    raise AssertionError("paging did not end after 100 pages")


def test_defaulters_report_pages_each_defaulter_once(property_tax_stack):
    s = property_tax_stack(business_date=BUSINESS_DATE, NAGAR_PROPERTY_TAX_RELAY_INTERVAL_MS=600000)
    defaulters, paid, clerk = make_defaulters(s, ULB_PAGING, 12, payers=1)

    pages = all_pages(s, clerk.token, ULB_PAGING, 5)
    assert [len(p) for p in pages] == [5, 5, 2]
    ids = [d["propertyId"] for p in pages for d in p]
    assert ids == sorted(defaulters), "every defaulter once, in property-id order"
    assert all(pt.n(d, "outstandingPaise") == 482000 and d["oldestFy"] == "2025-26"
               and d["ownerMobile"] == defaulters[d["propertyId"]] for p in pages for d in p)
    assert not set(paid) & set(ids)

    # A page size that divides the count exactly: the last full page says "no more".
    pages = all_pages(s, clerk.token, ULB_PAGING, 6)
    assert [len(p) for p in pages] == [6, 6]
    # One page holds them all: no token.
    r = s.get(f"{PT}/reports/defaulters", token=clerk.token, params={"ulb": ULB_PAGING})
    assert len(r.json()["defaulters"]) == 12 and r.json().get("nextPageToken", "") == ""

    # A token that is not a property id is refused with its field.
    r = s.get(f"{PT}/reports/defaulters", token=clerk.token,
              params={"ulb": ULB_PAGING, "pageToken": "x' OR 1=1 --"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert r.json()["error"]["field"] == "pageToken"


def reminders(sms_provider, mobile):
    """Reminder SMS to mobile (the Hindi due-date reminder says "बकाया")."""
    return [m for m in sms_provider.to(mobile) if "बकाया" in str(m)]


def run_batch(nagar_bin, s, *extra, operator=None):
    """nagar-batch campaign as the batch principal, logged in as operator
    (a rules_stack Staff) when given: the batch key alone starts nothing."""
    env = dict(os.environ)
    env.update(s.broker.client_env("batch"))
    for name in ("NAGAR_OPERATOR_USER", "NAGAR_OPERATOR_PASSWORD", "NAGAR_OPERATOR_TOKEN"):
        env.pop(name, None)
    if operator:
        env.update(NAGAR_OPERATOR_USER=operator.username, NAGAR_OPERATOR_PASSWORD=operator.password)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    argv = [nagar_bin("nagar-batch"), "campaign", "--ulb", ULB_CAMPAIGN, "--kind", "property_tax",
            "--cycle", CYCLE, *extra]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=BATCH_TIMEOUT,
                          stdin=subprocess.DEVNULL)


def test_campaign_reminds_every_defaulter_once(property_tax_stack, notifications, sms_provider,
                                               nagar_bin):
    s = property_tax_stack(business_date=BUSINESS_DATE, NAGAR_PROPERTY_TAX_RELAY_INTERVAL_MS=600000)
    defaulters, paid, _ = make_defaulters(s, ULB_CAMPAIGN, 30, payers=1)
    assert len(defaulters) == 30
    n = notifications(s.broker)

    # Usage errors exit 2 before touching anything.
    bad = run_batch(nagar_bin, s, "--kind", "gas_tax")
    assert bad.returncode == 2, bad.stderr
    assert run_batch(nagar_bin, s, "--page-size", "0").returncode == 2
    bad = run_batch(nagar_bin, s, "--ulb", "25O786")       # a letter O, the last --ulb wins
    assert bad.returncode == 2 and '--ulb must be the LGD code of the ULB (1 to 10 digits), ' \
        'not "25O786"' in bad.stderr, bad.stderr

    # Issue 12: the batch key alone starts nothing; an operator of another
    # ULB, or a clerk, gets no campaign grant for this one.
    keyless = run_batch(nagar_bin, s, "--per-minute", "6000")
    assert keyless.returncode == 1 and "NAGAR_OPERATOR_USER" in keyless.stderr, keyless.stderr
    elsewhere = s.staff("REVENUE_OFFICER", ULB_PAGING)
    r = run_batch(nagar_bin, s, "--per-minute", "6000", operator=elsewhere)
    assert r.returncode == 1 and "PERMISSION_DENIED" in r.stderr, r.stderr
    clerk = s.staff("CLERK", ULB_CAMPAIGN)
    r = run_batch(nagar_bin, s, "--per-minute", "6000", operator=clerk)
    assert r.returncode == 1 and "PERMISSION_DENIED" in r.stderr, r.stderr
    assert n.sql("SELECT count(*) FROM notifications.campaign "
                 f"WHERE ulb = '{ULB_CAMPAIGN}'") == "0", "a refused run started a campaign"

    operator = s.staff("REVENUE_OFFICER", ULB_CAMPAIGN)
    first = run_batch(nagar_bin, s, "--per-minute", "6000", "--page-size", "7", "--wait", "150",
                      operator=operator)
    assert first.returncode == 0, first.stdout + first.stderr
    # The campaign is the operator's, not the batch key's.
    assert n.sql("SELECT created_by FROM notifications.campaign "
                 f"WHERE ulb = '{ULB_CAMPAIGN}'") == operator.user_id
    out = first.stdout
    assert "started" in out and "page 5: 2 defaulters" in out, out
    assert "30 defaulters in 5 pages, 30 added, 0 already present" in out, out
    assert "done" in out.splitlines()[-1], out

    campaign_id = out.split()[1]
    assert n.sql(f"SELECT count(*) FROM notifications.campaign_recipient "
                 f"WHERE campaign_id = {int(campaign_id)}") == "30"
    wait_until(lambda: all(reminders(sms_provider, m) for m in defaulters.values()), 30,
               interval=0.2, what="a reminder to every defaulter")
    for pid, mobile in defaulters.items():
        sent = reminders(sms_provider, mobile)
        assert len(sent) == 1, (pid, sent)
        text = str(sent[0])
        # The tool sends raw facts; notifications prints the amount in rupees
        # and names the town as identity has it.
        assert pid in text and "4,820.00" in text and "Budni" in text and CYCLE in text, text
    for mobile in paid.values():
        assert reminders(sms_provider, mobile) == [], "an owner who paid got a reminder"

    # Run it again: the same campaign, nothing added, nobody messaged twice.
    second = run_batch(nagar_bin, s, "--per-minute", "6000", "--page-size", "7", "--wait", "60",
                       operator=operator)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"campaign {campaign_id} " in second.stdout and "resumed" in second.stdout
    assert "nothing to add" in second.stdout, second.stdout
    time.sleep(3.0)    # notifications ticks that could double a message
    for mobile in defaulters.values():
        assert len(reminders(sms_provider, mobile)) == 1
    for mobile in paid.values():
        assert reminders(sms_provider, mobile) == []
    assert n.sql(f"SELECT count(*) FROM notifications.message "
                 f"WHERE campaign_id = {int(campaign_id)}") == "30"
