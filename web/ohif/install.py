#!/usr/bin/env python3
"""Installs the OHIF viewer bundle as Tresor's web root (web/ohif/dist).

  web/ohif/install.py [--cache DIR]

1. `npm pack @ohif/app@3.13.2` into the cache (not `npm install`: its pinned
   sibling packages are missing from the registry), unless already there;
2. verifies the tarball's sha512 against the pinned value (a mismatch aborts);
3. extracts package/dist/ without dist/ort/ (AI segmentation runtime),
   dist/dicom-microscopy-viewer/ and source maps;
4. writes app-config.js: one DICOMweb data source at Tresor's own paths, no
   investigational-use dialog, no cross-origin warning;
5. writes tresor-csp.json for the server: the SHA-256 of each inline <script>
   of index.html, and the worker scripts that need 'unsafe-eval' (the codec
   worker whose JPEG-LS / JPEG 2000 decoders use `new Function`).

Idempotent: does nothing when dist/ already holds this version.
The bundle is never committed (.gitignore). OHIF is not a cleared medical device.
"""
import argparse
import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

VERSION = "3.13.2"
PACKAGE = f"@ohif/app@{VERSION}"
SHA512 = "WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA=="
HERE = Path(__file__).resolve().parent
DIST = HERE / "dist"
DROP_DIRS = ("ort", "dicom-microscopy-viewer")

APP_CONFIG = """/* Written by web/ohif/install.py: OHIF talks only to this Tresor, same origin,
   so the session cookie authenticates every request. */
window.config = {
  routerBasename: '/',
  showStudyList: true,
  investigationalUseDialog: { option: 'never' },
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: false,
  maxNumberOfWebWorkers: 3,
  extensions: [],
  modes: [],
  defaultDataSourceName: 'tresor',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'tresor',
      configuration: {
        friendlyName: 'Tresor',
        name: 'tresor',
        qidoRoot: location.origin + '/dicom-web',
        wadoRoot: location.origin + '/dicom-web',
        wadoUriRoot: location.origin + '/wado',
        qidoSupportsIncludeField: false,
        supportsReject: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: false,
        supportsWildcard: true,
        staticWado: false,
        singlepart: 'bulkdata,video',
        bulkDataURI: { enabled: true, relativeResolution: 'studies' },
        omitQuotationForMultipartRequest: true,
      },
    },
  ],
};
"""


def sri(path: Path) -> str:
    h = hashlib.sha512()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return base64.b64encode(h.digest()).decode()


def fetch(cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / f"ohif-app-{VERSION}.tgz"
    if not tarball.exists():
        r = subprocess.run(["npm", "pack", PACKAGE, "--pack-destination", str(cache), "--json"],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            sys.exit(f"npm pack {PACKAGE} failed:\n{r.stderr[-2000:]}")
        name = json.loads(r.stdout)[0]["filename"]
        (cache / name).rename(tarball)
    got = sri(tarball)
    if got != SHA512:
        tarball.unlink()
        sys.exit(f"{PACKAGE}: sha512 mismatch (got {got}); refusing to install")
    return tarball


def extract(tarball: Path) -> None:
    tmp = HERE / "dist.new"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with tarfile.open(tarball, "r:gz") as tar:
        for m in tar.getmembers():
            if not m.name.startswith("package/dist/") or not (m.isfile() or m.isdir()):
                continue
            rel = m.name[len("package/dist/"):]
            if not rel or rel.split("/")[0] in DROP_DIRS or rel.endswith(".map"):
                continue
            if ".." in rel.split("/") or rel.startswith("/"):
                sys.exit(f"refusing a suspicious path in the tarball: {m.name}")
            out = tmp / rel
            if m.isdir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(m) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
    shutil.rmtree(DIST, ignore_errors=True)
    tmp.rename(DIST)


def csp_facts() -> dict:
    html = (DIST / "index.html").read_text(encoding="utf-8")
    hashes = []
    for m in re.finditer(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S | re.I):
        body = m.group(1)
        if body.strip():
            hashes.append("sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode())
    # A worker's CSP comes from its own script response; scripts the page loads follow the page's
    # policy, so only worker chunks (not the app bundle) need the exception.
    unsafe = sorted(p.name for p in DIST.glob("*.js")
                    if not p.name.startswith("app.")
                    and "decodeTask" in (text := p.read_text(encoding="utf-8", errors="replace"))
                    and "new Function" in text)
    return {"version": VERSION, "script_hashes": hashes, "unsafe_eval": unsafe}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=HERE.parent.parent / "build" / "ohif")
    args = ap.parse_args()
    stamp = DIST / "tresor-csp.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("version") == VERSION:
        print(f"OHIF {VERSION} already installed in {DIST}")
        return
    tarball = fetch(args.cache)
    extract(tarball)
    (DIST / "app-config.js").write_text(APP_CONFIG)
    facts = csp_facts()
    stamp.write_text(json.dumps(facts, indent=2) + "\n")
    size = sum(p.stat().st_size for p in DIST.rglob("*") if p.is_file()) / 1e6
    print(f"OHIF {VERSION} installed in {DIST} ({size:.0f} MB); inline script hashes: {len(facts['script_hashes'])}; "
          f"unsafe-eval workers: {', '.join(facts['unsafe_eval']) or 'none'}")


if __name__ == "__main__":
    main()
