"""Deletion, legal hold and retention (issue 12 section 4) against a real tresor.

Studies are stored with DCMTK's storescu over mutual TLS; deleted with
`tresor delete` and with DELETE /api/studies/{uid}; afterwards QIDO-RS,
WADO-RS, C-FIND (findscu +tls) and C-GET (getscu through the TLS proxy)
find nothing, and the blobs are gone from var/store. A study under legal
hold is refused (409) until the hold is lifted. `tresor retention run
--dry-run` lists exactly the old, unheld studies and the real run deletes
them; the audit trail has one deletion event per deleted study with its
reason (read with `tresor audit show`, through harness.audit_events()).
"""
import json
from pathlib import Path

import harness
from harness import Tresor, find_matches
from https import Client, basic

CLIN_PW = "Vq8!rK2#pLm9$wZt-clin"


def dcm_value(path: Path, keyword: str) -> str:
    import pydicom
    return str(pydicom.dcmread(path, stop_before_pixels=True).get(keyword, ""))


def set_study_date(files: list[Path], date: str) -> None:
    import pydicom
    for f in files:
        ds = pydicom.dcmread(f)
        ds.StudyDate = date
        ds.save_as(f)


class DeletionTest(harness.SharedTresorCase):
    instance_name = "delete"

    @classmethod
    def prepare(cls, t: Tresor) -> None:
        t.init()
        t.configure("retention", "policies", ["old: 10 years", "old-mr: 5 years modality=MR"])
        cls.mod = t.peer_add("MODALITY", "echo,store,find,get")
        t.user_add("clin", "clinician", CLIN_PW)
        t.start()
        data = t.root / "data"
        r = harness.run([harness.SYSTEM_PYTHON, harness.shared_dir() / "tools" / "gen-dataset", "--patients", "6",
                         "--instances-per-series", "2", "--out", data, "--seed", "12", "--quiet"], timeout=60)
        assert r.rc == 0, str(r)
        studies: dict[str, list[Path]] = {}
        for f in sorted(data.rglob("*.dcm")):
            studies.setdefault(dcm_value(f, "StudyInstanceUID"), []).append(f)
        cls.studies = [(uid, studies[uid]) for uid in sorted(studies)]
        # Studies 0..2: recent; 3 and 4: old (2005); 5: old but under legal hold.
        for i, (uid, files) in enumerate(cls.studies):
            set_study_date(files, "20050101" if i >= 3 else "20260101")
        cls.c = Client(t.https_port, t.ca)
        cls.admin = basic("admin", t.admin_password)
        cls.clin = basic("clin", CLIN_PW)

    # --- helpers
    def modality(self):
        return self.t.client("MODALITY", self.mod)

    def blob_files(self) -> set[Path]:
        return {p for p in self.t.store_dir.rglob("*") if p.is_file() and "tmp" not in p.relative_to(
            self.t.store_dir).parts}

    def store(self, index: int) -> tuple[str, list[Path], set[Path]]:
        uid, files = self.studies[index]
        before = self.blob_files()
        res = self.modality().store(files)
        self.assertEqual(res.statuses, [0] * len(files), str(res))
        blobs = self.blob_files() - before
        self.assertGreaterEqual(len(blobs), len(files))  # one object each (plus whatever the store keeps beside it)
        return uid, files, blobs

    def patient_name(self, files: list[Path]) -> str:
        return dcm_value(files[0], "PatientName")

    def delete_json(self, path: str, body: dict, auth: dict):
        return self.c.request("DELETE", path, {"Content-Type": "application/json", **auth}, json.dumps(body).encode())

    def assert_gone_everywhere(self, uid: str, files: list[Path], blobs: set[Path]) -> None:
        qido = self.c.get(f"/dicom-web/studies?StudyInstanceUID={uid}", self.clin)
        self.assertIn(qido.status, (200, 204), qido.body[:200])
        if qido.status == 200:
            self.assertEqual(qido.json(), [])
        self.assertEqual(self.c.get(f"/dicom-web/studies/{uid}/metadata", self.clin).status, 404)
        sop = dcm_value(files[0], "SOPInstanceUID")
        series = dcm_value(files[0], "SeriesInstanceUID")
        self.assertEqual(self.c.get(f"/dicom-web/studies/{uid}/series/{series}/instances/{sop}", self.clin).status, 404)
        find = self.modality().find([f"StudyInstanceUID={uid}"])
        self.assertEqual(find.final, 0, str(find))
        self.assertEqual(find_matches(find), 0, str(find))
        client = self.modality()
        proxy = client.proxy()
        self.addCleanup(proxy.close)
        out = self.tmpdir("get")
        client.get([f"StudyInstanceUID={uid}"], out, proxy=proxy)
        self.assertEqual(list(out.iterdir()), [], "C-GET sent a deleted instance")
        for b in blobs:
            self.assertFalse(b.exists(), f"blob {b} of the deleted study is still in var/store")

    def deletion_events(self, uid: str) -> list[dict]:
        return [e for e in self.t.audit_events()
                if e.get("type") == "deletion" and e.get("study_uid") == uid and e.get("outcome") == "success"]

    # --- tests
    def test_cli_delete_removes_the_study_from_every_service_and_the_store(self):
        uid, files, blobs = self.store(0)
        self.assertEqual(self.c.get(f"/dicom-web/studies/{uid}/metadata", self.clin).status, 200)
        refused = self.t.cli("delete", "--study", uid, "--reason", "wrong patient")  # no TTY, no --yes
        self.assertNotEqual(refused.rc, 0, str(refused))
        self.assertIn("--yes", refused.stderr)
        r = self.t.cli_ok("delete", "--study", uid, "--reason", "wrong patient", "--yes")
        self.assertIn(uid, r.stdout)
        self.assert_gone_everywhere(uid, files, blobs)
        events = self.deletion_events(uid)
        self.assertEqual(len(events), 1, events)
        self.assertEqual(events[0].get("reason"), "wrong patient")

    def test_rest_delete_needs_the_patient_name_and_respects_the_legal_hold(self):
        uid, files, blobs = self.store(1)
        name = self.patient_name(files)
        body = {"reason": "consent withdrawn", "confirm_patient_name": name.lower()}
        # Not an admin: 403.
        self.assertEqual(self.delete_json(f"/api/studies/{uid}", body, self.clin).status, 403)
        # Under legal hold: 409 naming the hold, nothing deleted.
        hold = self.c.request("POST", f"/api/studies/{uid}/hold", {"Content-Type": "application/json", **self.admin},
                              json.dumps({"reason": "litigation"}).encode())
        self.assertEqual(hold.status, 200, hold.body)
        held = self.delete_json(f"/api/studies/{uid}", body, self.admin)
        self.assertEqual(held.status, 409, held.body)
        self.assertIn(b"hold", held.body)
        self.assertEqual(self.c.get(f"/dicom-web/studies/{uid}/metadata", self.clin).status, 200)
        listed = self.c.get("/api/holds", self.admin)
        self.assertIn(uid, [h["study_uid"] for h in listed.json()])
        lift = self.c.request("DELETE", f"/api/studies/{uid}/hold", self.admin)
        self.assertEqual(lift.status, 200, lift.body)
        # A wrong name: 400, nothing deleted.
        wrong = self.delete_json(f"/api/studies/{uid}", {**body, "confirm_patient_name": "SOMEONE^ELSE"}, self.admin)
        self.assertEqual(wrong.status, 400, wrong.body)
        self.assertEqual(self.c.get(f"/dicom-web/studies/{uid}/metadata", self.clin).status, 200)
        ok = self.delete_json(f"/api/studies/{uid}", body, self.admin)
        self.assertEqual(ok.status, 200, ok.body)
        self.assertEqual(ok.json()["deleted"][0]["instances"], len(files))
        self.assert_gone_everywhere(uid, files, blobs)
        self.assertEqual(self.delete_json(f"/api/studies/{uid}", body, self.admin).status, 404)
        events = self.deletion_events(uid)
        self.assertEqual(len(events), 1, events)
        self.assertEqual(events[0].get("reason"), "consent withdrawn")

    def test_retention_dry_run_lists_exactly_the_old_studies_and_the_run_deletes_only_them(self):
        recent_uid, _, recent_blobs = self.store(2)
        old = [self.store(3), self.store(4)]
        held_uid, _, held_blobs = self.store(5)
        self.t.cli_ok("hold", "add", "--study", held_uid, "--reason", "litigation")
        listed = self.t.cli_ok("hold", "list")
        self.assertIn(held_uid, listed.stdout)

        dry = self.t.cli_ok("retention", "run", "--dry-run")
        lines = [ln for ln in dry.stdout.splitlines() if ln.startswith("would delete")]
        self.assertEqual(sorted(ln.split()[3] for ln in lines), sorted(uid for uid, _, _ in old), dry.stdout)
        for uid, _, blobs in old:
            self.assertTrue(all(b.exists() for b in blobs))

        self.t.cli_ok("retention", "run")
        for uid, files, blobs in old:
            self.assert_gone_everywhere(uid, files, blobs)
            events = self.deletion_events(uid)
            self.assertEqual(len(events), 1, events)
            self.assertEqual(events[0].get("reason"), "retention policy old")
        for uid, blobs in ((held_uid, held_blobs), (recent_uid, recent_blobs)):
            self.assertEqual(self.c.get(f"/dicom-web/studies/{uid}/metadata", self.clin).status, 200)
            self.assertTrue(all(b.exists() for b in blobs))
        # A manual delete of the held study is refused too, naming the hold.
        refused = self.t.cli("delete", "--study", held_uid, "--reason", "cleanup", "--yes")
        self.assertNotEqual(refused.rc, 0)
        self.assertIn("legal hold", refused.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
