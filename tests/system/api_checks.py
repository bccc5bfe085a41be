"""api_checks.py — two checks many system tests make on what the services
answer through the gateway:

    error_of(r, 422, "INVALID_ARGUMENT", "amountPaise")  # the error body, asserted
    pdf_text(path)      # a rendered PDF's text, line wraps made single spaces

Every service answers an error as {"error": {"code", "message", "field"}}
(the PostgreSQL-style error: the rule broken and the field it names);
error_of asserts the HTTP status, the code and, when given, the field, and
returns the body for the test to look at the message.
"""
import subprocess


def error_of(r, status, code, field=None):
    assert r.status_code == status, f"expected {status}, got {r.status_code} {r.text}"
    body = r.json()["error"]
    assert body["code"] == code, body
    if field is not None:
        assert body.get("field") == field, body
    return body


def pdf_text(path):
    """pdftotext's text with runs of white space (line wraps) made one space."""
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return " ".join(out.split())
