"""Harvesting and silent rewrites by authorized principals (issue 11, items 2 and 3).

Scenarios, against a real Tresor with CT_small (JFK IMAGING CENTER) and MR_small
(TOSHIBA) imported and dimse.retrieve_cap = 1:
  - a C-GET / C-MOVE without the unique key of its level (or with a wildcard)
    is refused with 0xA900 and sends nothing;
  - a retrieve of more instances than the cap is refused with 0xA702 unless the
    peer has unlimited_retrieve;
  - QIDO-RS offsets are bounded (400 beyond the maximum) and a deep page is cheap;
  - STOW-RS by a scoped technologist into a study outside its scope gets one
    answer whether it is a duplicate, a new instance, or other demographics;
  - an auditor scoped to TOSHIBA reads no event about the JFK study;
  - a fake study under a known PatientID is held and changes nothing of what
    QIDO shows; an admin corrects the demographics through PUT /api/patients/{id}
    (audited with old and new values) and `tresor patient update`.
"""
import json
import os
import shutil
import time
import unittest

import harness
from harness import SharedTresorCase
from https import Client, basic, multipart_related

FILES = harness.PYDICOM_TEST_FILES
PASSWORDS = {
    "clin": "clin-Harvest-Passphrase-11",
    "techt": "techt-Harvest-Passphrase-12",
    "audall": "audall-Harvest-Passphrase-13",
    "audt": "audt-Harvest-Passphrase-14",
}
ROLES = {"clin": "clinician", "techt": "technologist", "audall": "auditor", "audt": "auditor"}


def dicom_uids(path) -> dict[str, str]:
    import pydicom
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return {"study": ds.StudyInstanceUID, "series": ds.SeriesInstanceUID, "instance": ds.SOPInstanceUID,
            "patient": str(ds.PatientID), "name": str(ds.PatientName)}


def tag_value(obj: dict, tag: str):
    v = obj.get(tag, {}).get("Value")
    return v[0] if v else None


class HarvestingArchive(SharedTresorCase):
    instance_name = "harvesting"

    @classmethod
    def prepare(cls, t):
        t.init()
        t.configure("login", "source_max_failures", 1000000)
        t.configure("dimse", "retrieve_cap", 1)
        for name, pw in PASSWORDS.items():
            t.user_add(name, ROLES[name], pw)
        imp = t.root / "import"
        imp.mkdir()
        for f in ("CT_small.dcm", "MR_small.dcm"):
            shutil.copy(FILES / f, imp / f)
        t.cli_ok("import", imp)
        cls.viewer = t.peer_add("VIEWER", "echo,find,get,move")
        t.cli_ok("peer", "add", "BULK", "--host", "127.0.0.1", "--ops", "echo,find,get,move", "--unlimited-retrieve")
        cls.bulk = t.cert_issue("BULK", peer="BULK")
        t.peer_add("DEST", "echo,store", port=harness.free_port(), cert=False)
        t.start()
        cls.c = Client(t.https_port, t.ca)
        cls.admin = basic("admin", t.admin_password)
        for user in ("techt", "audt"):
            r = cls.c.put_json(f"/api/users/{user}", {"scope": {"institutions": ["TOSHIBA"]}}, cls.admin)
            assert r.status == 200, r
        cls.ct = dicom_uids(FILES / "CT_small.dcm")
        cls.mr = dicom_uids(FILES / "MR_small.dcm")

    def user(self, name: str) -> dict[str, str]:
        return basic(name, PASSWORDS[name])

    def get(self, ae: str, cert, keys: list[str], level: str = "STUDY"):
        client = self.t.client(ae, cert)
        proxy = client.proxy()
        self.addCleanup(proxy.close)
        out = self.tmpdir(f"get-{ae}-{abs(hash(tuple(keys))) % 100000}")
        res = client.get(keys, out, level=level, proxy=proxy)
        return res, sorted(out.iterdir())

    # --- retrieve rules (PS3.4 C.4.2.2.1 / C.4.3.2.1)
    def test_get_and_move_without_the_unique_key_of_the_level_are_refused(self):
        for keys, level in (([], "STUDY"), (["StudyInstanceUID=*"], "STUDY"), (["PatientName=*"], "STUDY"),
                            ([f"StudyInstanceUID={self.ct['study']}"], "SERIES")):
            res, files = self.get("VIEWER", self.viewer, keys, level)
            self.assertEqual(res.final, 0xA900, f"{keys} {level}: {res}")
            self.assertEqual(files, [], f"{keys}: something was sent")
        client = self.t.client("VIEWER", self.viewer)
        proxy = client.proxy()
        self.addCleanup(proxy.close)
        move = client.move([], "DEST", proxy=proxy)
        self.assertEqual(move.final, 0xA900, str(move))
        ok, files = self.get("VIEWER", self.viewer, [f"StudyInstanceUID={self.ct['study']}"])
        self.assertEqual(ok.final, 0, str(ok))
        self.assertEqual(len(files), 1)
        events = [e for e in self.t.audit_events() if e.get("type") == "retrieve" and e.get("actor") == "VIEWER"]
        self.assertTrue(any("unique key" in e.get("reason", "") for e in events), events[-3:])

    def test_a_retrieve_past_the_cap_needs_unlimited_retrieve(self):
        both = [f"StudyInstanceUID={self.ct['study']}\\{self.mr['study']}"]
        res, files = self.get("VIEWER", self.viewer, both)
        self.assertEqual(res.final, 0xA702, str(res))
        self.assertEqual(files, [])
        ok, files = self.get("BULK", self.bulk, both)
        self.assertEqual(ok.final, 0, str(ok))
        self.assertEqual(len(files), 2)
        one = self.c.get(f"/dicom-web/studies/{self.ct['study']}", {**self.user("clin"), "Accept": "multipart/related; "
                                                                   "type=\"application/dicom\"; transfer-syntax=*"})
        self.assertEqual(one.status, 200, one.body[:200])

    # --- QIDO-RS paging
    def test_qido_offsets_are_bounded_and_a_deep_page_is_cheap(self):
        h = self.user("clin")
        r = self.c.get("/dicom-web/instances?offset=998999", h)
        self.assertEqual(r.status, 400, r.body[:300])
        self.assertIn(b"offset must be at most 100000", r.body)
        t0 = time.monotonic()
        r = self.c.get("/dicom-web/instances?offset=100000", h)
        elapsed = time.monotonic() - t0
        self.assertIn(r.status, (200, 204), r.body[:300])
        self.assertEqual(r.json() if r.body else [], [])
        self.assertLess(elapsed, 2.0)
        first = self.c.get("/dicom-web/instances?limit=1", h)
        second = self.c.get("/dicom-web/instances?limit=1&offset=1", h)
        self.assertEqual(first.status, 200)
        self.assertEqual(second.status, 200)
        a, b = first.json(), second.json()
        self.assertEqual((len(a), len(b)), (1, 1))
        self.assertNotEqual(tag_value(a[0], "00080018"), tag_value(b[0], "00080018"))
        self.assertIn("299", first.header("warning") or "", "a truncated page says more exist")

    # --- STOW-RS outside the caller's scope
    def stow(self, user: str, parts: list[bytes]):
        body, ctype = multipart_related(parts)
        return self.c.post("/dicom-web/studies", body, {**self.user(user), "Content-Type": ctype,
                                                         "Accept": "application/dicom+json"})

    def variant(self, name: str, **changes) -> bytes:
        import pydicom
        ds = pydicom.dcmread(FILES / "CT_small.dcm")
        for k, v in changes.items():
            setattr(ds, k, v)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        p = self.tmpdir("stow") / name
        ds.save_as(p, write_like_original=False)
        return p.read_bytes()

    def test_stow_outside_the_scope_gets_one_answer_whatever_exists(self):
        attempts = {
            "duplicate": (FILES / "CT_small.dcm").read_bytes(),
            "new instance": self.variant("new.dcm", SOPInstanceUID=harness.uid()),
            "other demographics": self.variant("other.dcm", SOPInstanceUID=harness.uid(), PatientName="Scoped^Eve"),
            "same UID, other content": self.variant("conflict.dcm", SeriesDescription="tampered"),
        }
        answers = {}
        for what, data in attempts.items():
            r = self.stow("techt", [data])
            failed = r.json()["00081198"]["Value"][0] if r.status == 409 else {}
            answers[what] = (r.status, tag_value(failed, "00081197"), tag_value(failed, "00000902"))
        first = next(iter(answers.values()))
        self.assertEqual(first[0], 409, answers)
        for what, answer in answers.items():
            self.assertEqual(answer, first, f"{what} answered differently: {answers}")
        held = self.c.get("/api/quarantine", self.admin).json()
        self.assertFalse([q for q in held if q["patient_name"] == "Scoped^Eve"], "it reached the index")
        mine = self.stow("techt", [(FILES / "MR_small.dcm").read_bytes()])
        self.assertEqual(mine.status, 200, mine.body[:300])

    # --- the audit trail under the auditor's scope
    def test_a_scoped_auditor_reads_no_event_about_studies_outside_its_scope(self):
        h = self.user("clin")
        for s in (self.ct["study"], self.mr["study"]):
            self.assertEqual(self.c.get(f"/dicom-web/studies/{s}/metadata", h).status, 200)
        scoped = self.c.get("/api/audit?limit=1000", self.user("audt"))
        self.assertEqual(scoped.status, 200, scoped.body[:300])
        events = scoped.json()
        self.assertTrue(any(e.get("study_uid") == self.mr["study"] for e in events), "its own studies are shown")
        for e in events:
            self.assertEqual(e.get("study_uid"), self.mr["study"], json.dumps(e))
        self.assertNotIn(self.ct["study"].encode(), scoped.body)
        self.assertNotIn(self.ct["patient"].encode(), scoped.body)
        everything = self.c.get("/api/audit?limit=1000", self.user("audall")).json()
        self.assertTrue(any(e.get("study_uid") == self.ct["study"] for e in everything))
        self.assertTrue(any("study_uid" not in e for e in everything), "unscoped auditors see events without a study")

    # --- demographics: never by a store, only by the audited admin action
    def test_a_fake_study_changes_nothing_and_only_an_admin_corrects_demographics(self):
        fake = self.variant("fake.dcm", StudyInstanceUID=harness.uid(), SeriesInstanceUID=harness.uid(),
                            SOPInstanceUID=harness.uid(), PatientName="Mallory^Eve")
        body, ctype = multipart_related([fake])
        r = self.c.post("/dicom-web/studies", body, {**self.admin, "Content-Type": ctype,
                                                      "Accept": "application/dicom+json"})
        self.assertEqual(r.status, 202, r.body[:300])
        self.assertEqual(tag_value(r.json()["00081199"]["Value"][0], "00081196"), 0xB000, "held for review")

        def names() -> set[str]:
            rows = self.c.get(f"/dicom-web/studies?PatientID={self.ct['patient']}&includefield=00100010",
                              self.user("clin")).json()
            return {tag_value(o, "00100010")["Alphabetic"] for o in rows}

        self.assertNotIn("Mallory^Eve", names())

        path = f"/api/patients/{self.ct['patient']}"
        denied = self.c.put_json(path, {"name": "Corrected^Name"}, self.user("clin"))
        self.assertEqual(denied.status, 403)
        bad = self.c.put_json(path, {"birth_date": "2023-01-01"}, self.admin)
        self.assertEqual(bad.status, 400)
        missing = self.c.put_json("/api/patients/NO-SUCH-PATIENT", {"name": "X^Y"}, self.admin)
        self.assertEqual(missing.status, 404)
        ok = self.c.put_json(path, {"name": "Corrected^Name"}, self.admin)
        self.assertEqual(ok.status, 204, ok.body[:300])
        self.assertEqual(names(), {"Corrected^Name"})
        update = [e for e in self.t.audit_events() if e.get("reason") == "patient.update"
                  and e.get("outcome") == "success"]
        self.assertTrue(update)
        details = update[-1].get("details", {})
        flat = json.dumps(details)
        self.assertIn("Corrected^Name", flat)
        self.assertIn(self.ct["name"], flat, "the old value is in the audit trail")
        self.assertNotIn("Corrected^Name", self.t.log(), "patient data stays out of the ordinary log")

        cli = self.t.cli("patient", "update", self.ct["patient"], "--name", "Local^Cli")
        self.assertEqual(cli.rc, 0, str(cli))
        self.assertEqual(names(), {"Local^Cli"})

        # The same verb against the running server, with an admin API token.
        token = self.c.post_json("/api/tokens", {"name": "cli", "days": 1}, self.admin)
        self.assertEqual(token.status, 201, token.body[:200])
        env = {k: v for k, v in os.environ.items() if k not in ("TRESOR_TOKEN", "TRESOR_SERVER")}
        env["TRESOR_TOKEN"] = token.json()["secret"]
        remote = harness.run([harness.TRESOR_BIN, "--var", self.tmpdir("novar") / "absent", "--server",
                              f"https://127.0.0.1:{self.t.https_port}", "--ca", self.t.ca, "patient", "update",
                              self.ct["patient"], "--name", self.ct["name"]], env=env)
        self.assertEqual(remote.rc, 0, str(remote))
        self.assertEqual(names(), {self.ct["name"]})


if __name__ == "__main__":
    unittest.main()
