"""README.md's settings table against the code: every NAGAR_* variable a
program or script reads has a row, and every row is read somewhere, so the one
table a user looks things up in cannot drift (issue 14). The walk-through in
the README is run by test_make_run.py."""
import os
import re
import subprocess

from nagar_proc import ROOT

SOURCE_DIRS = ("common", "services", "gateway", "deploy")


def tracked_files():
    out = subprocess.run(["git", "ls-files", *SOURCE_DIRS], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return [os.path.join(ROOT, f) for f in out.split()]


def is_script(path):
    if path.endswith(".sh"):
        return True
    with open(path, "rb") as f:
        return f.read(2) == b"#!"


def proto_enum_values():
    """Enum value names of the contract: a string like "NAGAR_PARISHAD" in C is
    a ULB type, not a setting."""
    names = set()
    proto = os.path.join(ROOT, "proto")
    for name in os.listdir(proto):
        if name.endswith(".proto"):
            with open(os.path.join(proto, name)) as f:
                names.update(re.findall(r"^\s*([A-Z][A-Z0-9_]*)\s*=\s*\d+\s*;", f.read(), re.M))
    return names


def variables_read():
    """{variable: files}. A C string literal that is a whole NAGAR_* name, a
    service's settings prefix joined to each suffix the rules scaffolding
    reads, a "NAGAR_..._%s" family as NAGAR_..._<SERVICE>, and ${NAGAR_X:-...}
    style reads in scripts."""
    found, prefixes, suffixes = {}, set(), set()
    not_settings = proto_enum_values()

    def add(name, path):
        found.setdefault(name, set()).add(os.path.relpath(path, ROOT))

    for path in tracked_files():
        if path.endswith((".c", ".h")):
            with open(path, errors="replace") as f:
                text = f.read()
            prefixes.update(re.findall(r'\.settings_prefix\s*=\s*"(NAGAR_[A-Z0-9_]+)"', text))
            suffixes.update(re.findall(r'setting_name\([^;]*?"([A-Z][A-Z0-9_]+)"\)', text))
            for name in re.findall(r'"(NAGAR_[A-Z0-9_]+)"', text):
                add(name, path)
            for family in re.findall(r'"(NAGAR_[A-Z0-9_]+_)%s"', text):
                add(family + "<SERVICE>", path)
        elif os.path.isfile(path) and is_script(path):
            with open(path, errors="replace") as f:
                for name in re.findall(r"\$\{(NAGAR_[A-Z0-9_]+):?[-?=]", f.read()):
                    add(name, path)
    for prefix in prefixes:
        files = found.pop(prefix, {"services"})
        for suffix in suffixes:
            for f in files:
                found.setdefault(f"{prefix}_{suffix}", set()).add(f)
    return {k: v for k, v in found.items() if k not in not_settings}


def readme_section(title):
    """The text of README.md's '## title' section, up to the next '## '."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text.split(f"\n## {title}\n", 1)
    assert len(section) == 2, f"README.md has no '## {title}' section"
    return section[1].split("\n## ", 1)[0]


def readme_table():
    body = readme_section("Settings")
    rows = re.findall(r"^\| `(NAGAR_[A-Z0-9_<>]+)` \|([^|]*)\|([^|]*)\|([^|]*)\|$", body, re.M)
    return {name: (who.strip(), default.strip(), what.strip()) for name, who, default, what in rows}


def test_every_variable_the_code_reads_is_in_the_readme_table():
    table = readme_table()
    read = variables_read()
    assert len(read) > 100, f"the scan found only {len(read)} variables: is it still looking?"
    missing = sorted(f"{name} (read in {', '.join(sorted(files))})"
                     for name, files in read.items() if name not in table)
    assert not missing, ("add a row for each to the table under '## Settings' in README.md:\n  "
                         + "\n  ".join(missing))


def test_every_row_of_the_readme_table_is_read_by_the_code():
    read = variables_read()
    stale = sorted(name for name in readme_table() if name not in read)
    assert not stale, f"README.md's settings table lists variables nothing reads: {stale}"


def test_every_row_says_who_reads_it_its_default_and_what_it_sets():
    table = readme_table()
    blank = sorted(name for name, cells in table.items() if not all(cells))
    assert not blank, f"rows with an empty cell: {blank}"
