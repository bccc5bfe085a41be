"""Listing self-assessment returns (issue 15): a property's, for its owner and
for staff of its ULB; a citizen's own; a ULB's awaiting an officer's decision
(the staff inbox, oldest first), paged; nobody else's.
"""
import uuid

PT = "/api/v1/property-tax"
ULB = "265847"          # one ULB of its own (services/identity/data)
ULB_ELSEWHERE = "263361"


def declaration(pid, fy, area):
    return {"propertyId": pid, "fy": fy, "zone": "A", "usage": "RESIDENTIAL",
            "construction": "RCC", "occupancy": "SELF_OCCUPIED",
            "floors": [{"floor": 0, "areaSqft": str(area)}]}


def ids(reply):
    return [a["assessmentId"] for a in reply["assessments"]]


def test_returns_of_a_property_a_citizen_and_the_inbox(property_tax_stack):
    s = property_tax_stack(business_date="2025-07-01")
    clerk = s.staff("CLERK", ULB)
    officer = s.staff("REVENUE_OFFICER", ULB)
    clerk_elsewhere = s.staff("CLERK", ULB_ELSEWHERE)
    registrar = s.staff("REGISTRAR", ULB)
    owner = s.citizen("9812388001")
    stranger = s.citizen("9812388002")
    pids = []
    for i in range(2):
        body = {"ulb": ULB, "ward": 2, "zone": "A", "address": f"{i + 1} Lake Road",
                "usage": "RESIDENTIAL", "construction": "RCC", "occupancy": "SELF_OCCUPIED",
                "owners": [{"name": "Kavita Jain", "userId": owner.user_id, "shareBp": 10000}],
                "floors": [{"floor": 0, "areaSqft": "700"}]}
        r = s.post(f"{PT}/properties", body, token=clerk.token, key=uuid.uuid4().hex)
        assert r.status_code == 200, r.text
        pids.append(r.json()["propertyId"])
    filed = []
    for pid, fy in ((pids[0], "2024-25"), (pids[0], "2025-26"), (pids[1], "2025-26")):
        r = s.post(f"{PT}/assessments", declaration(pid, fy, 650), token=owner.token,
                   key=uuid.uuid4().hex)
        assert r.status_code == 200, r.text
        filed.append(r.json()["assessmentId"])
    r = s.post(f"{PT}/assessments/{filed[0]}/decision", {"decision": "ACCEPT"},
               token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text

    # One property's returns, newest first: for its owner and for staff of its ULB.
    for who in (owner, clerk, officer):
        r = s.get(f"{PT}/assessments", token=who.token, params={"propertyId": pids[0]})
        assert r.status_code == 200, r.text
        assert ids(r.json()) == [filed[1], filed[0]]
    assert [a["status"] for a in s.get(f"{PT}/assessments", token=owner.token,
                                       params={"propertyId": pids[0]}).json()["assessments"]] == \
        ["FILED", "ACCEPTED"]
    # Not the stranger's, not another ULB's staff's: no such property; a registrar has no say.
    for who in (stranger, clerk_elsewhere):
        r = s.get(f"{PT}/assessments", token=who.token, params={"propertyId": pids[0]})
        assert (r.status_code, r.json()["error"]["field"]) == (404, "propertyId")
    assert s.get(f"{PT}/assessments", token=registrar.token).status_code == 403

    # A citizen's own, every property; a stranger has none.
    assert ids(s.get(f"{PT}/assessments", token=owner.token).json()) == filed[::-1]
    assert ids(s.get(f"{PT}/assessments", token=owner.token,
                     params={"fy": "2025-26"}).json()) == [filed[2], filed[1]]
    assert ids(s.get(f"{PT}/assessments", token=stranger.token).json()) == []

    # The inbox: the ULB's returns awaiting a decision, oldest first, a page at a time.
    page = s.get(f"{PT}/assessments", token=officer.token,
                 params={"status": "FILED", "pageSize": 1}).json()
    assert ids(page) == [filed[1]] and page["nextPageToken"]
    page = s.get(f"{PT}/assessments", token=officer.token,
                 params={"status": "FILED", "pageSize": 1,
                         "pageToken": page["nextPageToken"]}).json()
    assert ids(page) == [filed[2]] and page["nextPageToken"] == ""
    assert ids(s.get(f"{PT}/assessments", token=clerk_elsewhere.token,
                     params={"status": "FILED"}).json()) == []
    r = s.get(f"{PT}/assessments", token=clerk.token, params={"ulb": ULB_ELSEWHERE})
    assert r.status_code == 403
    r = s.get(f"{PT}/assessments", token=clerk.token, params={"status": "WAITING"})
    assert (r.status_code, r.json()["error"]["field"]) == (422, "status")
    r = s.get(f"{PT}/assessments", token=clerk.token, params={"pageSize": 101})
    assert (r.status_code, r.json()["error"]["field"]) == (422, "pageSize")
