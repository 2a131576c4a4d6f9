"""A new user's first archive in a real browser: every pydicom test file that
Tresor accepts, plus a generated dataset of 300 studies, in OHIF's study list
and viewer (Debian's chromium driven by playwright-core:
tests/integration/web/archive.test.mjs, run with `node --test`).

The archive also holds two studies whose instances carry no Modality (what
three of pydicom's files are, and what any principal allowed to store can
send on purpose): OHIF 3.13.2's study list read ModalitiesInStudy.Value.length
and showed "Data Source Connection Error" and no study at all when one
study's QIDO answer had "00080061": {"vr": "CS"} without a Value.

The Python side checks the QIDO answers directly and computes what the list
must show; the browser side checks that OHIF shows it: every study counted
(through date ranges, OHIF lists at most 100 at a time), and every
pydicom-derived study plus a sample of the generated ones opens in the viewer
without an error. Needs /usr/bin/chromium, web/ohif/dist (`make web`) and
tests/integration/web/node_modules (`make npm-deps`). Data is generated into
a temporary directory at test time.
"""
import json
import os
import subprocess
import time
import unittest
from pathlib import Path

import harness
from harness import SharedTresorCase, run
from https import Client, basic
from test_web_ui import CHROMIUM, NODE_DIR, VIEWER, WEB, artifacts_dir

SCRIPT = NODE_DIR / "archive.test.mjs"
PASSWORD = "clin-Archive-Passphrase-73"
GENERATED_PATIENTS, STUDIES_PER_PATIENT = 150, 2
GENERATED_SAMPLE = 4  # generated studies opened in the viewer
BUCKET = 90           # studies per date range (OHIF lists at most 100)


def value(obj: dict, tag: str) -> str:
    v = (obj.get(tag, {}).get("Value") or [""])[0]
    if isinstance(v, dict):
        return v.get("Alphabetic", "")
    return str(v)


def generate(out: Path) -> set[str]:
    """gen-dataset's studies (their studies.csv stays: import must skip it as not DICOM)."""
    r = run([harness.SYSTEM_PYTHON, harness.shared_dir() / "tools" / "gen-dataset",
             "--patients", str(GENERATED_PATIENTS), "--studies-per-patient", str(STUDIES_PER_PATIENT),
             "--out", out, "--seed", "1107", "--quiet"], timeout=300)
    assert r.rc == 0, str(r)
    lines = (out / "studies.csv").read_text().splitlines()
    col = lines[0].split(",").index("StudyInstanceUID")
    return {line.split(",")[col] for line in lines[1:]}


def without_modality(out: Path) -> set[str]:
    """Two studies whose instances have no Modality: a CT and one of pydicom's secondary captures."""
    import pydicom
    out.mkdir(parents=True, exist_ok=True)
    made = set()
    for n, (src, name) in enumerate((("CT_small.dcm", "Nomodality^Ct"),
                                     ("SC_jpeg_no_color_transform.dcm", "Nomodality^Sc"))):
        ds = pydicom.dcmread(harness.PYDICOM_TEST_FILES / src)
        if "Modality" in ds:
            del ds.Modality
        ds.PatientName, ds.PatientID = name, f"NOMOD{n}"
        ds.StudyDate, ds.StudyDescription = "20160606", "Instances without a Modality"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = harness.uid(), harness.uid(), harness.uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(out / f"nomod{n}.dcm", write_like_original=False)
        made.add(str(ds.StudyInstanceUID))
    return made


def all_studies(c: Client, auth: dict) -> list[dict]:
    studies, offset = [], 0
    while True:
        r = c.get(f"/dicom-web/studies?limit=100&offset={offset}", {**auth, "Accept": "application/dicom+json"})
        assert r.status in (200, 204), f"QIDO: {r.status} {r.body[:300]!r}"
        page = r.json() if r.status == 200 else []
        studies += page
        if len(page) < 100:
            return studies
        offset += 100


def imageless_instances(c: Client, auth: dict) -> list[str]:
    """SOP Instance UIDs without pixel data (no Rows): their frames are rightly 404."""
    out, offset = [], 0
    while True:
        r = c.get(f"/dicom-web/instances?limit=100&offset={offset}&includefield=00280010",
                  {**auth, "Accept": "application/dicom+json"})
        assert r.status in (200, 204), f"QIDO: {r.status} {r.body[:300]!r}"
        page = r.json() if r.status == 200 else []
        out += [value(i, "00080018") for i in page if not value(i, "00280010")]
        if len(page) < 100:
            return out
        offset += 100


def plan(studies: list[dict], generated: set[str]) -> dict:
    """What OHIF must show: date ranges of at most BUCKET studies, a filter for each undated study, studies to open."""
    by_date: dict[str, int] = {}
    undated = []
    for s in studies:
        d = value(s, "00080020")
        if d:
            by_date[d] = by_date.get(d, 0) + 1
        else:
            undated.append(s)
    buckets = []
    for d in sorted(by_date):
        if buckets and buckets[-1]["count"] + by_date[d] <= BUCKET:
            buckets[-1]["end"] = d
            buckets[-1]["count"] += by_date[d]
        else:
            buckets.append({"start": d, "end": d, "count": by_date[d]})
    filters = []
    for s in undated:
        pid = value(s, "00100020")
        if pid and sum(pid.lower() in value(o, "00100020").lower() for o in studies) == 1:
            filters.append({"uid": value(s, "0020000D"), "filter": f"mrn={pid}", "expected": 1, "text": pid})
            continue
        modality = value(s, "00080061")
        assert modality, f"undated study {value(s, '0020000D')} has neither a unique PatientID nor a modality"
        same = sum(modality in (o.get("00080061", {}).get("Value") or []) for o in studies)
        filters.append({"uid": value(s, "0020000D"), "filter": f"modalities={modality}", "expected": same, "text": ""})
    opened = [s for s in studies if value(s, "0020000D") not in generated]
    opened += [s for s in studies if value(s, "0020000D") in generated][:GENERATED_SAMPLE]
    return {"total": len(studies), "buckets": buckets, "undated": filters,
            "open": [{"uid": value(s, "0020000D"), "panel": panel_text(s),
                      "label": value(s, "00100010") or value(s, "0020000D")} for s in opened]}


def panel_text(study: dict) -> str:
    """What OHIF's study panel shows of a study: its modality, else its date ("06-Jun-2016")."""
    modality = value(study, "00080061")
    if modality:
        return modality
    d = value(study, "00080020")
    assert d, f"study {value(study, '0020000D')} has neither a modality nor a date"
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    return f"{d[6:8]}-{months[int(d[4:6]) - 1]}-{d[0:4]}"


class WebArchive(SharedTresorCase):
    instance_name = "webarchive"

    @classmethod
    def prepare(cls, t):
        if not CHROMIUM.exists():
            raise unittest.SkipTest("/usr/bin/chromium missing (apt-get install --no-install-recommends chromium)")
        if not (VIEWER / "index.html").exists():
            raise unittest.SkipTest("OHIF bundle not installed in web/ohif/dist (make web)")
        if not (NODE_DIR / "node_modules" / "playwright-core").is_dir():
            raise AssertionError("tests/integration/web/node_modules missing: run `make npm-deps`")
        t.init()
        t.configure("http", "web_root", str(WEB))
        t.user_add("clin", "clinician", PASSWORD)
        started = time.monotonic()
        cls.generated = generate(t.root / "generated")
        cls.no_modality = without_modality(t.root / "nomodality")
        # Some of pydicom's files are refused (truncated, no UIDs, UID collisions): exit status 1.
        r = t.cli("import", harness.PYDICOM_TEST_FILES, t.root / "generated", t.root / "nomodality", timeout=600)
        cls.import_output = r.stdout + r.stderr
        cls.setup_seconds = time.monotonic() - started
        t.start()
        c = Client(t.https_port, t.ca)
        cls.studies = all_studies(c, basic("admin", t.admin_password))
        cls.imageless = imageless_instances(c, basic("admin", t.admin_password))

    def test_qido_answers_have_no_attribute_ohif_reads_without_a_value(self):
        self.assertIn("skipped", self.import_output)  # README.txt, the .json files, studies.csv
        self.assertLess(self.setup_seconds, 120, f"generation + import took {self.setup_seconds:.0f} s")
        uids = {value(s, "0020000D") for s in self.studies}
        self.assertEqual(len(uids), len(self.studies), "a study listed twice")
        self.assertLessEqual(self.generated | self.no_modality, uids, "generated or crafted studies missing")
        self.assertGreater(len(uids - self.generated - self.no_modality), 10, "pydicom's studies missing")
        for s in self.studies:
            # OHIF's getModalities() reads ModalitiesInStudy.Value.length unguarded.
            if "00080061" in s:
                self.assertTrue(s["00080061"].get("Value"), f"ModalitiesInStudy without a value: {s}")
        for uid in self.no_modality:
            study = next(s for s in self.studies if value(s, "0020000D") == uid)
            self.assertNotIn("00080061", study, "an empty ModalitiesInStudy must be left out")

    def test_ohif_lists_every_study_and_opens_them(self):
        archive = {**plan(self.studies, self.generated), "imageless": self.imageless}
        artifacts = artifacts_dir()
        scale = getattr(harness, "TIMEOUT_SCALE", 1.0)
        limit = 600 * scale
        env = {**os.environ,
               "TRESOR_TIMEOUT_SCALE": str(scale),
               "TRESOR_URL": f"https://127.0.0.1:{self.t.https_port}",
               "TRESOR_CA": str(self.t.ca),
               "TRESOR_USERS": json.dumps({"clinician": {"user": "clin", "password": PASSWORD}}),
               "TRESOR_STUDIES": "{}",
               "TRESOR_ARCHIVE": json.dumps(archive),
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
        (artifacts / "archive-node-test-output.txt").write_text(out)
        if r.returncode != 0:
            self.fail(f"node --test failed (rc={r.returncode}, {elapsed:.0f} s); artifacts in {artifacts}:\n"
                      f"{out[-12000:]}\n--- tresor log:\n{self.t.log()}")
        self.assertRegex(out, r"(?m)^ℹ pass 2$")
        self.assertRegex(out, r"(?m)^ℹ fail 0$")


if __name__ == "__main__":
    unittest.main()
