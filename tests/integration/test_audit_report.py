"""'Who saw what' (issue 12): `tresor audit report` and GET /api/audit/report.

Against a real Tresor holding CT_small (patient 1CT1, JFK IMAGING CENTER) and
MR_small (patient 4MR1, TOSHIBA): two users access the CT patient (QIDO-RS,
WADO-RS, and C-FIND with DCMTK findscu over TLS as a peer); the report for
1CT1 lists both users and the peer with the right counts and sources and
nothing of the MR patient; an auditor scoped to TOSHIBA sees none of the CT
study's events; the HTML form is the printable, self-contained page; the
report is itself audited."""
import json
import shutil
import unittest

import harness
from harness import SharedTresorCase
from https import Client, basic

FILES = harness.PYDICOM_TEST_FILES
PASSWORDS = {
    "alice": "alice-Report-Passphrase-21",
    "bob": "bob-Report-Passphrase-22",
    "dpo": "dpo-Report-Passphrase-23",
    "audt": "audt-Report-Passphrase-24",
}
ROLES = {"alice": "clinician", "bob": "clinician", "dpo": "auditor", "audt": "auditor"}
CT_PATIENT, MR_PATIENT = "1CT1", "4MR1"


def study_uid(path) -> str:
    import pydicom
    return pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID


class WhoSawWhat(SharedTresorCase):
    instance_name = "report"

    @classmethod
    def prepare(cls, t):
        t.init()
        t.configure("audit", "access_window_s", 1)  # viewer sessions are written 1 s after the last read
        for name, pw in PASSWORDS.items():
            t.user_add(name, ROLES[name], pw)
        imp = t.root / "import"
        imp.mkdir()
        for f in ("CT_small.dcm", "MR_small.dcm"):
            shutil.copy(FILES / f, imp / f)
        t.cli_ok("import", imp)
        cls.finder = t.peer_add("FINDER", "echo,find")
        t.start()
        cls.c = Client(t.https_port, t.ca)
        admin = basic("admin", t.admin_password)
        r = cls.c.put_json("/api/users/audt", {"scope": {"institutions": ["TOSHIBA"]}}, admin)
        assert r.status == 200, r
        cls.ct_study = study_uid(FILES / "CT_small.dcm")
        cls.mr_study = study_uid(FILES / "MR_small.dcm")

        # alice: QIDO by patient, then opens the CT study's metadata and instances (WADO-RS).
        alice = basic("alice", PASSWORDS["alice"])
        assert cls.c.get(f"/dicom-web/studies?PatientID={CT_PATIENT}", alice).status == 200
        assert cls.c.get(f"/dicom-web/studies/{cls.ct_study}/metadata", alice).status == 200
        # bob: a QIDO listing every study (returns both patients), from another source address.
        bob_client = Client(t.https_port, t.ca, source="127.0.0.7")
        assert bob_client.get("/dicom-web/studies", basic("bob", PASSWORDS["bob"])).status == 200
        # the MR patient only: must not show up in the CT patient's report
        assert cls.c.get(f"/dicom-web/studies/{cls.mr_study}/metadata", alice).status == 200
        # FINDER: C-FIND over TLS that returns the CT patient.
        res = t.client("FINDER", cls.finder).find([f"PatientID={CT_PATIENT}", "StudyInstanceUID"])
        assert harness.find_matches(res) == 1, str(res)

        def access_written():
            return any(e.get("type") == "access" and e.get("patient_id") == CT_PATIENT for e in t.audit_events())
        assert harness.wait_until(access_written, 30), "no viewer session event"

    def report(self, who: str, patient: str, **params) -> dict:
        q = "&".join(f"{k}={v}" for k, v in {"patient": patient, **params}.items())
        r = self.c.get(f"/api/audit/report?{q}", basic(who, PASSWORDS[who]))
        self.assertEqual(r.status, 200, r.body[:300])
        return r.json()

    def test_two_users_and_a_peer_are_listed_with_counts_and_sources_and_not_the_other_patient(self):
        rep = self.report("dpo", CT_PATIENT)
        self.assertEqual(rep["patient_id"], CT_PATIENT)
        parties = {(p["actor"], p["source"]): p["accesses"] for p in rep["parties"]}
        self.assertIn(("alice", "127.0.0.1"), parties, rep["parties"])
        self.assertIn(("bob", "127.0.0.7"), parties, rep["parties"])
        self.assertIn(("FINDER", "127.0.0.1"), parties, rep["parties"])
        self.assertEqual(parties[("bob", "127.0.0.7")], {"query": 1})  # his listing returned the patient
        self.assertGreaterEqual(parties[("alice", "127.0.0.1")].get("query", 0), 1)
        self.assertEqual(parties[("FINDER", "127.0.0.1")], {"query": 1})
        sessions = [e for e in rep["entries"] if e["what"] == "viewer session" and e["actor"] == "alice"]
        self.assertTrue(sessions, rep["entries"])
        self.assertEqual(sessions[0]["count"], "1")  # CT_small is one instance, read by its metadata
        self.assertEqual(sessions[0]["study_uid"], self.ct_study)
        for e in rep["entries"]:
            self.assertNotEqual(e["study_uid"], self.mr_study, e)
        # bob's query returned both patients: it is in both reports; alice's MR viewing only in the MR one.
        mr = self.report("dpo", MR_PATIENT)
        self.assertTrue(any(e["actor"] == "bob" for e in mr["entries"]))
        self.assertTrue(any(e["what"] == "viewer session" and e["study_uid"] == self.mr_study for e in mr["entries"]))
        # A window in the future holds nothing.
        self.assertEqual(self.report("dpo", CT_PATIENT, since="2999-01-01")["entries"], [])

    def test_a_scoped_auditor_sees_no_event_of_a_study_outside_its_scope(self):
        r = self.c.get(f"/api/audit/report?patient={CT_PATIENT}", basic("audt", PASSWORDS["audt"]))
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.json()["entries"], [])
        self.assertNotIn(self.ct_study.encode(), r.body)
        mr = self.report("audt", MR_PATIENT)
        self.assertTrue(mr["entries"], "its own studies are shown")
        for e in mr["entries"]:
            self.assertEqual(e["study_uid"], self.mr_study, e)

    def test_only_auditors_and_admins_may_read_it_and_each_report_is_audited(self):
        denied = self.c.get(f"/api/audit/report?patient={CT_PATIENT}", basic("alice", PASSWORDS["alice"]))
        self.assertEqual(denied.status, 403)
        self.assertEqual(self.c.get("/api/audit/report", basic("dpo", PASSWORDS["dpo"])).status, 400)
        self.report("dpo", CT_PATIENT, since="2020-01-01")
        used = [e for e in self.t.audit_events()
                if e.get("type") == "audit_log_used" and e.get("actor") == "dpo" and e.get("patient_id") == CT_PATIENT]
        self.assertTrue(used)
        self.assertIn("2020-01-01", json.dumps(used[-1]))

    def test_the_printable_html_is_self_contained_and_names_patient_and_period(self):
        r = self.c.get(f"/api/audit/report?patient={CT_PATIENT}&since=2020-01-01&format=html",
                       basic("dpo", PASSWORDS["dpo"]))
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/html"))
        self.assertIn("default-src 'none'", r.header("Content-Security-Policy"))
        html = r.body.decode()
        self.assertIn(f"<title>Access report: patient {CT_PATIENT}, 2020-01-01 to now</title>", html)
        self.assertIn("@media print", html)
        self.assertNotIn("<script", html)
        self.assertIn("alice", html)

    def test_the_cli_gives_the_same_report(self):
        out = self.tmpdir("cli") / "report.json"
        self.t.cli_ok("audit", "report", "--patient", CT_PATIENT, "--format", "json", "--out", str(out))
        self.assertEqual(out.stat().st_mode & 0o077, 0)
        rep = json.loads(out.read_text())
        actors = {p["actor"] for p in rep["parties"]}
        self.assertTrue({"alice", "bob", "FINDER"} <= actors, actors)
        text = self.t.cli_ok("audit", "report", "--patient", CT_PATIENT).stdout
        self.assertIn(f"Accesses to the data of patient {CT_PATIENT}", text)
        self.assertIn("bob from 127.0.0.7", text)
        bad = self.t.cli("audit", "report", "--patient", CT_PATIENT, "--since", "yesterday")
        self.assertEqual(bad.rc, 2, str(bad))


if __name__ == "__main__":
    unittest.main()
