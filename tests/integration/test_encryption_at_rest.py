"""Encryption at rest: the key-encryption key (KEK), corrupted ciphertext, key rotation under load.

Scenarios (issue 12, section 2):
- `tresor serve` refuses to start, in one plain line naming the key file,
  when the KEK is missing, is another key, or is readable by others;
- a corrupted ciphertext chunk of one stored object is detected: WADO-RS and
  C-GET of that object fail, the log names the object, the other objects are
  still served and the server keeps running;
- `tresor key rotate` while storescu (+tls) stores a few hundred instances
  loses nothing: after a restart under the new key every acknowledged
  instance is retrievable, every object carries exactly one wrapped key, under
  the new KEK; a second rotation works; the old key opens nothing.
"""
import http.client
import re
import shutil
import subprocess
import threading
import time
import unittest
from pathlib import Path

import harness
from harness import Tresor, run
from https import Client, basic

FILES = harness.PYDICOM_TEST_FILES
HEADER = 256          # crypto/sealed.h: header bytes before the first chunk
SLOT0, SLOT_BYTES = 32, 112


def blob_files(t: Tresor) -> dict[str, Path]:
    return {p.name: p for p in t.store_dir.glob("[0-9a-f][0-9a-f]/*") if p.is_file()}


def slot_kek_ids(blob: Path) -> list[str]:
    """The KEK ids (hex) of the object's non-empty key slots."""
    head = blob.read_bytes()[:HEADER]
    ids = []
    for i in range(2):
        s = head[SLOT0 + i * SLOT_BYTES: SLOT0 + (i + 1) * SLOT_BYTES]
        if s[0]:
            ids.append(s[1 + 1: 1 + 1 + 8].hex())  # length byte, then version byte, then the 8-byte KEK id
    return ids


class KeyRequired(unittest.TestCase):
    def setUp(self):
        harness.require_binary()
        self.t = Tresor(name="kek")
        self.addCleanup(self.t.close)
        self.t.init()
        self.key = self.t.root / "tresor-kek.key"

    def serve_refuses(self) -> str:
        r = self.t.cli("serve", timeout=60)
        self.assertNotEqual(r.rc, 0, str(r))
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, f"expected one plain line:\n{r}")
        self.assertIn(str(self.key), lines[0])
        return lines[0]

    def test_init_puts_the_key_outside_var_and_says_where(self):
        self.assertTrue(self.key.is_file())
        self.assertEqual(self.key.stat().st_mode & 0o777, 0o600)
        self.assertIn(str(self.key), self.t.init_run.stderr)
        self.assertIn("Back it up", self.t.init_run.stderr)
        self.assertFalse(any(p.name.endswith(".key") and "kek" in p.name for p in self.t.var.rglob("*")))

    def test_serve_refuses_without_the_key_naming_the_key_file(self):
        moved = self.t.root / "elsewhere.key"
        self.key.rename(moved)
        self.assertIn("missing", self.serve_refuses())
        # Every verb refuses the same way.
        r = self.t.cli("user", "list")
        self.assertNotEqual(r.rc, 0)
        self.assertIn(str(self.key), r.stderr)
        moved.rename(self.key)
        self.t.cli_ok("user", "list")

    def test_serve_refuses_another_key_and_a_key_readable_by_others(self):
        original = self.key.read_bytes()
        self.key.write_text("ab" * 32 + "\n")
        self.assertIn("not hold this instance's key", self.serve_refuses())
        self.key.write_bytes(original)
        self.key.chmod(0o644)
        self.assertIn("chmod 600", self.serve_refuses())
        self.key.chmod(0o600)
        self.t.start()
        self.assertTrue(self.t.running())


class CorruptedChunk(unittest.TestCase):
    def setUp(self):
        harness.require_binary()
        try:
            import pydicom  # noqa: F401
        except ImportError:
            self.skipTest("pydicom missing")
        t = self.t = Tresor(name="corrupt")
        self.addCleanup(t.close)
        t.init()
        t.user_add("clin", "clinician", "clin-Very-Long-Passphrase-1")
        self.cert = t.peer_add("SCU", "echo,store,find,get")
        t.start()

    def test_a_corrupted_chunk_is_reported_never_served_and_other_objects_still_are(self):
        import pydicom
        t = self.t
        client = t.client("SCU", self.cert)
        victim = FILES / "MR_small.dcm"
        res = client.store([victim])
        self.assertEqual(res.final, 0, str(res))
        (victim_key,) = blob_files(t).keys()
        others = [FILES / "CT_small.dcm"]
        res = client.store(others)
        self.assertEqual(res.final, 0, str(res))
        # Flip one byte inside the last chunk of the victim's ciphertext.
        blob = blob_files(t)[victim_key]
        data = bytearray(blob.read_bytes())
        data[len(data) - 100] ^= 0x01
        blob.write_bytes(bytes(data))

        v = pydicom.dcmread(victim, stop_before_pixels=True)
        https = Client(t.https_port, t.ca)
        h = basic("clin", "clin-Very-Long-Passphrase-1")
        path = f"/dicom-web/studies/{v.StudyInstanceUID}/series/{v.SeriesInstanceUID}/instances/{v.SOPInstanceUID}"
        try:
            r = https.get(path, h)
            # An error status, or a response cut short once streaming had begun: never the whole object.
            self.assertFalse(r.status == 200 and len(r.body) >= victim.stat().st_size - 256,
                             f"the corrupted object was served: {r.status}, {len(r.body)} bytes")
        except (ConnectionError, OSError, http.client.HTTPException):
            pass  # cut short once streaming had begun: not served either
        proxy = client.proxy()  # getscu speaks no TLS: through the harness's TLS proxy
        self.addCleanup(proxy.close)
        get = client.get([f"SOPInstanceUID={v.SOPInstanceUID}", f"StudyInstanceUID={v.StudyInstanceUID}",
                          f"SeriesInstanceUID={v.SeriesInstanceUID}"], t.root / "get-bad", level="IMAGE", proxy=proxy)
        self.assertFalse(any((t.root / "get-bad").glob("*")) and get.final == 0,
                         f"C-GET delivered the corrupted object:\n{get}")
        self.assertTrue(harness.wait_until(lambda: victim_key in t.log(), 10),
                        "the log does not name the corrupted object:\n" + t.log()[-3000:])
        self.assertIn("authentication", t.log())
        # The others are still served, over both protocols, and the server runs.
        for f in others:
            o = pydicom.dcmread(f, stop_before_pixels=True)
            r = https.get(f"/dicom-web/studies/{o.StudyInstanceUID}/series/{o.SeriesInstanceUID}"
                          f"/instances/{o.SOPInstanceUID}", h)
            self.assertEqual(r.status, 200, f.name)
            out = t.root / f"get-{f.stem}"
            get = client.get([f"StudyInstanceUID={o.StudyInstanceUID}"], out, proxy=proxy)
            self.assertEqual(get.final, 0, str(get))
            got = list(out.glob("*"))
            self.assertEqual(len(got), 1)
            self.assertEqual(pydicom.dcmread(got[0]).PixelData, pydicom.dcmread(f).PixelData)
        self.assertTrue(t.running())


class RotationUnderLoad(unittest.TestCase):
    def setUp(self):
        harness.require_binary()
        try:
            import pydicom  # noqa: F401
        except ImportError:
            self.skipTest("pydicom missing")
        t = self.t = Tresor(name="rotate")
        self.addCleanup(t.close)
        t.init()
        self.key = t.root / "tresor-kek.key"
        self.cert = t.peer_add("MODALITY", "echo,store,find,get")
        self.data = t.root / "data"
        r = run([harness.SYSTEM_PYTHON, harness.shared_dir() / "tools" / "gen-dataset", "--patients", "6",
                 "--studies-per-patient", "1", "--series-per-study", "1", "--instances-per-series", "50",
                 "--out", self.data, "--seed", "12", "--quiet"], timeout=300)
        self.assertEqual(r.rc, 0, str(r))

    def rotate(self) -> str:
        r = self.t.cli("key", "rotate", timeout=300)
        self.assertEqual(r.rc, 0, str(r))
        m = re.search(r"^Key rotated: ([0-9a-f]{16})$", r.stdout, re.M)
        self.assertTrue(m, str(r))
        return m.group(1)

    def test_rotation_while_storing_loses_nothing_and_the_old_key_opens_nothing(self):
        import pydicom
        t = self.t
        t.start()
        old_key = self.key.read_bytes()
        files = sorted(self.data.rglob("*.dcm"))
        client = t.client("MODALITY", self.cert)
        cmd = ["storescu", "-v", "-nh", *client._common(), *client._tls_args(), "+sd", "+r", "+sp", "*.dcm",
               "127.0.0.1", str(t.tls_port), str(self.data)]
        proc = harness._register(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                  stderr=subprocess.STDOUT, text=True, errors="replace",
                                                  start_new_session=True))
        self.addCleanup(harness.stop_process, proc)
        acks = [0]
        lines: list[str] = []

        def reader():
            for line in proc.stdout:
                lines.append(line)
                if "Received Store Response (Success)" in line:
                    acks[0] += 1

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        self.assertTrue(harness.wait_until(lambda: acks[0] >= 30 or proc.poll() is not None, 120))
        new_id = self.rotate()    # while storescu runs
        during = acks[0]
        proc.wait(timeout=300)
        th.join(timeout=10)
        self.assertEqual(proc.returncode, 0, "".join(lines[-20:]))
        self.assertEqual(acks[0], len(files))
        print(f"\nrotated after {during} of {len(files)} stores")

        # The old key is kept aside as .old, the configured file holds the new one.
        self.assertEqual((t.root / "tresor-kek.key.old").read_bytes(), old_key)
        self.assertNotEqual(self.key.read_bytes(), old_key)
        # Objects stored before, during and after the rotation: one key slot each, under the new KEK.
        t.stop()
        # Objects the server stored after the scan may still hold the old KEK's wrapping only if the
        # rotation missed them: a second pass (idempotent) must find nothing to do for any of them.
        blobs = blob_files(t)
        self.assertGreaterEqual(len(blobs), len(files))
        wrong = {k: slot_kek_ids(p) for k, p in blobs.items() if slot_kek_ids(p) != [new_id]}
        self.assertEqual(wrong, {}, "objects not (only) under the new KEK")

        # Restart under the new key: everything retrievable.
        t.start()
        proxy = client.proxy()  # getscu speaks no TLS: through the harness's TLS proxy
        self.addCleanup(proxy.close)
        studies = {}
        for f in files:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            studies.setdefault(str(ds.StudyInstanceUID), set()).add(str(ds.SOPInstanceUID))
        for n, (study, sops) in enumerate(sorted(studies.items())):
            out = t.root / f"get-{n}"
            get = client.get([f"StudyInstanceUID={study}"], out, proxy=proxy)
            self.assertEqual(get.final, 0, str(get))
            got = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in out.iterdir()}
            self.assertEqual(got, sops, f"study {study}: lost instances")
            shutil.rmtree(out)

        # A second rotation works (the server is running again), and is audited.
        second = self.rotate()
        self.assertNotEqual(second, new_id)
        t.stop()
        self.assertTrue(all(slot_kek_ids(p) == [second] for p in blob_files(t).values()))
        events = [e for e in t.audit_events() if "key rotate" in str(e)]
        self.assertGreaterEqual(len(events), 2, events)

        # The first key opens nothing any more: configured as the key file, every verb refuses.
        self.key.rename(t.root / "current.key")
        (t.root / "tresor-kek.key").write_bytes(old_key)
        self.key.chmod(0o600)
        r = t.cli("serve", timeout=60)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("not hold this instance's key", r.stderr)


if __name__ == "__main__":
    unittest.main()
