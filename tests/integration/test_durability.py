"""Crash durability: kill -9 during a storescu run of about 1,000 small instances.

Every instance storescu saw acknowledged with Success must survive the crash
intact and be retrievable after a restart; recovery must leave no orphan: no
file under var/store/tmp, and every blob under var/store referenced by the
index (whose schema is inspected at run time through sqlite_master).
"""
import re
import shutil
import subprocess
import threading
import time
import unittest
from pathlib import Path

import harness
from harness import Tresor, run

KILL_AFTER_ACKS = 300      # kill the server once this many instances were acknowledged ...
KILL_AFTER_SECONDS = 60    # ... or after this long, whichever comes first


def dataset_equal(a: Path, b: Path) -> bool:
    import pydicom
    da, db = pydicom.dcmread(a), pydicom.dcmread(b)
    return da == db  # compares the data sets only (file meta excluded)


class DurabilityTest(unittest.TestCase):
    def setUp(self):
        harness.require_binary()
        self.t = Tresor(name="durability")
        self.addCleanup(self.t.close)
        self.t.init()
        self.cert = self.t.peer_add("MODALITY", "echo,store,find,get")
        self.data = self.t.root / "data"
        r = run([harness.SYSTEM_PYTHON, harness.shared_dir() / "tools" / "gen-dataset", "--patients", "34",
                 "--studies-per-patient", "1", "--series-per-study", "1", "--instances-per-series", "30",
                 "--out", self.data, "--seed", "41", "--quiet"], timeout=300)
        self.assertEqual(r.rc, 0, str(r))

    def test_acknowledged_instances_survive_kill_9_and_no_orphans_remain(self):
        t = self.t
        t.start()
        files = sorted(self.data.rglob("*.dcm"))
        self.assertEqual(len(files), 1020)
        client = t.client("MODALITY", self.cert)
        cmd = ["storescu", "-v", "-nh", *client._common(), *client._tls_args(), "+sd", "+r", "+sp", "*.dcm",
               "127.0.0.1", str(t.tls_port), str(self.data)]
        proc = harness._register(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                  stderr=subprocess.STDOUT, text=True, errors="replace",
                                                  start_new_session=True))
        self.addCleanup(harness.stop_process, proc)
        lines: list[str] = []
        acks = [0]

        def reader():
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if "Received Store Response (Success)" in line:
                    acks[0] += 1

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        deadline = time.monotonic() + KILL_AFTER_SECONDS
        while acks[0] < KILL_AFTER_ACKS and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        self.assertIsNone(proc.poll(), "storescu finished before the crash:\n" + "\n".join(lines[-30:]))
        self.assertGreater(acks[0], 0, "nothing was acknowledged before the crash:\n" + "\n".join(lines[-30:]))
        t.kill9()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            harness.stop_process(proc)
        th.join(timeout=10)
        if proc.stdout:
            proc.stdout.close()

        acked = self.acknowledged(lines)
        print(f"\nkilled the server after {acks[0]} acknowledged C-STOREs of {len(files)}")
        self.assertEqual(len(acked), acks[0], "could not map every acknowledgement to its file")

        # Restart: crash recovery runs before listening.
        t.start(timeout=60)
        self.assertEqual(self.tmp_files(), [], "files left under var/store/tmp after recovery")

        # Every acknowledged instance is retrievable and intact.
        by_study: dict[str, list[Path]] = {}
        import pydicom
        for f in acked:
            by_study.setdefault(str(pydicom.dcmread(f, stop_before_pixels=True).StudyInstanceUID), []).append(f)
        proxy = client.proxy()
        self.addCleanup(proxy.close)
        missing, damaged = [], []
        for n, (study, originals) in enumerate(sorted(by_study.items())):
            out = t.root / f"get-{n:03d}"
            get = client.get([f"StudyInstanceUID={study}"], out, proxy=proxy)
            self.assertEqual(get.final, 0, f"{get}\nproxy errors: {proxy.errors}")
            retrieved = {}
            for p in out.iterdir():
                retrieved[str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)] = p
            for o in originals:
                sop = str(pydicom.dcmread(o, stop_before_pixels=True).SOPInstanceUID)
                if sop not in retrieved:
                    missing.append(o.name)
                elif not dataset_equal(o, retrieved[sop]):
                    damaged.append(o.name)
            shutil.rmtree(out, ignore_errors=True)
        self.assertEqual(missing, [], f"{len(missing)} acknowledged instances lost in the crash")
        self.assertEqual(damaged, [], f"{len(damaged)} acknowledged instances damaged by the crash")

        # No orphans: every blob is referenced by the index, every reference has its blob.
        t.stop()
        self.assertEqual(self.tmp_files(), [], "files under var/store/tmp after a clean stop")
        referenced = self.referenced_blob_keys()
        on_disk = {p.name: p for p in self.blob_files()}
        orphans = sorted(set(on_disk) - referenced)
        dangling = sorted(referenced - set(on_disk))
        self.assertEqual(orphans, [], f"{len(orphans)} blobs not referenced by the index")
        self.assertEqual(dangling, [], f"{len(dangling)} index rows without their blob")
        self.assertGreaterEqual(len(on_disk), len(acked))

    @staticmethod
    def acknowledged(lines: list[str]) -> list[Path]:
        """Files whose C-STORE got Success, from storescu -v ("Sending file: X" ... "Received Store Response (Success)")."""
        acked, current = [], None
        for line in lines:
            m = re.match(r"^I: Sending file: (.+)$", line)
            if m:
                current = Path(m.group(1).strip())
            elif "Received Store Response (Success)" in line and current is not None:
                acked.append(current)
                current = None
        return acked

    def tmp_files(self) -> list[str]:
        tmp = self.t.store_dir / "tmp"
        return sorted(str(p) for p in tmp.rglob("*") if p.is_file()) if tmp.exists() else []

    def blob_files(self) -> list[Path]:
        store = self.t.store_dir
        return [p for p in store.rglob("*") if p.is_file() and "tmp" not in p.relative_to(store).parts]

    def referenced_blob_keys(self) -> set[str]:
        """Every value of every blob-key column in the index, found through sqlite_master."""
        # Through `tresor index sql`: the index is encrypted at rest.
        query = self.t.index_query
        keys: set[str] = set()
        tables = [r[0] for r in query("SELECT name FROM sqlite_master WHERE type='table'")]
        columns_seen = []
        for table in tables:
            cols = [r[1] for r in query(f'PRAGMA table_info("{table}")')]
            for col in cols:
                if col == "blob_key" or col.endswith("_blob_key") or col == "blob":
                    columns_seen.append(f"{table}.{col}")
                    keys |= {r[0] for r in query(f'SELECT "{col}" FROM "{table}"') if r[0]}
        self.assertTrue(columns_seen, f"no blob key column found in tables {tables}")
        return keys


if __name__ == "__main__":
    unittest.main()
