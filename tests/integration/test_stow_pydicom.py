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


if __name__ == "__main__":
    unittest.main()
