"""De-identified export (PS3.15 Annex E) end to end: `tresor export --deidentify`.

Every pydicom test file the archive accepts (one `tresor import` each; the
ones it refuses or holds are skipped with their reason) plus synthetic
objects hiding a canary patient's identity in private tags, nested
sequences, an overlay, SR content and their file names, are exported to a
directory. A byte scan of every exported file and file name finds none of
the original identifiers (names, IDs, birth dates, accession numbers,
institutions, original UIDs) in ASCII or UTF-16; dciodvfy finds no error in
an exported object that it did not find in the original; two exports of one
patient to a project share the pseudonym, another project gets another; a
researcher given the project sees only the de-identified copies over QIDO.
"""
import hashlib
import os
import re
import shutil
import unittest
from pathlib import Path

import harness
from harness import Tresor, run
from https import Client, basic

CORPUS = Path("/usr/lib/python3/dist-packages/pydicom/data/test_files")
DUMMIES = ("ANONYMIZED", "19000101", "000000", "PSN")
CANARY = {"name": "CANARYVOGEL^HILDEGARD", "id": "CANARY-ID-4711", "birth": "19470203",
          "accession": "ACCCANARY99", "institution": "KANARIENHOF INFIRMARY"}
CANARY_WORDS = ["CANARYVOGEL", "HILDEGARD", "CANARY-ID-4711", "19470203", "ACCCANARY99", "KANARIENHOF"]


def make_canary_objects(out: Path) -> list[Path]:
    """A CT with the identity in a private block, a nested sequence and an overlay; an SR with it in its
    text; file names carrying the patient's name."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    study = "1.2.826.0.1.3680043.8.498.4711.1"
    paths = []

    def base(sop_class: str, sop: str, series: str, modality: str) -> Dataset:
        ds = Dataset()
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.Modality = modality
        ds.PatientName = CANARY["name"]
        ds.PatientID = CANARY["id"]
        ds.PatientBirthDate = CANARY["birth"]
        ds.PatientSex = "F"
        ds.AccessionNumber = CANARY["accession"]
        ds.InstitutionName = CANARY["institution"]
        ds.StudyDate = "20240102"
        ds.StudyTime = "120000"
        ds.ReferringPhysicianName = "DOKTOR^KANARIENHOF"
        ds.StudyID = "4711"
        ds.SeriesNumber = "1"
        ds.InstanceNumber = "1"
        return ds

    def save(ds: Dataset, name: str):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.SourceApplicationEntityTitle = "CANARYVOGEL"
        ds.file_meta = meta
        p = out / name
        pydicom.dcmwrite(p, ds, write_like_original=False) if hasattr(pydicom, "dcmwrite") else ds.save_as(p)
        paths.append(p)

    ct = base("1.2.840.10008.5.1.4.1.1.2", "1.2.826.0.1.3680043.8.498.4711.2.1",
              "1.2.826.0.1.3680043.8.498.4711.2", "CT")
    ct.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ct.BurnedInAnnotation = "NO"
    ct.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.4711.9"
    ct.PositionReferenceIndicator = ""
    ct.ImagePositionPatient = [0, 0, 0]
    ct.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ct.PixelSpacing = [1, 1]
    ct.SliceThickness = "1"
    ct.KVP = "120"
    ct.AcquisitionNumber = "1"
    ct.RescaleIntercept = "0"
    ct.RescaleSlope = "1"
    ct.Rows, ct.Columns = 4, 4
    ct.SamplesPerPixel = 1
    ct.PhotometricInterpretation = "MONOCHROME2"
    ct.BitsAllocated, ct.BitsStored, ct.HighBit, ct.PixelRepresentation = 16, 16, 15, 0
    ct.PixelData = bytes(range(32))
    ct.add_new(0x00290010, "LO", "CANARY PRIVATE")
    ct.add_new(0x00291001, "LO", CANARY["name"])
    ct.add_new(0x00291002, "UT", "patient " + CANARY["id"])
    inner = Dataset()
    inner.CodeValue = "X1"
    inner.CodingSchemeDesignator = "99LOCAL"
    inner.CodeMeaning = "Study of HILDEGARD CANARYVOGEL"
    deeper = Dataset()
    deeper.PatientName = CANARY["name"]
    deeper.PatientID = CANARY["id"]
    inner.add_new(0x00081111, "SQ", Sequence([deeper]))  # ReferencedPerformedProcedureStepSequence
    ct.ProcedureCodeSequence = Sequence([inner])
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.4711.2.2"
    ct.ReferencedImageSequence = Sequence([ref])
    ct.add_new(0x60000010, "US", 4)
    ct.add_new(0x60000011, "US", 4)
    ct.add_new(0x60000040, "CS", "G")
    ct.add_new(0x60000050, "SS", [1, 1])
    ct.add_new(0x60000100, "US", 1)
    ct.add_new(0x60000102, "US", 0)
    ct.add_new(0x60000022, "LO", "marked by " + CANARY["name"])
    ct.add_new(0x60003000, "OW", b"\x01\x00")
    ct.add_new(0x60004000, "LT", "overlay of " + CANARY["id"])
    save(ct, "CANARYVOGEL_HILDEGARD_CT.dcm")

    sr = base("1.2.840.10008.5.1.4.1.1.88.11", "1.2.826.0.1.3680043.8.498.4711.3.1",
              "1.2.826.0.1.3680043.8.498.4711.3", "SR")
    sr.ValueType = "CONTAINER"
    sr.ContinuityOfContent = "SEPARATE"
    sr.CompletionFlag = "COMPLETE"
    sr.VerificationFlag = "UNVERIFIED"
    sr.ContentDate = "20240102"
    sr.ContentTime = "120000"
    title = Dataset()
    title.CodeValue, title.CodingSchemeDesignator, title.CodeMeaning = "11528-7", "LN", "Radiology Report"
    sr.ConceptNameCodeSequence = Sequence([title])
    text = Dataset()
    text.RelationshipType = "CONTAINS"
    text.ValueType = "TEXT"
    finding = Dataset()
    finding.CodeValue, finding.CodingSchemeDesignator, finding.CodeMeaning = "121071", "DCM", "Finding"
    text.ConceptNameCodeSequence = Sequence([finding])
    text.TextValue = f"Hildegard Canaryvogel ({CANARY['id']}, born {CANARY['birth']}) at Kanarienhof: no finding"
    sr.ContentSequence = Sequence([text])
    sr.PerformedProcedureCodeSequence = Sequence()
    sr.add_new(0x0040A375, "SQ", Sequence())  # CurrentRequestedProcedureEvidenceSequence
    sr.ReferencedPerformedProcedureStepSequence = Sequence()
    save(sr, "report_of_CANARYVOGEL.dcm")
    return paths


def identifiers(path: Path) -> set[str]:
    """The original identifiers of one object that must not survive: names, IDs, birth date, accession
    number, institution, UIDs (top level and in sequences)."""
    import pydicom
    ds = pydicom.dcmread(path, force=True)
    out: set[str] = set()

    def add(v, min_len):
        for s in (str(x) for x in (v if isinstance(v, (list, pydicom.multival.MultiValue)) else [v])):
            s = s.strip()
            if len(s) >= min_len and not any(s.upper() in d or d in s.upper() for d in DUMMIES):
                out.add(s)

    def walk(d):
        for el in d:
            if el.VR == "SQ":
                for item in el.value:
                    walk(item)
                continue
            kw = el.keyword
            if kw in ("PatientName", "OtherPatientNames", "ReferringPhysicianName"):
                for part in re.split(r"[\^=\s]+", str(el.value)):
                    add(part, 6)
            elif kw in ("PatientID", "OtherPatientIDs", "AccessionNumber"):
                add(el.value, 5)
            elif kw in ("PatientBirthDate",):
                add(el.value, 8)
            elif kw in ("InstitutionName",):
                add(el.value, 6)
            elif kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
                        "ReferencedSOPInstanceUID"):
                add(el.value, 12)

    try:
        walk(ds)
    except Exception:
        pass
    return out


def dciodvfy_errors(path: Path) -> set[str]:
    r = run(["dciodvfy", "-new", str(path)], timeout=60)
    errors = set()
    for line in (r.stdout + r.stderr).splitlines():
        if line.startswith("Error"):
            errors.add(re.sub(r"\"[^\"]*\"|\[[^\]]*\]", "#", line))
    return errors


def pixel_key(path: Path) -> str | None:
    import pydicom
    try:
        ds = pydicom.dcmread(path, force=True)
        return hashlib.sha256(ds.PixelData).hexdigest() if "PixelData" in ds else None
    except Exception:
        return None


class DeidentifiedExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        if not shutil.which("dciodvfy"):
            raise unittest.SkipTest("dciodvfy (Debian dicom3tools) is not installed")
        cls.t = Tresor(name="deid").init()
        cls.work = cls.t.root / "work"
        cls.work.mkdir()
        canary_dir = cls.work / "canary"
        canary_dir.mkdir()
        cls.canary_files = make_canary_objects(canary_dir)
        cls.stored: list[Path] = []
        cls.skipped: dict[str, str] = {}
        for f in sorted(CORPUS.glob("*.dcm")) + cls.canary_files:
            r = cls.t.cli("import", str(f), timeout=120)
            if r.rc == 0 and re.search(r"\bimported 1,", r.stdout):
                cls.stored.append(f)
            else:
                cls.skipped[f.name] = (r.stdout + r.stderr).strip().splitlines()[-1:] or ["?"]
        cls.studies = sorted({str(__import__("pydicom").dcmread(f, force=True, stop_before_pixels=True)
                                  .StudyInstanceUID) for f in cls.stored})

    @classmethod
    def tearDownClass(cls):
        cls.t.close()

    def export(self, project: str, target: Path, *selection: str, profile: str = "basic,clean-sc") -> harness.Run:
        r = self.t.cli("export", "--deidentify", "--project", project, "--profile", profile, *selection,
                       "--to", str(target), timeout=600)
        self.assertEqual(r.rc, 0, str(r))
        return r

    def test_corpus_and_canaries_leave_no_identifier_and_no_new_dciodvfy_error(self):
        self.assertIn("CANARYVOGEL_HILDEGARD_CT.dcm", [p.name for p in self.stored], self.skipped)
        self.assertGreater(len(self.stored), 20, self.skipped)
        out = self.work / "corpus-export"
        args = [a for s in self.studies for a in ("--study", s)]
        r = self.export("CORPUS", out, *args)
        self.assertRegex(r.stdout, r"left out: [1-9]")           # the secondary captures without BurnedInAnnotation
        self.assertIn("secondary capture without BurnedInAnnotation NO", r.stdout)
        exported = [p for p in out.rglob("*") if p.is_file()]
        self.assertGreaterEqual(len(exported), 8)  # 10 today: the rest are SC files left out, or held/refused at import
        # identifiers of every original that went out, plus the canary's words
        needles = set(CANARY_WORDS)
        for f in self.stored:
            needles |= identifiers(f)
        # the profile keeps Manufacturer: a test file naming a vendor as its institution is no leak
        import pydicom
        vendors = {str(pydicom.dcmread(f, force=True, stop_before_pixels=True).get("Manufacturer", "")).strip()
                   for f in self.stored}
        needles -= vendors
        leaks = []
        for p in exported:
            data = p.read_bytes()
            name = str(p.relative_to(out))
            for n in needles:
                for enc in (n.encode(), n.upper().encode(), n.encode("utf-16-le"), n.upper().encode("utf-16-le")):
                    if enc in data:
                        leaks.append(f"{name}: {n!r}")
                if n.upper() in name.upper():
                    leaks.append(f"file name {name}: {n!r}")
        self.assertEqual(sorted(set(leaks)), [])
        # dciodvfy: no error an original did not have (matched by pixel data; no pixels: by SOP class)
        # Known limitation: a public sequence received as UN cannot be de-identified item by item and is
        # removed, which can invalidate the object (rtdose_rle.dcm): such originals are compared by the
        # byte scan above only (docs/conformance.md).
        originals: dict[str, set[str]] = {}
        un_keys = set()
        for f in self.stored:
            if re.search(r"^\([0-9a-f]{3}[02468ace],[0-9a-f]{4}\) UN ", run(["dcmdump", "-q", str(f)]).stdout, re.M):
                un_keys.add(pixel_key(f) or "")
                continue
            originals.setdefault(pixel_key(f) or "", set()).update(dciodvfy_errors(f))
        new = {}
        for p in exported:
            if (pixel_key(p) or "") in un_keys:
                continue
            before = originals.get(pixel_key(p) or "", set())
            after = dciodvfy_errors(p)
            if after - before:
                new[str(p.relative_to(out))] = sorted(after - before)
        self.maxDiff = None
        self.assertEqual(new, {})

    def test_one_patient_keeps_its_pseudonym_within_a_project_and_not_across(self):
        a = self.export("PROJ-A", self.work / "a1", "--patient", CANARY["id"])
        b = self.export("PROJ-A", self.work / "a2", "--patient", CANARY["id"], profile="basic,clean-sc,retain-dates")
        c = self.export("PROJ-B", self.work / "b1", "--patient", CANARY["id"])
        pa, pb, pc = (re.search(r"^pseudonyms: (\S+)", r.stdout, re.M).group(1) for r in (a, b, c))
        self.assertEqual(pa, pb)
        self.assertNotEqual(pa, pc)
        self.assertEqual(sorted(p.name for p in (self.work / "a1" / pa).iterdir()),
                         sorted(p.name for p in (self.work / "a2" / pb).iterdir()))  # same new study UID
        r = self.t.cli("export", "reidentify", "--project", "PROJ-A", "--pseudonym", pa)
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(r.stdout.strip(), CANARY["id"])
        self.assertNotEqual(self.t.cli("export", "reidentify", "--project", "PROJ-B", "--pseudonym", pa).rc, 0)
        events = self.t.audit_events()
        exports = [e for e in events if e.get("type") == "data_export"]
        self.assertTrue(any(CANARY["id"] in str(e.get("patient_id", "")) for e in exports), exports[-3:])
        reid = [e for e in events if e.get("type") == "patient_record" and "re-identification" in str(e)]
        self.assertEqual(len(reid), 2)

    def test_a_researcher_with_the_project_sees_only_the_deidentified_studies(self):
        r = self.export("VIEW", self.work / "view", "--patient", CANARY["id"])
        pseudonym = re.search(r"^pseudonyms: (\S+)", r.stdout, re.M).group(1)
        password = "Rs-" + os.urandom(12).hex()
        self.t.user_add("rosa", "researcher", password)
        self.t.user_add("nobody", "researcher", password)
        self.t.cli_ok("user", "set-project", "rosa", "--project", "VIEW")
        self.t.start()
        try:
            c = Client(self.t.https_port, self.t.ca)
            rows = c.get("/dicom-web/studies?includefield=00100020", basic("rosa", password))
            self.assertEqual(rows.status, 200, rows.body[:300])
            ids = {row["00100020"]["Value"][0] for row in rows.json()}
            self.assertEqual(ids, {pseudonym})
            self.assertNotIn(CANARY["id"].encode(), rows.body)
            orig = c.get("/dicom-web/studies?PatientID=" + CANARY["id"], basic("rosa", password))
            self.assertIn(orig.status, (200, 204))
            self.assertEqual(orig.body.strip() in (b"", b"[]"), True, orig.body[:200])
            none = c.get("/dicom-web/studies", basic("nobody", password))
            self.assertIn(none.status, (200, 204))
            self.assertEqual(none.body.strip() in (b"", b"[]"), True, none.body[:200])
        finally:
            self.t.stop()


if __name__ == "__main__":
    unittest.main()
