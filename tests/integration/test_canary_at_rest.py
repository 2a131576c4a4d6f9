"""Encryption at rest, end to end: a copied var/ shows no patient data.

Scenario (issue 12, section 2): an instance holds a canary patient, stored
over DICOM TLS (storescu +tls) and STOW-RS, queried (C-FIND, QIDO-RS),
retrieved (WADO-RS), imported with `tresor import` from a directory named
after the patient (its resume journal kept by a failing file), quarantined
once (conflicting demographics). var/ is copied while the server runs (the
index's -wal and -shm included) and again after it stopped. No file of
either copy contains the canary's name, ID, birth date, accession or
institution in any encoding: ASCII as is, upper and lower case, UTF-16LE
and UTF-16BE, the PN components apart, the ideographic name in UTF-8 and
UTF-16; the canary also sits in a nested sequence and a private tag. The
copy without the key serves nothing: `tresor serve` refuses, and sqlite3
sees no database in its index.db.
"""
import os
import re
import shutil
import subprocess
import unittest
from pathlib import Path

import harness
from harness import run
from https import Client, basic, multipart_related

FILES = harness.PYDICOM_TEST_FILES

NAME_FAMILY = "Zyxwvut"
NAME_GIVEN = "Canaryqq"
NAME_IDEOGRAPHIC = "\u7d2b\u96c0\u5bb6"  # a UTF-8 / UTF-16 relevant component
PATIENT_ID = "CNRY4711Q"
BIRTH_DATE = "19230817"
OTHER_BIRTH_DATE = "19230818"  # the conflicting copy's
ACCESSION = "ACCZQ4711"
INSTITUTION = "Qwertzuiop Canaryqq Institute"
PASSWORDS = {"tech": "tech-Very-Long-Passphrase-2", "clin": "clin-Very-Long-Passphrase-1"}


def needles() -> dict[bytes, str]:
    """Every byte pattern that must not appear, with what it spells."""
    words = [NAME_FAMILY, NAME_GIVEN, PATIENT_ID, BIRTH_DATE, OTHER_BIRTH_DATE, ACCESSION, "Qwertzuiop",
             "1923-08-17", f"{NAME_FAMILY}^{NAME_GIVEN}"]
    out: dict[bytes, str] = {}
    for w in words:
        for variant in {w, w.upper(), w.lower()}:
            for enc in ("ascii", "utf-16-le", "utf-16-be"):
                out[variant.encode(enc)] = f"{w} ({enc})"
    for enc in ("utf-8", "utf-16-le", "utf-16-be"):
        out[NAME_IDEOGRAPHIC.encode(enc)] = f"ideographic name ({enc})"
    return out


def scan(root: Path) -> list[str]:
    """Files under root holding a needle: 'relative path: what'."""
    found = []
    pats = needles()
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.is_symlink():
            continue
        data = p.read_bytes()
        for pat, what in pats.items():
            if pat in data:
                found.append(f"{p.relative_to(root)}: {what}")
    return found


def canary(path: Path, study: str, sop: str, name: str, birth: str) -> Path:
    """CT_small.dcm made into the canary patient's object."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    ds = pydicom.dcmread(FILES / "CT_small.dcm")
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = name
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = birth
    ds.AccessionNumber = ACCESSION
    ds.InstitutionName = INSTITUTION
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = study + ".1"
    ds.SOPInstanceUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    # Inside a nested sequence, twice deep.
    inner = Dataset()
    inner.PatientID = PATIENT_ID
    inner.IssuerOfPatientID = "CANARYHOSP"
    outer = Dataset()
    outer.PatientName = name
    outer.OtherPatientIDsSequence = Sequence([inner])
    ds.ReferencedPatientSequence = Sequence([outer])
    # A private tag.
    block = ds.private_block(0x0009, "CANARY PRIVATE", create=True)
    block.add_new(0x01, "LO", f"{NAME_FAMILY} {PATIENT_ID} {BIRTH_DATE}")
    ds.save_as(path, write_like_original=False)
    return path


class CanaryAtRest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        try:
            import pydicom  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("pydicom missing")
        t = cls.t = harness.Tresor(name="canary")
        t.init()
        t.configure("audit", "rotate_bytes", 4096)  # rotated audit files in the copy too
        for user, role in (("tech", "technologist"), ("clin", "clinician")):
            t.user_add(user, role, PASSWORDS[user])
        cls.cert = t.peer_add("CANARYSCU", "echo,store,find,get")
        data = t.root / "objects"
        data.mkdir()
        name = f"{NAME_FAMILY}^{NAME_GIVEN}={NAME_IDEOGRAPHIC}"
        cls.study1, cls.study2, cls.study3 = harness.uid(), harness.uid(), harness.uid()
        cls.dimse_file = canary(data / "dimse.dcm", cls.study1, harness.uid(), name, BIRTH_DATE)
        cls.stow_sop = harness.uid()
        cls.stow_file = canary(data / "stow.dcm", cls.study2, cls.stow_sop, name, BIRTH_DATE)
        # The import directory carries the patient's name, as exports often do.
        cls.import_dir = t.root / f"{NAME_FAMILY}_{NAME_GIVEN}_{PATIENT_ID}"
        cls.import_dir.mkdir()
        canary(cls.import_dir / f"{NAME_FAMILY}_1.dcm", cls.study3, harness.uid(), name, BIRTH_DATE)
        # Same patient ID, other name and birth date: quarantined.
        canary(cls.import_dir / f"{NAME_FAMILY}_2.dcm", cls.study3, harness.uid(),
               f"{NAME_FAMILY}^{NAME_GIVEN}^Other", OTHER_BIRTH_DATE)
        # A truncated DICOM file fails, so the import keeps its resume journal.
        whole = (cls.import_dir / f"{NAME_FAMILY}_1.dcm").read_bytes()
        (cls.import_dir / f"{NAME_FAMILY}_broken.dcm").write_bytes(whole[: len(whole) // 3])

    @classmethod
    def tearDownClass(cls):
        cls.t.close()

    def test_a_copied_var_shows_no_canary_and_serves_nothing_without_the_key(self):
        t = self.t
        t.start()
        # Store over DICOM TLS and STOW-RS.
        res = t.client("CANARYSCU", self.cert).store([self.dimse_file])
        self.assertEqual(res.final, 0, str(res))
        c = Client(t.https_port, t.ca)
        body, ctype = multipart_related([self.stow_file.read_bytes()])
        r = c.post("/dicom-web/studies", body, {**basic("tech", PASSWORDS["tech"]), "Content-Type": ctype,
                                                 "Accept": "application/dicom+json"})
        self.assertIn(r.status, (200, 202), r.body[:300])
        # Import beside the running server: one stored, one quarantined, one failed.
        imp = t.cli("import", self.import_dir, timeout=120)
        m = re.search(r"imported (\d+), duplicates (\d+), quarantined (\d+), failed (\d+)", imp.stdout)
        self.assertIsNotNone(m, str(imp))
        self.assertEqual((m.group(1), m.group(3), m.group(4)), ("1", "1", "1"), str(imp))
        journals = list((t.var / "import").glob("*.journal"))
        self.assertEqual(len(journals), 1, "the failed import keeps its journal")
        # Query and retrieve.
        found = t.client("CANARYSCU", self.cert).find([f"PatientID={PATIENT_ID}", "StudyInstanceUID"])
        self.assertEqual(harness.find_matches(found), 3, str(found))
        clin = basic("clin", PASSWORDS["clin"])
        q = c.get(f"/dicom-web/studies?PatientName={NAME_FAMILY}*", clin)
        self.assertEqual(q.status, 200, q.body[:300])
        self.assertEqual(len(q.json()), 3)
        w = c.get(f"/dicom-web/studies/{self.study2}/series/{self.study2}.1/instances/{self.stow_sop}",
                  {**clin, "Accept": 'multipart/related; type="application/dicom"'})
        self.assertEqual(w.status, 200, w.body[:300])
        self.assertIn(NAME_FAMILY.encode(), w.body, "the retrieve returns the real object")

        # A copy taken while the server runs: index WAL and wal-index included.
        hot = t.root / "hot-copy"
        shutil.copytree(t.var, hot / "var", symlinks=True)
        self.assertTrue((hot / "var" / "index.db-wal").exists(), "the hot copy should include the index WAL")
        t.stop()
        cold = t.root / "cold-copy"
        shutil.copytree(t.var, cold / "var", symlinks=True)

        leaks = [f"hot: {x}" for x in scan(hot / "var")] + [f"cold: {x}" for x in scan(cold / "var")]
        self.assertEqual(leaks, [], "patient data readable in a copy of var/:\n" + "\n".join(leaks[:60]))

        # The copy without the key serves nothing: the key file lies outside var/
        # (next to the original var/), so the copy's configuration finds none.
        self.assertFalse((cold / "tresor-kek.key").exists())
        s = run([str(harness.TRESOR_BIN), "--var", str(cold / "var"), "serve"], timeout=60)
        self.assertNotEqual(s.rc, 0, f"serve started on a copy without the key:\n{s}")
        self.assertRegex(s.out.lower(), r"key", str(s))
        # sqlite3 sees no database in the copied index.
        q = run(["sqlite3", str(cold / "var" / "index.db"), "SELECT count(*) FROM sqlite_master"], timeout=30)
        self.assertNotEqual(q.rc, 0, str(q))
        self.assertIn("not a database", q.out, str(q))
        # A wrong key (another instance's) does not open it either.
        (cold / "tresor-kek.key").write_text(os.urandom(32).hex() + "\n")
        os.chmod(cold / "tresor-kek.key", 0o600)
        s = run([str(harness.TRESOR_BIN), "--var", str(cold / "var"), "serve"], timeout=60)
        self.assertNotEqual(s.rc, 0, f"serve started on a copy with a wrong key:\n{s}")


if __name__ == "__main__":
    unittest.main()
