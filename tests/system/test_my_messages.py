"""A citizen's own list of the messages sent to them (message.mine, GET
/api/v1/notifications/my-messages; the portal's "my messages").

Whose messages they are comes from the citizen's verified token, never a
parameter: a citizen sees the messages queued for their account, newest
first, a page at a time, each with its type's title in their language, the
channel, the address masked, the text as sent, status and times — never an
OTP, another person's message, a delivery error or a provider id. Staff are
refused (they have delivery status, message.list).
"""
import uuid

from nagar_proc import wait_until
import test_property_tax as pt
from test_event_delivery import new_mobile, property_with_owner

MINE = "/api/v1/notifications/my-messages"
ULB = "251000"          # Chichli (no other test uses it)


def mine(s, token, **params):
    r = s.get(MINE, token=token, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_citizen_lists_their_own_messages_and_nobody_elses(property_tax_stack, notifications):
    s = property_tax_stack()
    n = notifications(s.broker)
    clerk = s.staff("CLERK", ULB)
    mobile, other_mobile = new_mobile(), new_mobile()
    citizen, other = s.citizen(mobile), s.citizen(other_mobile)
    own = property_with_owner(s, clerk, ULB, {"name": "Sita Verma", "mobile": mobile,
                                              "userId": citizen.user_id})
    theirs = property_with_owner(s, clerk, ULB, {"name": "Ram Lal", "mobile": other_mobile,
                                                 "userId": other.user_id})
    receipts = []
    for amount in (11100, 22200):
        r = pt.pay(s, clerk, own, amount)
        assert r.status_code == 200, r.text
        receipts.append(r.json()["receiptNo"])
    r = pt.pay(s, clerk, theirs, 33300)
    assert r.status_code == 200, r.text
    other_receipt = r.json()["receiptNo"]

    got = wait_until(lambda: mine(s, citizen.token) if len(mine(s, citizen.token)["messages"]) >= 2
                     else None, 60, interval=0.3, what="the citizen's two receipts")["messages"]
    assert len(got) == 2, got
    # Newest first: the second payment's receipt first.
    assert receipts[1] in got[0]["text"] and receipts[0] in got[1]["text"], got
    assert int(got[0]["messageId"]) > int(got[1]["messageId"])
    for m in got:
        assert m["type"] == "payment.received" and m["channel"] == "SMS", m
        assert m["title"] == "भुगतान प्राप्त" and m["language"] == "hi", m
        assert m["address"] == "******" + mobile[-4:], m
        assert m["status"] in ("QUEUED", "SENDING", "SENT"), m
        assert m["createdAt"].endswith("Z"), m
        assert set(m) <= {"messageId", "type", "title", "channel", "address", "subject", "text",
                          "language", "status", "createdAt", "sentAt"}, m
        assert other_receipt not in m["text"] and mobile not in str(m), m
    # The titles in English when asked.
    assert {m["title"] for m in mine(s, citizen.token, language="en")["messages"]} == \
        {"Payment received"}
    # An OTP queued for them (as identity's message.send queues one, its code
    # sealed) is never listed.
    n.sql(f"INSERT INTO notifications.message (event_id, type, ulb, channel, address, user_id, "
          f"language, essential, body, body_sealed, seal_key_id, template_version) "
          f"SELECT event_id, 'otp.login', ulb, 'sms', address, user_id, 'hi', true, "
          f"'नगर: आपका लॉगिन ओटीपी ****** है', '\\x00', 'k1', 1 "
          f"FROM notifications.message WHERE id = {int(got[0]['messageId'])}")
    listed = mine(s, citizen.token)["messages"]
    assert [m["messageId"] for m in listed] == [m["messageId"] for m in got], listed
    # A page at a time.
    first = mine(s, citizen.token, pageSize=1)
    assert [m["messageId"] for m in first["messages"]] == [got[0]["messageId"]]
    assert first["nextPageToken"], first
    second = mine(s, citizen.token, pageSize=1, pageToken=first["nextPageToken"])
    assert [m["messageId"] for m in second["messages"]] == [got[1]["messageId"]]

    # The other citizen sees only their own; a parameter cannot name someone else.
    other_list = wait_until(lambda: mine(s, other.token) if mine(s, other.token)["messages"]
                            else None, 60, interval=0.3, what="the other citizen's receipt")
    assert [other_receipt in m["text"] for m in other_list["messages"]] == [True], other_list
    r = s.get(MINE, token=other.token, params={"userId": citizen.user_id})
    assert r.status_code == 400 or \
        {m["messageId"] for m in r.json()["messages"]} == \
        {m["messageId"] for m in other_list["messages"]}, r.text

    # Bounded; citizens only; signed in only.
    for params, field in (({"pageSize": 51}, "pageSize"), ({"language": "fr"}, "language"),
                          ({"pageToken": "not-a-token"}, "pageToken")):
        r = s.get(MINE, token=citizen.token, params=params)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert s.get(MINE, token=clerk.token).status_code == 403
    assert s.get(MINE).status_code == 401
