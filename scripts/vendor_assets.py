"""Vendor the console's browser assets from npm tarballs into console/static/vendor/.

    npm pack htmx.org@2.0.11 htmx-ext-sse@2.2.4 leaflet@1.9.4 leaflet.markercluster@1.5.3
    python scripts/vendor_assets.py <directory with the .tgz files>

Copies the files listed in PACKAGES (and each package's licence) to
``console/static/vendor/<package>-<version>/`` and writes ``VENDORED.json``: per package the
version, the tarball's npm integrity (``sha512-<base64>``, the registry's ``dist.integrity``),
the SPDX licence and the sha256 of every vendored file. ``tests/unit/test_console_assets.py``
checks the files against it. To update a package: change its version here, pack the new
tarball, run this script, delete the old directory and change the templates' paths
(``console/assets.py``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "console" / "static" / "vendor"

# npm package, version, SPDX licence, files inside the tarball's package/ directory.
PACKAGES: list[tuple[str, str, str, list[str]]] = [
    ("htmx.org", "2.0.11", "0BSD", ["dist/htmx.min.js", "LICENSE"]),
    ("htmx-ext-sse", "2.2.4", "0BSD", ["dist/sse.min.js", "LICENSE"]),
    (
        "leaflet",
        "1.9.4",
        "BSD-2-Clause",
        [
            "dist/leaflet.js",
            "dist/leaflet.css",
            "dist/images/layers.png",
            "dist/images/layers-2x.png",
            "dist/images/marker-icon.png",
            "dist/images/marker-icon-2x.png",
            "dist/images/marker-shadow.png",
            "LICENSE",
        ],
    ),
    (
        "leaflet.markercluster",
        "1.5.3",
        "MIT",
        [
            "dist/leaflet.markercluster.js",
            "dist/MarkerCluster.css",
            "dist/MarkerCluster.Default.css",
            "MIT-LICENCE.txt",
        ],
    ),
]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main(tarballs: Path) -> None:
    manifest: dict[str, object] = {
        "about": "Browser assets of the console, copied unchanged from npm registry tarballs "
        "by scripts/vendor_assets.py. integrity is the tarball's npm dist.integrity.",
        "packages": [],
    }
    packages: list[dict[str, object]] = []
    for name, version, licence, files in PACKAGES:
        tgz = tarballs / f"{name}-{version}.tgz"
        raw = tgz.read_bytes()
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(raw).digest()).decode()
        target = VENDOR / f"{name}-{version}"
        if target.exists():
            shutil.rmtree(target)
        hashes: dict[str, str] = {}
        with tarfile.open(tgz) as tar:
            for rel in files:
                member = tar.extractfile(f"package/{rel}")
                if member is None:
                    raise SystemExit(f"{tgz.name}: no package/{rel}")
                data = member.read()
                out = target / rel.removeprefix("dist/")
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(data)
                hashes[out.relative_to(VENDOR).as_posix()] = sha256(data)
        packages.append(
            {
                "name": name,
                "version": version,
                "tarball": f"https://registry.npmjs.org/{name}/-/{name}-{version}.tgz",
                "integrity": integrity,
                "licence": licence,
                "files": hashes,
            }
        )
    manifest["packages"] = packages
    (VENDOR / "VENDORED.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
