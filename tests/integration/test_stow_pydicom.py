"""Every file of pydicom's test corpus, uploaded one by one with STOW-RS.

The same ingest path as C-STORE: valid objects are stored and come back by
WADO-RS (transfer-syntax=*) with the same data set (dcmdump compared, group
0002 ignored); malformed ones are refused with a FailedSOPSequence carrying a
FailureReason and a reason text; afterwards the server still answers. Unlike
storescu, STOW sends even what DCMTK's client cannot read, so every file
reaches the server. Batches avoid the corpus' UID collisions as in
test_pydicom_files.
"""
import os
import shutil
import unittest
from pathlib import Path

import harness
from harness import Tresor
from https import Client, basic, multipart_related, split_multipart
from test_pydicom_files import batches, crafted_malformed, describe

PW = "technologist-Long-Passphrase-8"


class StowPydicomFilesTest(unittest.TestCase):
    def setUp(self):
        harness.require_binary()
        self.work = Path(harness.tempfile.mkdtemp(prefix="itest-stow-"))
        self.addCleanup(lambda: os.environ.get("TRESOR_KEEP") or shutil.rmtree(self.work, ignore_errors=True))

    def test_every_corpus_file_is_stored_and_retrieved_intact_or_refused_with_a_reason(self):
        corpus = sorted(p for p in harness.PYDICOM_TEST_FILES.iterdir() if p.is_file())
        self.assertGreaterEqual(len(corpus), 70, "pydicom test corpus missing")
        items = [describe(p) for p in corpus]
        crafted = self.work / "crafted"
        crafted.mkdir()
        items += crafted_malformed(crafted)
        report = []
        for n, batch in enumerate(batches(items)):
            report += self.run_batch(n, batch)
        summary = "\n".join(report)
        print("\n" + summary)
        stored = sum(1 for l in report if " stored+retrieved" in l)
        self.assertGreaterEqual(stored, 45, f"too few corpus files stored intact:\n{summary}")

    def run_batch(self, n: int, batch) -> list[str]:
        t = Tresor(name=f"stow{n}")
        self.addCleanup(t.close)
        t.init()
        t.user_add("pacsuser", "technologist,clinician", PW)
        t.start()
        c = Client(t.https_port, t.ca)
        auth = basic("pacsuser", PW)
        lines = []
        for it in batch:
            name = it.path.name
            with self.subTest(file=name):
                body, ctype = multipart_related([it.path.read_bytes()])
                r = c.post("/dicom-web/studies", body, {**auth, "Content-Type": ctype, "Accept": "application/dicom+json"})
                self.assertIn(r.status, (200, 202, 409), f"{name}: {r.status} {r.body[:300]!r}")
                answer = r.json()
                # UIDs DCMTK's reader sees only as UN (a data set encoded unlike its declared transfer
                # syntax): the archive may decode them from the UN bytes; then the object must round-trip.
                un_only = "unreadable as UI by DCMTK" in it.why_malformed and r.status != 409
                if not it.valid and not un_only:
                    self.assertEqual(r.status, 409, f"{name} is malformed ({it.why_malformed}) but was stored")
                    failed = answer["00081198"]["Value"][0]
                    reason = failed["00000902"]["Value"][0]
                    self.assertTrue(reason)
                    lines.append(f"{name}: refused ({it.why_malformed}): {reason}")
                    continue
                if r.status == 409 and it.valid:
                    # Valid for pydicom but refused by our stricter checks: must say why, like C-STORE does.
                    failed = answer["00081198"]["Value"][0]
                    self.assertTrue(failed["00000902"]["Value"][0])
                    lines.append(f"{name}: refused {failed['00000902']['Value'][0]}")
                    continue
                self.assertIn("00081199", answer, f"{name}: no ReferencedSOPSequence\n{answer}")
                url = (f"/dicom-web/studies/{it.study}/series/{it.series}/instances/{it.sop}")
                got = c.get(url, {**auth, "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
                self.assertEqual(got.status, 200, f"{name}: WADO-RS {got.status} {got.body[:200]!r}")
                parts = split_multipart(got.body, got.header("content-type"))
                self.assertEqual(len(parts), 1)
                out = self.work / f"wado-{n}-{name}"
                out.write_bytes(parts[0][1])
                self.assertEqual(harness.dcmdump_normalized(it.path), harness.dcmdump_normalized(out),
                                 f"{name}: retrieved data set differs from the original")
                lines.append(f"{name}: stored+retrieved ({it.ts or 'no meta'})" + (" [UIDs read from UN]" if un_only else ""))
        self.assertEqual(c.get("/api/me", auth).status, 200, f"server stopped answering after batch {n}\n{t.log()}")
        self.assertTrue(t.running(), f"server died during batch {n}\n{t.log()}")
        t.close()
        return lines


class FramesOfUnusualObjectsTest(unittest.TestCase):
    """What a viewer asks of objects whose pixel data is unusual: never a 500."""

    NATIVE = 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1'
    AS_STORED = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        cls.t = Tresor(name="frames")
        cls.t.init()
        cls.t.user_add("pacsuser", "technologist,clinician", PW)
        cls.t.start()
        cls.c = Client(cls.t.https_port, cls.t.ca)
        cls.auth = basic("pacsuser", PW)

    @classmethod
    def tearDownClass(cls):
        cls.t.close()

    def stow(self, data: bytes):
        body, ctype = multipart_related([data])
        r = self.c.post("/dicom-web/studies", body, {**self.auth, "Content-Type": ctype, "Accept": "application/dicom+json"})
        return r

    def frame_url(self, path: Path) -> str:
        it = describe(path)
        return f"/dicom-web/studies/{it.study}/series/{it.series}/instances/{it.sop}/frames/1"

    def test_native_ybr_full_422_frames_are_served_with_two_samples_a_pixel(self):
        # pydicom's RGB secondary capture stored as YBR_FULL_422: 100 x 100 pixels in 20,000 bytes.
        path = harness.PYDICOM_TEST_FILES / "SC_ybr_full_422_uncompressed.dcm"
        self.assertEqual(self.stow(path.read_bytes()).status, 200)
        got = self.c.get(self.frame_url(path), {**self.auth, "Accept": self.AS_STORED})
        self.assertEqual(got.status, 200, f"{got.status} {got.body[:200]!r}")
        parts = split_multipart(got.body, got.header("content-type"))
        self.assertEqual(len(parts[0][1]), 20000)

    def test_pixel_data_shorter_than_its_geometry_is_refused_with_a_reason(self):
        import pydicom
        ds = pydicom.dcmread(harness.PYDICOM_TEST_FILES / "CT_small.dcm")
        ds.SOPInstanceUID = harness.uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.NumberOfFrames = 3  # one frame of pixel data, three declared
        out = Path(harness.tempfile.mkdtemp(prefix="itest-frames-")) / "short.dcm"
        ds.save_as(out, write_like_original=False)
        r = self.stow(out.read_bytes())
        self.assertEqual(r.status, 409, f"{r.status} {r.body[:300]!r}")
        reason = r.json()["00081198"]["Value"][0]["00000902"]["Value"][0]
        self.assertIn("shorter", reason)
        shutil.rmtree(out.parent, ignore_errors=True)

    def test_a_stored_defect_is_answered_422_not_500(self):
        # An object stored before ingest checked the geometry: CT_small's blob with its Rows
        # doubled in place (128 -> 256), so its pixel data is half what the header declares.
        # Only an unencrypted store can be edited in place: an instance made with
        # `init --no-encryption` (an encrypted one reports the edit as corrupt: test_encryption_at_rest).
        t = Tresor(name="defect")
        try:
            t.init(init_args=("--no-encryption",))
            t.user_add("pacsuser", "technologist,clinician", PW)
            t.start()
            c = Client(t.https_port, t.ca)
            path = harness.PYDICOM_TEST_FILES / "CT_small.dcm"
            body, ctype = multipart_related([path.read_bytes()])
            r = c.post("/dicom-web/studies", body, {**self.auth, "Content-Type": ctype, "Accept": "application/dicom+json"})
            self.assertEqual(r.status, 200)
            rows = bytes.fromhex("2800 1000") + b"US" + bytes.fromhex("0200 8000")
            blobs = [p for p in t.store_dir.rglob("*") if p.is_file() and rows in p.read_bytes()]
            self.assertEqual(len(blobs), 1, blobs)
            blob = blobs[0]
            blob.chmod(0o600)
            blob.write_bytes(blob.read_bytes().replace(rows, rows[:-2] + bytes.fromhex("0001")))
            for accept in (self.AS_STORED, self.NATIVE):
                got = c.get(self.frame_url(path), {**self.auth, "Accept": accept})
                self.assertEqual(got.status, 422, f"{accept}: {got.status} {got.body[:200]!r}")
                self.assertIn("shorter", got.json()["error"])
            rendered = c.get(self.frame_url(path) + "/rendered", {**self.auth, "Accept": "image/jpeg"})
            self.assertEqual(rendered.status, 422, f"{rendered.status} {rendered.body[:200]!r}")
            self.assertEqual(c.get("/api/me", self.auth).status, 200)
        finally:
            t.close()

    def test_frames_that_cannot_be_decoded_as_asked_are_406(self):
        # JPEG 2000 Part 2 (no decoder here): pydicom's JPEG2000.dcm under that transfer syntax.
        import pydicom
        ds = pydicom.dcmread(harness.PYDICOM_TEST_FILES / "JPEG2000.dcm")
        ds.SOPInstanceUID = harness.uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.92"
        path = Path(harness.tempfile.mkdtemp(prefix="itest-frames-")) / "part2.dcm"
        self.addCleanup(shutil.rmtree, path.parent, True)
        ds.save_as(path, write_like_original=True)
        self.assertEqual(self.stow(path.read_bytes()).status, 200)
        got = self.c.get(self.frame_url(path), {**self.auth, "Accept": self.NATIVE})
        self.assertEqual(got.status, 406, f"{got.status} {got.body[:200]!r}")
        self.assertIn("decoder", got.json()["error"])
        stored = self.c.get(self.frame_url(path), {**self.auth, "Accept": self.AS_STORED})
        self.assertEqual(stored.status, 200)

    def test_jpeg2000_frames_and_instances_are_decoded_to_native(self):
        # OpenJPEG decodes JPEG 2000 (Debian's DCMTK cannot): 1024 x 256 x 16 bits.
        path = harness.PYDICOM_TEST_FILES / "JPEG2000.dcm"
        self.assertEqual(self.stow(path.read_bytes()).status, 200)
        got = self.c.get(self.frame_url(path), {**self.auth, "Accept": self.NATIVE})
        self.assertEqual(got.status, 200, f"{got.status} {got.body[:200]!r}")
        parts = split_multipart(got.body, got.header("content-type"))
        self.assertEqual(len(parts[0][1]), 1024 * 256 * 2)
        instance = self.frame_url(path).rsplit("/frames/", 1)[0]
        whole = self.c.get(instance, {**self.auth, "Accept": 'multipart/related; type="application/dicom"'})
        self.assertEqual(whole.status, 200, f"{whole.status} {whole.body[:200]!r}")
        part = split_multipart(whole.body, whole.header("content-type"))[0]
        self.assertIn(b"1.2.840.10008.1.2.1\0", part[1][:400])  # meta header: Explicit VR Little Endian


if __name__ == "__main__":
    unittest.main()
