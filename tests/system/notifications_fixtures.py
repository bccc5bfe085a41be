"""Notifications fixtures for system tests: a real SMTP server on loopback
(aiosmtpd), the fake SMS provider, a running nagar-notifications, a bus
client that speaks its protobuf messages, and the outbox demo service.

Registered as a plugin in conftest.py (pytest_plugins), like the other
fixture modules; tests use the fixtures by name:

    def test_something(broker, notifications, sms_provider, smtp_server):
        b = broker()
        n = notifications(b)                  # SMS to sms_provider, e-mail to smtp_server
        c = n.client("property_tax")          # calls as that principal
        r = c.call("event.deliver", {"event": {...}})
        r.ok, r.code, r.field, r.message, r.reply
        n.sql("SELECT ...")                   # superuser, in nagar_notifications
        n.wait_status(message_id, "sent")

`notifications(running_broker, **env)` starts nagar-notifications as the
"notifications" principal with the notifications_app role, a seal key,
NAGAR_NOTIFY_SMS_URL pointing at the fake provider and
NAGAR_NOTIFY_SMTP_URL at the SMTP server (plain, TLS off), fast retries
(base 200 ms, 3 attempts), quiet hours off; env overrides any of it.
Starting it again (same test) gives a new process on the same database.

`smtp_server` records messages: .messages (email.message.Message objects,
each with .envelope_to), .mode = "ok" | "451" | "550".

`outbox_demo(running_broker)` makes a fresh database for the demo service
(tests/support/outbox_demo.c), migrates it, and returns an OutboxDemo with
.pay(ulb, mobile, amount, receipt) -> (seconds taken, payment id),
.start_relay(**env) -> Proc, .pending().
"""
import email
import email.policy
import os
import subprocess
import time
import uuid

import pytest
from aiosmtpd.controller import Controller

from fake_sms_provider import FakeSmsProvider
from mdp_packed import NagarClient
from mdp_peers import MdpWorker
from nagar_proc import ROOT, free_port, wait_until

CLI_TIMEOUT = 60

SCHEMAS = {
    "Actor": {1: ("userId", "str"), 2: ("role", "str"), 3: ("ulb", "str")},
    # Field 3 (the old Actor) is reserved: services ignore it; attack tests
    # still write it to show that nobody believes it.
    "RequestContext": {1: ("requestId", "str"), 2: ("idempotencyKey", "str"),
                       3: ("actor", "Actor"), 4: ("deadlineUnixMs", "int"),
                       5: ("clientIp", "str"), 6: ("authorization", "str")},
    "Request": {1: ("method", "str"), 2: ("context", "RequestContext"), 3: ("payload", "bytes")},
    "Status": {1: ("code", "int"), 2: ("message", "str"), 3: ("field", "str")},
    "Reply": {1: ("requestId", "str"), 2: ("status", "Status"), 3: ("payload", "bytes"),
              4: ("replayed", "bool")},
    "Recipient": {1: ("mobile", "str"), 2: ("email", "str"), 3: ("language", "str"),
                  4: ("userId", "str")},
    "Param": {1: ("name", "str"), 2: ("value", "str")},
    "Event": {1: ("eventId", "str"), 2: ("type", "str"), 3: ("ulb", "str"),
              4: ("occurredAtMs", "int"), 5: ("recipient", "Recipient"), 6: ("params", "[]Param"),
              7: ("essential", "bool"), 8: ("subject", "str")},
    "SubjectsRequest": {1: ("subjects", "[]str")},
    "SubjectPerson": {1: ("userId", "str"), 2: ("mobile", "str")},
    "Subject": {1: ("subject", "str"), 2: ("found", "bool"), 3: ("ulb", "str"),
                4: ("persons", "[]SubjectPerson")},
    "SubjectsReply": {1: ("subjects", "[]Subject")},
    "LookupContactsRequest": {1: ("userIds", "[]str")},
    "Contact": {1: ("userId", "str"), 2: ("found", "bool"), 3: ("mobile", "str"),
                4: ("email", "str"), 5: ("language", "str")},
    "LookupContactsReply": {1: ("contacts", "[]Contact")},
    "EventInfo": {1: ("eventId", "str"), 2: ("type", "str"), 3: ("ulb", "str"),
                  4: ("source", "str"), 5: ("subject", "str"), 6: ("userId", "str"),
                  7: ("state", "int"), 8: ("reason", "str"), 9: ("attempts", "int"),
                  10: ("receivedAt", "str"), 11: ("nextAttemptAt", "str"),
                  12: ("resolvedAt", "str"), 13: ("campaignId", "str")},
    "ListEventsRequest": {1: ("ulb", "str"), 2: ("state", "int"), 3: ("type", "str"),
                          4: ("pageSize", "int"), 5: ("pageToken", "str")},
    "ListEventsReply": {1: ("events", "[]EventInfo"), 2: ("nextPageToken", "str")},
    "RetryEventRequest": {1: ("eventId", "str")},
    "DeliverEventRequest": {1: ("event", "Event")},
    "DeliverEventReply": {1: ("duplicate", "bool"), 2: ("messageIds", "[]str")},
    "SendMessageRequest": {1: ("type", "str"), 2: ("ulb", "str"), 3: ("recipient", "Recipient"),
                           4: ("params", "[]Param"), 5: ("secretParams", "[]str"),
                           6: ("essential", "bool"), 7: ("expiresInSeconds", "int")},
    "SendMessageReply": {1: ("messageIds", "[]str"), 2: ("duplicate", "bool")},
    "MessageInfo": {1: ("messageId", "str"), 2: ("eventId", "str"), 3: ("type", "str"),
                    4: ("ulb", "str"), 5: ("channel", "int"), 6: ("address", "str"),
                    7: ("language", "str"), 8: ("status", "int"), 9: ("attempts", "int"),
                    10: ("lastError", "str"), 11: ("body", "str"), 12: ("subject", "str"),
                    13: ("segments", "int"), 14: ("encoding", "str"), 15: ("createdAt", "str"),
                    16: ("nextAttemptAt", "str"), 17: ("sentAt", "str"),
                    18: ("providerMessageId", "str"), 19: ("campaignId", "str")},
    "ListMessagesRequest": {1: ("ulb", "str"), 2: ("address", "str"), 3: ("eventId", "str"),
                            4: ("status", "int"), 5: ("campaignId", "str"), 6: ("pageSize", "int"),
                            7: ("pageToken", "str")},
    "ListMessagesReply": {1: ("messages", "[]MessageInfo"), 2: ("nextPageToken", "str")},
    "Template": {1: ("type", "str"), 2: ("language", "str"), 3: ("channel", "int"),
                 4: ("ulb", "str"), 5: ("subject", "str"), 6: ("body", "str"),
                 7: ("dltTemplateId", "str"), 8: ("version", "int"), 9: ("savedBy", "str"),
                 10: ("savedAt", "str")},
    "SaveTemplateRequest": {1: ("template", "Template")},
    "ListTemplatesRequest": {1: ("type", "str"), 2: ("ulb", "str"), 3: ("allVersions", "bool")},
    "EventType": {1: ("type", "str"), 2: ("placeholders", "[]str"), 3: ("description", "str")},
    "ListTemplatesReply": {1: ("templates", "[]Template"), 2: ("eventTypes", "[]EventType")},
    "SetOptOutRequest": {1: ("userId", "str"), 2: ("mobile", "str"), 3: ("email", "str"),
                         4: ("optedOut", "bool")},
    "OptOut": {1: ("subject", "str"), 2: ("optedOut", "bool"), 3: ("updatedAt", "str")},
    "StartCampaignRequest": {1: ("ulb", "str"), 2: ("kind", "int"), 3: ("cycle", "str"),
                             4: ("perMinute", "int"), 5: ("params", "[]Param")},
    "CampaignRecipient": {1: ("recipient", "Recipient"), 2: ("params", "[]Param")},
    "AddRecipientsRequest": {1: ("campaignId", "str"), 2: ("recipients", "[]CampaignRecipient"),
                             3: ("lastBatch", "bool")},
    "AddRecipientsReply": {1: ("added", "int"), 2: ("alreadyPresent", "int")},
    "CampaignStatusRequest": {1: ("campaignId", "str")},
    "Campaign": {1: ("campaignId", "str"), 2: ("ulb", "str"), 3: ("kind", "int"),
                 4: ("cycle", "str"), 5: ("state", "int"), 6: ("perMinute", "int"),
                 7: ("recipients", "int"), 8: ("queued", "int"), 9: ("sent", "int"),
                 10: ("dead", "int"), 11: ("suppressed", "int"), 12: ("pending", "int"),
                 13: ("existing", "bool"), 14: ("createdAt", "str"), 15: ("failed", "int")},
}

METHODS = {
    "event.deliver": ("DeliverEventRequest", "DeliverEventReply"),
    "event.list": ("ListEventsRequest", "ListEventsReply"),
    "event.retry": ("RetryEventRequest", "EventInfo"),
    "notify.subjects": ("SubjectsRequest", "SubjectsReply"),
    "contact.lookup": ("LookupContactsRequest", "LookupContactsReply"),
    "message.send": ("SendMessageRequest", "SendMessageReply"),
    "message.list": ("ListMessagesRequest", "ListMessagesReply"),
    "template.save": ("SaveTemplateRequest", "Template"),
    "template.list": ("ListTemplatesRequest", "ListTemplatesReply"),
    "optout.set": ("SetOptOutRequest", "OptOut"),
    "campaign.start": ("StartCampaignRequest", "Campaign"),
    "campaign.add_recipients": ("AddRecipientsRequest", "AddRecipientsReply"),
    "campaign.status": ("CampaignStatusRequest", "Campaign"),
}

STATUS_NAMES = ["OK", "INVALID_ARGUMENT", "NOT_FOUND", "CONFLICT", "FAILED_PRECONDITION",
                "PERMISSION_DENIED", "UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL",
                "UNAUTHENTICATED", "RESOURCE_EXHAUSTED"]
CHANNEL = {"SMS": 1, "EMAIL": 2}
MESSAGE_STATUS = {"QUEUED": 1, "SENDING": 2, "SENT": 3, "DEAD": 4, "SUPPRESSED": 5}
CAMPAIGN_KIND = {"PROPERTY_TAX": 1, "WATER_TAX": 2}
CAMPAIGN_STATE = {"OPEN": 1, "CLOSED": 2, "DONE": 3}
EVENT_STATE = {"PENDING": 1, "DELIVERED": 2, "RECORDED": 3, "REFUSED": 4, "UNDELIVERABLE": 5}


def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(number, data):
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def pb_encode(schema, values):
    """values (dict by JSON name) -> protobuf bytes. Unknown names raise."""
    by_name = {name: (number, kind) for number, (name, kind) in SCHEMAS[schema].items()}
    out = bytearray()
    for name, value in values.items():
        number, kind = by_name[name]
        if value is None:
            continue
        if kind in ("int", "bool"):
            out += _varint(number << 3) + _varint(int(value))
        elif kind in ("str", "bytes"):
            out += _length_delimited(number, value.encode() if isinstance(value, str)
                                     else bytes(value))
        elif kind == "[]str":
            for item in value:
                out += _length_delimited(number, item.encode())
        elif kind.startswith("[]"):
            for item in value:
                out += _length_delimited(number, pb_encode(kind[2:], item))
        else:
            out += _length_delimited(number, pb_encode(kind, value))
    return bytes(out)


def _read_varint(data, pos):
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def pb_decode(schema, data):
    fields = SCHEMAS[schema]
    out = {}
    for name, kind in fields.values():
        out[name] = ([] if kind.startswith("[]") else 0 if kind == "int" else False
                     if kind == "bool" else b"" if kind == "bytes" else "" if kind == "str"
                     else None)
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            value = data[pos:pos + length]
            pos += length
        else:
            raise ValueError(f"wire type {wire}")
        if number not in fields:
            continue
        name, kind = fields[number]
        if kind in ("int",):
            out[name] = value
        elif kind == "bool":
            out[name] = bool(value)
        elif kind == "str":
            out[name] = value.decode()
        elif kind == "bytes":
            out[name] = bytes(value)
        elif kind == "[]str":
            out[name].append(value.decode())
        elif kind.startswith("[]"):
            out[name].append(pb_decode(kind[2:], value))
        else:
            out[name] = pb_decode(kind, value)
    return out


class CallResult:
    def __init__(self, method, reply):
        self.method = method
        status = reply["status"] or {"code": 0, "message": "", "field": ""}
        self.code = STATUS_NAMES[status["code"]]
        self.message = status["message"]
        self.field = status["field"]
        self.replayed = reply["replayed"]
        self.reply = (pb_decode(METHODS[method][1], reply["payload"]) if self.code == "OK"
                      else None)

    @property
    def ok(self):
        return self.code == "OK"

    def __repr__(self):
        return (f"CallResult({self.method}: {self.code} field={self.field!r} "
                f"message={self.message!r} reply={self.reply!r})")


class NotifyClient:
    """Calls nagar-notifications over the broker as one principal."""

    def __init__(self, endpoint, curve, token_keys=None):
        self.mdp = NagarClient(endpoint, curve=curve)
        self.token_keys = token_keys

    def call(self, method, request=None, actor=None, idempotency_key="", timeout_ms=15000,
             authorization=None):
        """actor: {"userId","role","ulb"} is sent as an access token minted
        with identity's key (services believe no actor field); authorization:
        the exact credential to send instead."""
        request_id = uuid.uuid4().hex
        context = {"requestId": request_id, "idempotencyKey": idempotency_key}
        if authorization is not None:
            context["authorization"] = authorization
        elif actor:
            context["authorization"] = self.token_keys.mint(
                user_id=actor["userId"], role=actor["role"], ulb=actor.get("ulb", ""))
        payload = pb_encode(METHODS[method][0], request or {})
        body = pb_encode("Request", {"method": method, "context": context, "payload": payload})
        self.mdp.send("notifications", body)
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            got = self.mdp.recv(left_ms) if left_ms > 0 else None
            assert got is not None, f"no reply to {method} within {timeout_ms} ms"
            reply = pb_decode("Reply", got[1][-1])
            if reply["requestId"] in ("", request_id):
                return CallResult(method, reply)

    def close(self):
        self.mdp.close()


# ---- SMTP ----------------------------------------------------------------------

class RecordingSmtpHandler:
    def __init__(self):
        self.messages = []
        self.attempts = 0
        self.mode = "ok"

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if self.mode == "451":
            return "451 4.3.0 Try again later"
        if self.mode == "550":
            return "550 5.1.1 No such user"
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        message.envelope_to = list(envelope.rcpt_tos)
        message.envelope_from = envelope.mail_from
        self.messages.append(message)
        return "250 2.0.0 OK queued"


class SmtpServer:
    def __init__(self):
        self.handler = RecordingSmtpHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self):
        return self.handler.messages

    @property
    def mode(self):
        return self.handler.mode

    @mode.setter
    def mode(self, value):
        self.handler.mode = value

    def to(self, address):
        return [m for m in self.messages if address in m.envelope_to]

    def close(self):
        self.controller.stop()


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    yield server
    server.close()


@pytest.fixture
def sms_provider():
    provider = FakeSmsProvider()
    yield provider
    provider.close()


# ---- the service -----------------------------------------------------------------

class NotificationsDb:
    def __init__(self, cluster, binary):
        self.cluster = cluster
        self.binary = binary
        self.env = cluster.role_env("notifications_app")

    def sql(self, text):
        return self.cluster.sql(text, dbname="nagar_notifications")


@pytest.fixture(scope="session")
def notifications_db(pg_cluster, nagar_bin):
    db = NotificationsDb(pg_cluster, nagar_bin("nagar-notifications"))
    tables = db.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'notifications'")
    assert int(tables) >= 8, "the notifications migrations were not applied by provision.sh"
    return db


class RunningNotifications:
    def __init__(self, proc, db, broker, env):
        self.proc = proc
        self.db = db
        self.broker = broker
        self.env = env
        self._clients = []

    def client(self, principal="gateway"):
        keys = self.broker.keys_dir
        curve = None if self.broker.insecure else (
            os.path.join(keys, "secret", f"{principal}.cert"), self.broker.public_key_path)
        c = NotifyClient(self.broker.endpoint, curve, getattr(self.broker, "token_keys", None))
        self._clients.append(c)
        return c

    def sql(self, text):
        return self.db.sql(text)

    def event_state(self, event_id):
        return self.sql(f"SELECT state || '|' || reason FROM notifications.event "
                        f"WHERE event_id = '{event_id}'")

    def wait_event(self, event_id, state="delivered", timeout=20):
        """Waits until the event is resolved to state; returns its reason."""
        def reached():
            got = self.event_state(event_id).split("|", 1)
            return (got[1],) if got[0] == state else None
        return wait_until(reached, timeout, what=f"event {event_id} to be {state} "
                                                  f"(now {self.event_state(event_id)!r})")[0]

    def messages_of(self, event_id, count=1, timeout=20):
        """The ids of the messages queued for an event (waits for count)."""
        def queued():
            ids = self.sql(f"SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') "
                           f"FROM notifications.message WHERE event_id = '{event_id}'")
            ids = [i for i in ids.split(",") if i]
            return ids if len(ids) >= count else None
        return wait_until(queued, timeout, what=f"{count} message(s) for event {event_id} "
                                                f"(event: {self.event_state(event_id)!r})")

    def status(self, message_id):
        return self.sql(f"SELECT status FROM notifications.message WHERE id = {int(message_id)}")

    def wait_status(self, message_id, status, timeout=20):
        return wait_until(lambda: self.status(message_id) == status, timeout,
                          what=f"message {message_id} to be {status}")

    def stop(self):
        return self.proc.stop()

    def close(self):
        for c in self._clients:
            c.close()
        self._clients = []


@pytest.fixture
def notifications(procs, notifications_db, tmp_path, sms_provider, smtp_server):
    started = []
    count = [0]
    seal_key = str(tmp_path / "notify_seal.key")

    def start(running_broker, wait_ready=True, **env):
        count[0] += 1
        name = "notifications" if count[0] == 1 else f"notifications{count[0]}"
        if not os.path.exists(seal_key):
            result = subprocess.run([notifications_db.binary, "seal-keygen", seal_key],
                                    capture_output=True, text=True, timeout=CLI_TIMEOUT)
            assert result.returncode == 0, result.stderr
        full = dict(notifications_db.env)
        full.update(running_broker.client_env("notifications"))
        full.update({
            "NAGAR_NOTIFY_SEAL_KEY_FILE": seal_key,
            "NAGAR_NOTIFY_SMS_URL": sms_provider.url,
            "NAGAR_NOTIFY_SMS_SENDER": "NAGARS",
            "NAGAR_NOTIFY_SMS_DLT_ENTITY_ID": "1101234567890123456",
            "NAGAR_NOTIFY_SMTP_URL": smtp_server.url,
            "NAGAR_NOTIFY_SMTP_FROM": "no-reply@nagar.example.in",
            "NAGAR_NOTIFY_SMTP_TLS": "off",
            "NAGAR_NOTIFY_RETRY_BASE_MS": "200",
            "NAGAR_NOTIFY_RETRY_MAX_MS": "1000",
            "NAGAR_NOTIFY_MAX_ATTEMPTS": "3",
            "NAGAR_NOTIFY_HTTP_TIMEOUT_MS": "2000",
            "NAGAR_NOTIFY_QUIET_HOURS": "off",
            "NAGAR_NOTIFY_RATE_PER_RECIPIENT": "100",
        })
        full.update({k: str(v) for k, v in env.items()})
        proc = procs.start(name, [notifications_db.binary], env=full)
        running = RunningNotifications(proc, notifications_db, running_broker, full)
        started.append(running)
        if wait_ready:
            proc.wait_event("notifications.ready", timeout=20)
            def answers():
                probe = running.client("gateway")
                try:
                    r = probe.call("template.list", {"type": "otp.login"},
                                   actor={"userId": "staff:probe", "role": "STATE_ADMIN"},
                                   timeout_ms=1000)
                    return r.ok
                except AssertionError:
                    return False
                finally:
                    probe.close()
                    running._clients.remove(probe)
            wait_until(answers, 20, interval=0.1, what="notifications to answer on the bus")
        return running

    yield start
    for running in started:
        running.close()


# ---- stand-ins for identity and the publishers --------------------------------------

def _reply(request_id, code=0, message="", payload=None):
    reply = {"requestId": request_id}
    if code:
        reply["status"] = {"code": code, "message": message, "field": ""}
    if payload is not None:
        reply["payload"] = payload
    return pb_encode("Reply", reply)


class FakeDirectory:
    """Serves what notifications asks when it resolves an event's person,
    for tests that run no real identity or publisher: identity's
    contact.lookup and the publishers' notify.subjects, each as its own
    principal's worker on the test's bus.

        d = directory(broker)                             # identity and every publisher
        d = directory(broker, services=("property_tax",)) # only these
        d.record("property:250946-001-000042", "250946", [("citizen:1", ""), ("", "9876500001")])
        d.contact("citizen:1", mobile="9876500002", email="a@example.in")
        d.any_contact_owns_everything = True   # unknown records: every known contact is a person
        d.calls                                # [(service, method, request dict), ...]

    Other identity methods (ulb.list, ulb.get) answer NOT_FOUND: notifications
    names towns by their LGD code then."""

    def __init__(self, running_broker, services):
        self.records = {}
        self.contacts = {}
        self.calls = []
        self.any_contact_owns_everything = False
        self.unavailable = set()
        self.workers = []
        for service in services:
            curve = None if running_broker.insecure else (
                os.path.join(running_broker.keys_dir, "secret", f"{service}.cert"),
                running_broker.public_key_path)
            worker = MdpWorker(running_broker.endpoint, service, curve=curve)
            worker.serve_in_thread(self._handler(service))
            self.workers.append(worker)

    def record(self, subject, ulb, persons):
        self.records[subject] = (ulb, list(persons))

    def contact(self, user_id, mobile="", email="", language=""):
        self.contacts[user_id] = {"mobile": mobile, "email": email, "language": language}

    def _handler(self, service):
        def handle(body):
            request = pb_decode("Request", body[0])    # [body][caller principal]
            method = request["method"]
            request_id = (request["context"] or {}).get("requestId", "")
            if service in self.unavailable:
                return [_reply(request_id, 6, f"{service} is down (test)")]
            if method == "notify.subjects":
                asked = pb_decode("SubjectsRequest", request["payload"])["subjects"]
                self.calls.append((service, method, asked))
                answers = []
                for subject in asked:
                    if subject in self.records:
                        ulb, persons = self.records[subject]
                    elif self.any_contact_owns_everything:
                        ulb = subject.split(":", 1)[1].split("-", 1)[0]
                        persons = [(user, "") for user in self.contacts]
                    else:
                        answers.append({"subject": subject, "found": False})
                        continue
                    answers.append({"subject": subject, "found": True, "ulb": ulb,
                                    "persons": [{"userId": u, "mobile": m} for u, m in persons]})
                return [_reply(request_id, payload=pb_encode("SubjectsReply",
                                                             {"subjects": answers}))]
            if method == "contact.lookup" and service == "identity":
                asked = pb_decode("LookupContactsRequest", request["payload"])["userIds"]
                self.calls.append((service, method, asked))
                contacts = []
                for user in asked:
                    known = self.contacts.get(user)
                    contacts.append(dict(known, userId=user, found=True) if known
                                    else {"userId": user, "found": False})
                return [_reply(request_id, payload=pb_encode("LookupContactsReply",
                                                             {"contacts": contacts}))]
            return [_reply(request_id, 2, f"{method} is not served by this test's {service}")]
        return handle

    def close(self):
        for worker in self.workers:
            worker.stop()
        self.workers = []


@pytest.fixture
def directory():
    made = []

    def make(running_broker, services=("identity", "property_tax", "water_tax", "certificates")):
        d = FakeDirectory(running_broker, services)
        made.append(d)
        return d
    yield make
    for d in made:
        d.close()


# ---- the outbox demo service ------------------------------------------------------

class OutboxDemo:
    def __init__(self, procs, binary, env, broker):
        self.procs = procs
        self.binary = binary
        self.env = env
        self.broker = broker
        self.relays = 0

    def run(self, *args):
        full = dict(self.env)
        full.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        return subprocess.run([self.binary, *args], env=full, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)

    def pay(self, ulb, mobile, amount, receipt):
        started = time.monotonic()
        result = self.run("pay", ulb, mobile, amount, receipt)
        took = time.monotonic() - started
        assert result.returncode == 0, f"payment failed:\n{result.stdout}\n{result.stderr}"
        return took, result.stdout.strip()

    def pending(self):
        result = self.run("pending")
        assert result.returncode == 0, result.stderr
        return int(result.stdout.strip())

    def start_relay(self, **env):
        self.relays += 1
        full = dict(self.env)
        full.update(self.broker.client_env("property_tax"))
        full.update({k: str(v) for k, v in env.items()})
        proc = self.procs.start(f"outbox_relay{self.relays}", [self.binary, "relay"], env=full)
        proc.wait_event("outbox_demo.relaying", timeout=15)
        return proc


@pytest.fixture
def outbox_demo(procs, pg_cluster, nagar_bin):
    def make(running_broker):
        dbname = pg_cluster.create_database("property_tax_owner", "property_tax")
        env = pg_cluster.role_env("property_tax_owner", dbname)
        demo = OutboxDemo(procs, nagar_bin("outbox_demo"), env, running_broker)
        result = demo.run("migrate", os.path.join(ROOT, "tests", "system",
                                                  "outbox_demo_migrations"))
        assert result.returncode == 0, f"outbox demo migrations failed:\n{result.stderr}"
        # Each test's demo is a fresh database whose outbox ids would start
        # at 1 again, while notifications (one database per session) keeps
        # every event id it accepted: start ids where no other demo was.
        start = uuid.uuid4().int % 10**12 + 1
        pg_cluster.sql(f"ALTER SEQUENCE property_tax.outbox_id_seq RESTART WITH {start}",
                       dbname=dbname)
        return demo
    return make

