"""The web UI in a real browser: Debian's chromium driven by playwright-core
(tests/integration/web/ui.test.mjs, run with `node --test`) against a real
Tresor over HTTPS serving the OHIF bundle and Tresor's own pages.

Seeds three studies from pydicom's test files, rewritten with distinct
patients, dates and institutions (CT, MR, JPEG-LS MR) and three users
(admin, clinician, a clinician scoped to one institution); the scenarios
themselves are in the .mjs file (see its header). Screenshots are kept under
$TRESOR_ARTIFACTS/web-ui (default <repo>/build/test-artifacts/web-ui).

Needs /usr/bin/chromium, web/ohif/dist (`make web`) and
tests/integration/web/node_modules (`npm ci` there; `make test` does all three).
"""
import json
import os
import shutil
import subprocess
import time
import unittest
from pathlib import Path

import harness
from harness import SharedTresorCase
from https import Client, basic

WEB = harness.REPO / "web"
VIEWER = WEB / "ohif" / "dist"
NODE_DIR = Path(__file__).resolve().parent / "web"
SCRIPT = NODE_DIR / "ui.test.mjs"
CHROMIUM = Path("/usr/bin/chromium")
FILES = harness.PYDICOM_TEST_FILES
SCOPED_INSTITUTION = "North Clinic"

PASSWORDS = {
    "clin": "clin-Browser-Passphrase-71",
    "north": "north-Browser-Passphrase-72",
}

# key: (source file, PatientName, PatientID, StudyDate, InstitutionName, StudyDescription)
STUDIES = {
    "ct": ("CT_small.dcm", "Webui^Ctone", "WUCT001", "20190314", SCOPED_INSTITUTION, "Web UI CT"),
    "mr": ("MR_small.dcm", "Webui^Mrtwo", "WUMR002", "20200722", "South Hospital", "Web UI MR"),
    "jls": ("MR_small_jpeg_ls_lossless.dcm", "Webui^Jlsthree", "WUJL003", "20211105", SCOPED_INSTITUTION,
            "Web UI JPEG-LS"),
}


def artifacts_dir() -> Path:
    base = os.environ.get("TRESOR_ARTIFACTS")
    root = Path(base) if base else harness.REPO / "build" / "test-artifacts"
    out = root / "web-ui"
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_seeds(outdir: Path) -> dict:
    """Rewrites the pydicom samples into `outdir` with fresh UIDs; returns the study facts for the browser tests."""
    import pydicom
    facts = {}
    outdir.mkdir(parents=True, exist_ok=True)
    for key, (src, name, pid, date, institution, description) in STUDIES.items():
        ds = pydicom.dcmread(FILES / src)
        ds.PatientName = name
        ds.PatientID = pid
        ds.StudyDate = date
        ds.SeriesDate = date
        ds.InstitutionName = institution
        ds.StudyDescription = description
        ds.AccessionNumber = pid.replace("WU", "AC")
        ds.StudyInstanceUID = harness.uid()
        ds.SeriesInstanceUID = harness.uid()
        ds.SOPInstanceUID = harness.uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(outdir / f"{key}.dcm", write_like_original=False)
        facts[key] = {"uid": str(ds.StudyInstanceUID), "patientName": name, "patientId": pid, "date": date,
                      "modality": str(ds.Modality), "institution": institution, "description": description,
                      "transferSyntax": str(ds.file_meta.TransferSyntaxUID)}
    return facts


def start_seeded(t: harness.Tresor) -> tuple[dict, dict]:
    """init + users + studies + serve; returns (users, studies) for the browser tests."""
    t.init()
    t.configure("http", "web_root", str(WEB))
    # Every scenario logs in afresh; one wrong password is tried on purpose.
    t.configure("login", "source_max_failures", 1000)
    t.user_add("clin", "clinician", PASSWORDS["clin"])
    t.user_add("north", "clinician", PASSWORDS["north"])
    seeds = write_seeds(t.root / "seed")
    t.cli_ok("import", t.root / "seed", timeout=120)
    t.start()
    c = Client(t.https_port, t.ca)
    r = c.put_json("/api/users/north", {"scope": {"institutions": [SCOPED_INSTITUTION]}},
                   basic("admin", t.admin_password))
    if r.status != 200:
        raise AssertionError(f"scoping user north: {r.status} {r.body[:300]!r}")
    users = {"admin": {"user": "admin", "password": t.admin_password},
             "clinician": {"user": "clin", "password": PASSWORDS["clin"]},
             "scoped": {"user": "north", "password": PASSWORDS["north"], "institution": SCOPED_INSTITUTION}}
    return users, seeds


class WebUi(SharedTresorCase):
    instance_name = "webui"

    @classmethod
    def prepare(cls, t):
        if not CHROMIUM.exists():
            raise unittest.SkipTest("/usr/bin/chromium missing (apt-get install --no-install-recommends chromium)")
        if not (VIEWER / "index.html").exists():
            raise unittest.SkipTest("OHIF bundle not installed in web/ohif/dist (make web)")
        if not (NODE_DIR / "node_modules" / "playwright-core").is_dir():
            raise AssertionError("tests/integration/web/node_modules missing: run `npm ci` there (make test does)")
        cls.users, cls.studies = start_seeded(t)

    def test_the_browser_scenarios_pass(self):
        artifacts = artifacts_dir()
        scale = getattr(harness, "TIMEOUT_SCALE", 1.0)
        limit = 780 * scale  # about 3 min on a quiet machine; far more on a loaded 2-core one
        env = {**os.environ,
               "TRESOR_TIMEOUT_SCALE": str(scale),
               "TRESOR_URL": f"https://127.0.0.1:{self.t.https_port}",
               "TRESOR_CA": str(self.t.ca),
               "TRESOR_USERS": json.dumps(self.users),
               "TRESOR_STUDIES": json.dumps(self.studies),
               "TRESOR_ARTIFACTS": str(artifacts)}
        start = time.monotonic()
        try:
            r = subprocess.run(["node", "--test", "--test-reporter=spec", str(SCRIPT)], env=env, cwd=NODE_DIR,
                               capture_output=True, text=True, errors="replace", timeout=limit)
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            self.fail(f"node --test timed out after {limit:.0f} s:\n{out[-8000:]}\n--- tresor log:\n{self.t.log()}")
        elapsed = time.monotonic() - start
        out = r.stdout + r.stderr
        (artifacts / "node-test-output.txt").write_text(out)
        if r.returncode != 0:
            self.fail(f"node --test failed (rc={r.returncode}, {elapsed:.0f} s); artifacts in {artifacts}:\n"
                      f"{out[-12000:]}\n--- tresor log:\n{self.t.log()}")
        # Every scenario ran (none skipped, none silently missing).
        self.assertRegex(out, r"(?m)^ℹ pass (\d+)$")
        self.assertRegex(out, r"(?m)^ℹ fail 0$")
        self.assertRegex(out, r"(?m)^ℹ skipped 0$")


if __name__ == "__main__":
    unittest.main()
