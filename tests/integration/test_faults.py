"""Faults (issue 5, item 4) against a real `tresor`: a real full disk, an
interrupted `tresor import`, and repeated power cuts (kill -9) during ingest.

The checks of test_durability are reused: every acknowledged instance is
present and intact, no file under var/store/tmp, every blob referenced by the
index and every index reference backed by its blob.

The full disk is real: var/ lives on a small tmpfs mounted in a private mount
namespace (`unshare --mount` as root, a user namespace otherwise), held by a
sleeping process; the server and the CLI enter it with nsenter, and the test
reads the files through /proc/<holder>/root. Nothing is mounted where the
rest of the machine can see it.
"""
from __future__ import annotations

import math
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import threading
import time
import unittest
from pathlib import Path
from unittest import mock

import harness
import test_durability
from harness import Tresor, run



def gen_dataset(out: Path, patients: int, instances: int, seed: int) -> list[Path]:
    r = run([harness.SYSTEM_PYTHON, harness.shared_dir() / "tools" / "gen-dataset", "--patients", str(patients),
             "--studies-per-patient", "1", "--series-per-study", "1", "--instances-per-series", str(instances),
             "--out", out, "--seed", str(seed), "--quiet"], timeout=300)
    assert r.rc == 0, str(r)
    (out / "studies.csv").unlink(missing_ok=True)
    return sorted(out.rglob("*.dcm"))


def sop_uid(path: Path) -> str:
    import pydicom
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


class StoreChecks:
    """test_durability's store checks plus the index views these tests need; needs self.t."""
    t: Tresor
    # (test_durability's class is not bound at module level: unittest would run its test here too)
    tmp_files = test_durability.DurabilityTest.tmp_files
    blob_files = test_durability.DurabilityTest.blob_files
    referenced_blob_keys = test_durability.DurabilityTest.referenced_blob_keys
    acknowledged = staticmethod(test_durability.DurabilityTest.acknowledged)

    def index_query(self, sql: str) -> list[tuple]:
        return self.t.index_query(sql)  # `tresor index sql`: the index is encrypted at rest

    def indexed_blobs(self) -> dict[str, str]:
        """SOP Instance UID -> blob key of every (visible) instance."""
        return dict(self.index_query("SELECT sop_uid, blob_key FROM instance"))

    def assert_no_orphans(self, what: str) -> None:
        self.assertEqual(self.tmp_files(), [], f"files left under var/store/tmp ({what})")
        referenced = self.referenced_blob_keys()
        on_disk = {p.name for p in self.blob_files()}
        self.assertEqual(sorted(on_disk - referenced), [], f"blobs not referenced by the index ({what})")
        self.assertEqual(sorted(referenced - on_disk), [], f"index rows without their blob ({what})")

    def assert_intact(self, originals: list[Path], what: str) -> None:
        """Each original is indexed and its stored blob holds the same data set."""
        blobs = self.indexed_blobs()
        missing, damaged = [], []
        plain_dir = self.t.root / "plain"  # objects are encrypted at rest: their plaintext, by key
        shutil.rmtree(plain_dir, ignore_errors=True)
        written = self.t.stored_objects([blobs[sop_uid(o)] for o in originals if sop_uid(o) in blobs], plain_dir)
        for o in originals:
            key = blobs.get(sop_uid(o))
            if key is None:
                missing.append(o.name)
                continue
            blob = self.t.store_dir / key[:2] / key
            if not blob.is_file() or key not in written or not test_durability.dataset_equal(o, plain_dir / key):
                damaged.append(o.name)
        shutil.rmtree(plain_dir, ignore_errors=True)
        self.assertEqual(missing, [], f"{len(missing)} acknowledged instances missing ({what})")
        self.assertEqual(damaged, [], f"{len(damaged)} acknowledged instances damaged ({what})")


# --------------------------------------------------------------------------
# a private tmpfs

class PrivateTmpfs:
    """A tmpfs of `size_mb` MiB mounted over `path` in a private mount
    namespace, seeded with what `path` held, held by a sleeping process.
    wrap() runs a command inside the namespace, view() is where the test sees
    a path of it, set_free() fills or frees space with a filler file beside
    the store (a tmpfs cannot be resized from a user namespace)."""

    def __init__(self, path: Path, size_mb: int):
        self.path = path
        self.size_mb = size_mb
        self.proc: subprocess.Popen | None = None
        self.rootless = os.geteuid() != 0

    def start(self) -> "PrivateTmpfs":
        seed = self.path.with_name(self.path.name + ".seed")
        self.path.rename(seed)
        self.path.mkdir(mode=0o700)
        script = 'mount -t tmpfs -o size="$1"m,mode=0700 tresor-faults "$2" && cp -a "$3"/. "$2"/ && echo ready && exec sleep 3600'
        ns = ["unshare", "-r", "-m"] if self.rootless else ["unshare", "--mount"]
        self.proc = harness._register(subprocess.Popen(
            [*ns, "--propagation", "private", "sh", "-c", script, "sh", str(self.size_mb), str(self.path), str(seed)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True))
        if self._reply() != "ready":
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.close()
            self.path.rmdir()
            seed.rename(self.path)
            raise unittest.SkipTest("cannot mount a tmpfs in a private mount namespace "
                                    f"({'unshare -rm' if self.rootless else 'unshare --mount'}): {err.strip()}")
        return self

    def _reply(self, timeout: float = 20) -> str:
        line = [""]
        reader = threading.Thread(target=lambda: line.__setitem__(0, self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=timeout)
        return line[0].strip()

    def wrap(self, argv: list) -> list[str]:
        assert self.proc is not None
        user = ["-U", "--preserve-credentials"] if self.rootless else []
        return ["nsenter", "-t", str(self.proc.pid), "-m", *user, "--", *[str(a) for a in argv]]

    def view(self, p: Path) -> Path:
        assert self.proc is not None
        return Path(f"/proc/{self.proc.pid}/root") / Path(p).resolve().relative_to("/")

    def set_free(self, free_bytes: int) -> None:
        """Grows or shrinks the filler file (allocated, not sparse) until about `free_bytes` are free."""
        filler = self.view(self.path / "filler.bin")
        current = filler.stat().st_size if filler.exists() else 0
        target = max(0, current + self.free_bytes() - free_bytes)
        if target <= current:
            os.truncate(filler, target)
        else:
            with open(filler, "ab") as f:
                os.posix_fallocate(f.fileno(), 0, target)

    def _statvfs(self):
        return os.statvfs(self.view(self.path))

    def free_bytes(self) -> int:
        st = self._statvfs()
        return st.f_bavail * st.f_frsize

    def close(self) -> None:
        harness.stop_process(self.proc, term_wait=5)
        if self.proc:
            for f in (self.proc.stdout, self.proc.stderr):
                f.close()


class TresorOnTmpfs(Tresor):
    """A Tresor whose var/ is a PrivateTmpfs: `serve` and the CLI run in its
    namespace; the inspection paths point into it."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.fs: PrivateTmpfs | None = None
        self.wrapper = self.root / "tresor-in-namespace"

    def mount(self, size_mb: int) -> PrivateTmpfs:
        self.fs = PrivateTmpfs(self.var, size_mb).start()
        nsenter = " ".join(f"'{a}'" for a in self.fs.wrap([harness.TRESOR_BIN]))
        self.wrapper.write_text(f'#!/bin/sh\nexec {nsenter} "$@"\n')
        self.wrapper.chmod(stat.S_IRWXU)
        return self.fs

    def _in_namespace(self):
        return mock.patch.object(harness, "TRESOR_BIN", self.wrapper) if self.fs else mock.patch.object(
            harness, "TRESOR_BIN", harness.TRESOR_BIN)

    def start(self, timeout: float = 60.0) -> "Tresor":
        with self._in_namespace():
            return super().start(timeout)

    def cli(self, *args, timeout: float = 60, input: str | None = None):
        with self._in_namespace():
            return super().cli(*args, timeout=timeout, input=input)

    def _view(self, p: Path) -> Path:
        return self.fs.view(p) if self.fs else p

    @property
    def toml(self) -> Path:
        return self._view(self.var / "tresor.toml")

    @property
    def ca(self) -> Path:
        return self._view(self.var / "pki" / "ca.crt")

    @property
    def store_dir(self) -> Path:
        return self._view(self.var / "store")

    # The audit trail is read with audit_events() (`tresor audit show`, run in the namespace by cli()).

    def close(self) -> None:
        self.stop()
        if self.fs:
            self.fs.close()
        super().close()


def var_bytes(var: Path) -> int:
    return sum(p.stat().st_size for p in var.rglob("*") if p.is_file())


# --------------------------------------------------------------------------

class DiskFullTest(StoreChecks, unittest.TestCase):
    """storescu of more than fits on var/'s file system."""

    def setUp(self):
        harness.require_binary()
        self.t = TresorOnTmpfs(name="faults-full")
        self.addCleanup(self.t.close)
        self.t.init()
        self.cert = self.t.peer_add("MODALITY", "echo,store,find,get")
        self.files = gen_dataset(self.t.root / "data", patients=8, instances=25, seed=43)  # 200 x ~39 KB

    def test_a_full_disk_fails_what_does_not_fit_keeps_serving_and_recovers_when_space_is_freed(self):
        t = self.t
        data_mb = sum(f.stat().st_size for f in self.files) / 2**20
        size_mb = math.ceil(var_bytes(t.var) / 2**20 + data_mb) + 12  # everything fits once the filler is gone
        fs = t.mount(size_mb)
        fs.set_free(3 << 20)  # room for about a third of the data set above the store's 1 MiB reserve
        t.start()
        client = t.client("MODALITY", self.cert)
        self.assertEqual(client.echo().final, 0)

        first = client.store(self.files, debug=False, timeout=300)
        answers = self.store_answers(first)
        acked = self.acknowledged(first.run.out.splitlines())
        refused = [a for a in answers if a != "Success"]
        print(f"\n3 MiB free, {data_mb:.1f} MiB of data: {len(acked)} of {len(self.files)} acknowledged, "
              f"then {sorted(set(refused))}; {fs.free_bytes()} bytes left")
        self.assertGreater(len(acked), 0, str(first))
        self.assertLess(len(acked), len(self.files), "everything fitted: the tmpfs is too large\n" + str(first))
        # Every C-STORE was answered (none was cut off by an aborted association) ...
        self.assertEqual(len(answers), len(self.files), str(first))
        # ... and what did not fit got "out of resources" (0xA7xx).
        self.assertTrue(all("OutOfResources" in a for a in refused), str(first))
        self.assertTrue(t.running(), "the server died on a full disk:\n" + t.log())

        # Still serving, with the disk full.
        self.assertEqual(client.echo().final, 0, "C-ECHO failed with the disk full")
        found = client.find([f"PatientID={self.patient_id(acked[0])}", "StudyInstanceUID"])
        self.assertEqual(found.final, 0, str(found))
        self.assertGreaterEqual(harness.find_matches(found), 1)

        # What was acknowledged is intact, nothing half-stored remains.
        self.assert_intact(acked, "disk full")
        self.assert_no_orphans("disk full")
        self.assertEqual(len(self.indexed_blobs()), len(acked))
        self.retrieve_and_compare(client, acked)

        # An object larger than what is left above the reserve passes the
        # up-front check and meets ENOSPC while it is streamed to disk: the
        # rest of the data set is read and discarded, the answer is 0xA700.
        big = self.big_object(t.root / "big.dcm")
        fs.set_free((1 << 20) + (512 << 10))  # 1.5 MiB free: above the 1 MiB reserve
        res = client.store([big], debug=False, timeout=120)
        print(f"object of {big.stat().st_size} bytes, {fs.free_bytes()} bytes free: "
              f"{self.store_answers(res) or 'no answer (association aborted)'}")
        # The data set is still read to its end: a failure status, not an abort.
        self.assertEqual(self.store_answers(res), ["Refused: OutOfResources"], str(res))
        self.assertTrue(t.running(), "the server died on ENOSPC in the middle of an object:\n" + t.log())
        self.assertEqual(client.echo().final, 0, "C-ECHO failed after ENOSPC in the middle of an object")
        self.assert_no_orphans("ENOSPC in the middle of an object")
        self.assertEqual(len(self.indexed_blobs()), len(acked))

        # Space freed (the filler goes): the rest is stored, on the same server.
        everything = self.files + [big]
        fs.set_free(size_mb << 20)
        second = client.store(everything, debug=False, timeout=300)
        self.assertEqual(self.store_answers(second), ["Success"] * len(everything), str(second))
        self.assert_intact(everything, "after freeing space")
        self.assertEqual(len(self.indexed_blobs()), len(everything))
        t.stop()
        self.assert_no_orphans("after a clean stop")

    @staticmethod
    def store_answers(res) -> list[str]:
        """storescu -v: the text of every C-STORE response, in order ("Success", "Refused: OutOfResources", ...)."""
        return re.findall(r"Received Store Response \(([^)]*)\)", res.run.out)

    @staticmethod
    def big_object(path: Path) -> Path:
        """A valid 2 MiB CT image (1024 x 1024, 16 bits) of its own study."""
        import pydicom
        ds = pydicom.dcmread(harness.PYDICOM_TEST_FILES / "CT_small.dcm")
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = harness.uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = harness.uid(), harness.uid()
        ds.PatientID = "FAULTS-BIG"
        ds.Rows = ds.Columns = 1024
        ds.PixelData = bytes(1024 * 1024 * 2)
        if 0xFFFCFFFC in ds:
            del ds[0xFFFCFFFC]  # trailing padding: storescu does not send it
        ds.save_as(path, write_like_original=False)
        return path

    @staticmethod
    def patient_id(path: Path) -> str:
        import pydicom
        return str(pydicom.dcmread(path, stop_before_pixels=True).PatientID)

    def retrieve_and_compare(self, client, acked: list[Path]) -> None:
        """C-GET of the first acknowledged instance's study: each acknowledged instance of it comes back intact."""
        import pydicom
        study = str(pydicom.dcmread(acked[0], stop_before_pixels=True).StudyInstanceUID)
        originals = [a for a in acked if str(pydicom.dcmread(a, stop_before_pixels=True).StudyInstanceUID) == study]
        proxy = client.proxy()
        self.addCleanup(proxy.close)
        out = self.t.root / "get"
        got = client.get([f"StudyInstanceUID={study}"], out, proxy=proxy)
        self.assertEqual(got.final, 0, f"{got}\nproxy errors: {proxy.errors}")
        retrieved = {sop_uid(p): p for p in out.iterdir()}
        for o in originals:
            self.assertIn(sop_uid(o), retrieved, o.name)
            self.assertTrue(test_durability.dataset_equal(o, retrieved[sop_uid(o)]), o.name)


class InterruptedImportTest(StoreChecks, unittest.TestCase):
    """`tresor import DIR` stopped midway (SIGINT, then SIGKILL) and run again."""

    SUMMARY_RE = re.compile(r"imported (\d+), duplicates (\d+), quarantined (\d+), failed (\d+)"
                            r"(?:, skipped (\d+) \(already imported\))?")

    def setUp(self):
        harness.require_binary()
        self.t = Tresor(name="faults-import")
        self.addCleanup(self.t.close)
        self.t.init()
        self.data = self.t.root / "data"
        self.files = gen_dataset(self.data, patients=10, instances=40, seed=44)  # 400 files

    def instances(self) -> int:
        try:
            return self.index_query("SELECT count(*) FROM instance")[0][0]
        except RuntimeError:  # the index is not there yet
            return 0

    def interrupted_import(self, sig: int, after: int) -> int:
        """Starts `tresor import`, sends `sig` once `after` more instances are indexed; returns its exit status."""
        before = self.instances()
        p = harness._register(subprocess.Popen(
            [str(harness.TRESOR_BIN), "--var", str(self.t.var), "import", str(self.data)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True))
        self.addCleanup(harness.stop_process, p)
        deadline = time.monotonic() + 120
        while self.instances() < before + after and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if p.poll() is not None:
            self.fail("the import finished before it could be interrupted:\n" + p.stdout.read())
        p.send_signal(sig)
        out, _ = p.communicate(timeout=60)
        self.last_output = out
        return p.returncode

    def summary(self, out: str) -> tuple[int, ...]:
        m = self.SUMMARY_RE.search(out)
        self.assertIsNotNone(m, f"no summary line:\n{out}")
        return tuple(int(g or 0) for g in m.groups())

    def test_an_interrupted_import_resumes_where_it_stopped_and_stores_each_file_once(self):
        t, n = self.t, len(self.files)
        # SIGINT: the import finishes the file in hand, prints its summary and says how to resume.
        rc = self.interrupted_import(signal.SIGINT, after=60)
        self.assertEqual(rc, 1, self.last_output)
        self.assertIn("interrupted", self.last_output)
        imported, dup, held, failed, skipped = self.summary(self.last_output)
        self.assertEqual((dup, held, failed, skipped), (0, 0, 0, 0), self.last_output)
        self.assertEqual(imported, self.instances(), "the summary disagrees with the index")
        after_sigint = self.instances()
        self.assertLess(after_sigint, n)

        # SIGKILL: nothing to say, the journal and the index carry what was done.
        rc = self.interrupted_import(signal.SIGKILL, after=60)
        self.assertEqual(rc, -signal.SIGKILL)
        after_kill = self.instances()
        self.assertGreater(after_kill, after_sigint)
        self.assertLess(after_kill, n)

        # Run again: what is already stored is skipped without being ingested again.
        start = time.monotonic()
        r = t.cli("import", self.data, timeout=300)
        elapsed = time.monotonic() - start
        self.assertEqual(r.rc, 0, str(r))
        imported, dup, held, failed, skipped = self.summary(r.stdout)
        print(f"\nresumed after SIGINT at {after_sigint} and SIGKILL at {after_kill} of {n}: imported {imported}, "
              f"duplicates {dup}, skipped {skipped} in {elapsed:.1f}s")
        self.assertEqual((held, failed), (0, 0), str(r))
        self.assertEqual(imported + dup + skipped, n, str(r))
        self.assertEqual(imported, n - after_kill, str(r))
        # At most the file in hand at the SIGKILL is ingested again (as a duplicate).
        self.assertLessEqual(dup, 1, str(r))
        self.assertGreaterEqual(skipped, after_kill - 1, str(r))

        # Exact: each file once, no duplicate row, every one intact.
        self.assertEqual(self.instances(), n)
        self.assertEqual(self.index_query("SELECT count(DISTINCT sop_uid) FROM instance")[0][0], n)
        self.assert_intact(self.files, "after the resumed import")
        # A SIGKILLed import may leave a temp file; recovery at the next start removes it.
        t.start()
        t.stop()
        self.assert_no_orphans("after the resumed import and a restart")

        # Completed: the journal is gone, a new run ingests again (all duplicates).
        self.assertEqual(list((t.var / "import").glob("*.journal")), [])
        again = t.cli("import", self.data, timeout=300)
        self.assertEqual(self.summary(again.stdout)[:4], (0, n, 0, 0), str(again))


class PowerCutTest(StoreChecks, unittest.TestCase):
    """kill -9 of the server at random points of a long C-STORE run, several times."""

    ROUNDS = 5

    def setUp(self):
        harness.require_binary()
        self.t = Tresor(name="faults-powercut")
        self.addCleanup(self.t.close)
        self.t.init()
        self.cert = self.t.peer_add("MODALITY", "echo,store,find,get")
        self.files = gen_dataset(self.t.root / "data", patients=30, instances=50, seed=45)  # 1,500 files

    def storescu(self, files: list[Path]) -> subprocess.Popen:
        client = self.t.client("MODALITY", self.cert)
        cmd = ["storescu", "-v", "-nh", *client._common(), *client._tls_args(), "127.0.0.1", str(self.t.tls_port),
               *[str(f) for f in files]]
        p = harness._register(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                               stderr=subprocess.STDOUT, text=True, errors="replace",
                                               start_new_session=True))
        self.addCleanup(harness.stop_process, p)
        return p

    def test_repeated_kill_9_never_loses_an_acknowledged_instance_nor_leaves_an_orphan(self):
        t = self.t
        rng = random.Random(int(os.environ.get("TRESOR_FAULT_SEED", time.time())))
        acked_total: set[Path] = set()
        started = time.monotonic()
        for rnd in range(self.ROUNDS):
            t.start(timeout=60)  # crash recovery runs before listening
            self.assertEqual(self.tmp_files(), [], f"temp files left after recovery (round {rnd})")
            # Each round starts at a random place of the data set, so that new and already stored files mix.
            offset = rng.randrange(len(self.files))
            order = self.files[offset:] + self.files[:offset]
            proc = self.storescu(order)
            lines: list[str] = []
            reader = threading.Thread(target=lambda: lines.extend(l.rstrip("\n") for l in proc.stdout), daemon=True)
            reader.start()
            delay = rng.uniform(0.2, 1.5)  # storescu sends a few hundred a second here
            time.sleep(delay)
            self.assertIsNone(proc.poll(), "storescu finished before the cut:\n" + "\n".join(lines[-20:]))
            t.kill9()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                harness.stop_process(proc)
            reader.join(timeout=10)
            proc.stdout.close()
            acked = self.acknowledged(lines)
            new = set(acked) - acked_total
            acked_total |= new
            print(f"\nround {rnd}: kill -9 after {delay:.1f}s, {len(acked)} acknowledged "
                  f"({len(acked_total)} distinct so far)")

            # Restart and check what was acknowledged so far.
            t.start(timeout=60)
            self.assertEqual(self.tmp_files(), [], f"temp files left after recovery (round {rnd})")
            self.assert_intact(sorted(new), f"round {rnd}")  # all of them once more at the end
            t.stop()
            self.assert_no_orphans(f"round {rnd}")
        self.assertGreater(len(acked_total), 0)
        # Later cuts lost nothing acknowledged before them either.
        self.assert_intact(sorted(acked_total), "after the last round")
        self.assertLess(time.monotonic() - started, 240)


if __name__ == "__main__":
    unittest.main()
