#!/usr/bin/env python3
"""Installs the OHIF viewer bundle as Tresor's web root (web/ohif/dist).

  web/ohif/install.py [--cache DIR]

1. `npm pack @ohif/app@3.13.2` into the cache (not `npm install`: its pinned
   sibling packages are missing from the registry), unless already there;
2. verifies the tarball's sha512 against the pinned value (a mismatch aborts);
3. extracts package/dist/ without dist/ort/ (AI segmentation runtime),
   dist/dicom-microscopy-viewer/ and source maps;
4. writes app-config.js: one DICOMweb data source at Tresor's own paths, no
   investigational-use dialog, no cross-origin warning, and in place of OHIF's
   logo links to Tresor's pages and to log-out;
5. writes tresor-session.js and loads it from index.html before anything else
   (an external same-origin script: no CSP hash needed): a 401 from Tresor, or
   a log-out in another tab, sends the viewer to the log-in page, which brings
   the user back to the same viewer URL afterwards;
6. writes tresor-csp.json for the server: the SHA-256 of each inline <script>
   of index.html, and the worker scripts that need 'unsafe-eval' (the codec
   worker whose JPEG-LS / JPEG 2000 decoders use `new Function`).

Idempotent: does nothing when dist/ already holds this version and layout;
a new LAYOUT (Tresor's own files changed) rewrites them without a new download.
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
LAYOUT = 3  # bump when app-config.js, tresor-session.js or the index.html patch change
SESSION_TAG = '<script src="/tresor-session.js"></script>'
CONFIG_TAG = '<script rel="preload" as="script" src="/app-config.js"></script>'

APP_CONFIG = """/* Written by web/ohif/install.py: OHIF talks only to this Tresor, same origin,
   so the session cookie authenticates every request. */
window.config = {
  routerBasename: '/',
  showStudyList: true,
  investigationalUseDialog: { option: 'never' },
  // Tresor's pages (admin, tokens, log-out) from the study list and the viewer header.
  whiteLabeling: {
    createLogoComponentFn: function (React) {
      var stay = function (event) { event.stopPropagation(); };  // not the header's "back to the list"
      var link = function (href, text, cy) {
        return React.createElement('a', { href: href, onClick: stay, 'data-cy': cy,
          className: 'text-primary hover:text-primary-light mr-4 text-base' }, text);
      };
      return React.createElement('span', { className: 'inline-flex items-center' },
        link('/app/index.html', 'Tresor', 'tresor-home'), link('/app/logout.html', 'Log out', 'tresor-logout'));
    },
  },
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
        // Quoted: Accept: multipart/related; type="application/octet-stream"; transfer-syntax=*
        // (an unquoted type=application/octet-stream is not an RFC 9110 token and Tresor refuses it).
        omitQuotationForMultipartRequest: false,
      },
    },
  ],
};
"""

SESSION_JS = """/* Written by web/ohif/install.py and loaded first by index.html.
   Contract: when Tresor answers a same-origin request with 401 (the session
   expired or was ended), or another Tresor tab logs out (BroadcastChannel
   'tresor.session', see web/app/js/api.js), the viewer goes to the log-in page
   with ?next=<this path and query>; the log-in page comes back here afterwards
   (same-origin paths only). Requests and answers are otherwise untouched. */
(function () {
  'use strict';
  var LOGIN = '/app/login.html';
  var leaving = false;
  function toLogin() {
    if (leaving) return;
    leaving = true;
    location.assign(LOGIN + '?next=' + encodeURIComponent(location.pathname + location.search));
  }
  function sameOrigin(url) {
    try {
      return new URL(String(url), location.href).origin === location.origin;
    } catch (e) {
      return false;
    }
  }
  var nativeFetch = window.fetch;
  if (typeof nativeFetch === 'function') {
    window.fetch = function (input, init) {
      var url = input && typeof input === 'object' && 'url' in input ? input.url : input;
      return nativeFetch.call(this, input, init).then(function (res) {
        if (res.status === 401 && sameOrigin(url)) toLogin();
        return res;
      });
    };
  }
  var proto = window.XMLHttpRequest && window.XMLHttpRequest.prototype;
  if (proto) {
    var nativeOpen = proto.open;
    var nativeSend = proto.send;
    proto.open = function (method, url) {
      this.tresorSameOrigin = sameOrigin(url);
      return nativeOpen.apply(this, arguments);
    };
    proto.send = function () {
      if (this.tresorSameOrigin && !this.tresorWatched) {
        this.tresorWatched = true;
        this.addEventListener('loadend', function () {
          if (this.status === 401) toLogin();
        });
      }
      return nativeSend.apply(this, arguments);
    };
  }
  try {
    var channel = new BroadcastChannel('tresor.session');
    channel.onmessage = function (event) {
      if (event.data === 'logout') toLogin();
    };
  } catch (e) {
    /* no BroadcastChannel: the next request's 401 does it */
  }
})();
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


def customize() -> None:
    """Tresor's files over the bundle: app-config.js, tresor-session.js, its <script> in index.html."""
    (DIST / "app-config.js").write_text(APP_CONFIG)
    (DIST / "tresor-session.js").write_text(SESSION_JS)
    index = DIST / "index.html"
    html = index.read_text(encoding="utf-8")
    if SESSION_TAG not in html:
        if CONFIG_TAG not in html:
            sys.exit("index.html has no app-config.js <script>; cannot place tresor-session.js before it")
        html = html.replace(CONFIG_TAG, SESSION_TAG + CONFIG_TAG, 1)
        index.write_text(html, encoding="utf-8")


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
    return {"version": VERSION, "layout": LAYOUT, "script_hashes": hashes, "unsafe_eval": unsafe}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=HERE.parent.parent / "build" / "ohif")
    args = ap.parse_args()
    stamp = DIST / "tresor-csp.json"
    installed = json.loads(stamp.read_text()) if stamp.exists() else {}
    if installed.get("version") == VERSION and installed.get("layout") == LAYOUT:
        print(f"OHIF {VERSION} already installed in {DIST}")
        return
    if installed.get("version") != VERSION:
        tarball = fetch(args.cache)
        extract(tarball)
    customize()
    facts = csp_facts()
    stamp.write_text(json.dumps(facts, indent=2) + "\n")
    size = sum(p.stat().st_size for p in DIST.rglob("*") if p.is_file()) / 1e6
    print(f"OHIF {VERSION} installed in {DIST} ({size:.0f} MB); inline script hashes: {len(facts['script_hashes'])}; "
          f"unsafe-eval workers: {', '.join(facts['unsafe_eval']) or 'none'}")


if __name__ == "__main__":
    main()
