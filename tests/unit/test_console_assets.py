"""The vendored browser assets are exactly the files the manifest records."""

from __future__ import annotations

import hashlib
import json
import re

from console.render import STATIC, TEMPLATES

VENDOR = STATIC / "vendor"
MANIFEST = json.loads((VENDOR / "VENDORED.json").read_text(encoding="utf-8"))


def test_every_vendored_file_matches_its_checksum() -> None:
    recorded: dict[str, str] = {}
    for package in MANIFEST["packages"]:
        assert package["integrity"].startswith("sha512-"), package["name"]
        assert package["licence"] in {"0BSD", "BSD-2-Clause", "MIT"}, package["name"]
        folder = f"{package['name']}-{package['version']}/"
        assert any(re.search(r"LICEN[CS]E", p) for p in package["files"]), package["name"]
        for path, digest in package["files"].items():
            assert path.startswith(folder), path
            recorded[path] = digest
    on_disk = {
        p.relative_to(VENDOR).as_posix(): p
        for p in VENDOR.rglob("*")
        if p.is_file() and p.name != "VENDORED.json"
    }
    assert set(on_disk) == set(recorded), set(on_disk) ^ set(recorded)
    for path, file in on_disk.items():
        assert hashlib.sha256(file.read_bytes()).hexdigest() == recorded[path], path


def test_htmx_is_pinned_to_the_2x_line() -> None:
    versions = {p["name"]: p["version"] for p in MANIFEST["packages"]}
    assert versions["htmx.org"].startswith("2.0.")
    assert versions["htmx-ext-sse"].startswith("2.")
    assert versions["leaflet"] == "1.9.4"


def test_templates_load_only_vendored_or_own_files() -> None:
    """Every script, stylesheet and image a template names is a file of the package."""
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text, template.name
        for ref in re.findall(r"static\('([^']+)'\)", text):
            assert (STATIC / ref).is_file(), f"{template.name}: {ref}"


def test_no_inline_script_or_style() -> None:
    """The Content-Security-Policy allows neither; keep templates free of them."""
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert "<style" not in text and " style=" not in text, template.name
        assert not re.search(r"\son[a-z]+=", text), template.name
        assert "hx-on" not in text, template.name
