"""The tamper-evident audit trail (issue 12, section 1), end to end.

One instance imports a 40-instance study and more, is queried over DIMSE,
read over WADO-RS by a viewer, and stopped (a clean stop signs the tail). The
trail is rotated every 4 KiB and checkpointed every 5 records, so it spans
several files. Then:
- `tresor audit verify` passes across the files and `tresor audit show` lists
  the records (application start/stop, imports, queries, logins, ...);
- the viewer's 40 WADO-RS requests for one study are ONE access event with
  instances=40;
- each tampering makes `verify` exit 1 naming the file and the record: an
  edited record, a deleted middle record, two swapped records, the tail cut
  after a checkpoint, a rotated file removed. Each case works on the trail as
  the run left it (restored after each case).
"""
from __future__ import annotations

import json
import re
import shutil
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import SharedTresorCase, Tresor, run  # noqa: E402
from https import Client, basic  # noqa: E402

VIEWER_PASSWORD = "viewer-Passw0rd-long-enough"


def study_uid_of(path: Path) -> str:
    import pydicom
    return str(pydicom.dcmread(str(path), stop_before_pixels=True).StudyInstanceUID)


def uids_of(path: Path) -> tuple[str, str, str]:
    import pydicom
    ds = pydicom.dcmread(str(path), stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


class AuditTrail(SharedTresorCase):
    instance_name = "audittrail"

    @classmethod
    def prepare(cls, t: Tresor) -> None:
        t.init()
        t.configure("audit", "rotate_bytes", 4096)
        t.configure("audit", "checkpoint_records", 5)
        t.configure("audit", "access_window_s", 1)
        t.configure("login", "source_max_failures", 1000000)
        t.user_add("viewer", "clinician", VIEWER_PASSWORD)
        data = t.root / "data"
        r = run([harness.SYSTEM_PYTHON, harness.shared_dir() / "tools" / "gen-dataset", "--patients", "1",
                 "--instances-per-series", "40", "--out", data, "--seed", "12", "--quiet"], timeout=120)
        assert r.rc == 0, str(r)
        cls.files = sorted(data.rglob("*.dcm"))
        assert len(cls.files) == 40, cls.files
        t.cli_ok("import", data)
        cls.mod = t.peer_add("MODALITY", "echo,store,find")
        t.start()
        cls.study = study_uid_of(cls.files[0])
        find = t.client("MODALITY", cls.mod).find([f"StudyInstanceUID={cls.study}"])
        assert find.final == 0, str(find)
        # A viewer opens the study: one request per instance (as OHIF does, plus metadata).
        c = Client(t.https_port, t.ca)
        auth = basic("viewer", VIEWER_PASSWORD)
        c.login("viewer", VIEWER_PASSWORD)  # a User Authentication record
        for f in cls.files:
            study, series, sop = uids_of(f)
            reply = c.get(f"/dicom-web/studies/{study}/series/{series}/instances/{sop}/metadata", auth)
            assert reply.status == 200, reply
        # The access window (1 s) closes, its event is written; then a clean stop.
        assert harness.wait_until(lambda: any(e.get("type") == "access" for e in t.audit_events()), 10)
        t.stop()
        cls.audit_dir = t.var / "audit"
        cls.pristine = t.root / "audit-pristine"
        shutil.copytree(cls.audit_dir, cls.pristine)

    def tearDown(self):
        shutil.rmtree(self.audit_dir)
        shutil.copytree(self.pristine, self.audit_dir)

    # --- helpers
    def verify(self) -> harness.Run:
        return self.t.cli("audit", "verify")

    def assert_fails_naming(self, *words: str) -> str:
        r = self.verify()
        self.assertEqual(r.rc, 1, str(r))
        for w in words:
            self.assertIn(w, r.stderr, str(r))
        return r.stderr

    def trail_files(self) -> list[Path]:
        rotated = sorted(p for p in self.audit_dir.glob("audit.*.jsonl") if p.name != "audit.jsonl")
        return rotated + [self.audit_dir / "audit.jsonl"]

    @staticmethod
    def record_lines(path: Path) -> list[tuple[int, int]]:
        """(line index, seq) of each record line."""
        out = []
        for i, line in enumerate(path.read_text().splitlines()):
            obj = json.loads(line)
            if "seq" in obj:
                out.append((i, obj["seq"]))
        return out

    def file_with_records(self, n: int) -> Path:
        for p in self.trail_files():
            if len(self.record_lines(p)) >= n:
                return p
        self.fail(f"no trail file with {n} records")

    # --- the trail as written
    def test_verify_passes_across_rotated_files_and_show_lists_the_run(self):
        self.assertGreaterEqual(len(self.trail_files()), 3, "the trail did not rotate")
        r = self.verify()
        self.assertEqual(r.rc, 0, str(r))
        self.assertIn("audit trail verified", r.stdout)
        events = self.t.audit_events()
        seqs = [e["seq"] for e in events]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
        types = {e["type"] for e in events}
        for expected in ("application_activity", "store", "query", "authentication", "access", "audit_log_used"):
            self.assertIn(expected, types)
        starts = [e for e in events if e["type"] == "application_activity"]
        self.assertEqual([e["reason"] for e in starts], ["Application Start", "Application Stop"])
        # Reading the trail is audited: the show just above is the newest record now.
        self.assertEqual(self.t.audit_events()[-1]["type"], "audit_log_used")
        since = self.t.cli_ok("audit", "show", "--json", "--since", "2999-01-01")
        self.assertEqual(since.stdout.strip(), "")

    def test_forty_viewer_requests_for_one_study_are_one_access_event(self):
        events = self.t.audit_events()
        access = [e for e in events if e["type"] == "access"]
        self.assertEqual(len(access), 1, access)
        a = access[0]
        self.assertEqual(a.get("user") or a.get("actor"), "viewer", a)
        self.assertEqual(a["study_uid"], self.study)
        self.assertEqual(a["details"]["instances"], "40")
        self.assertEqual(a["details"]["requests"], "40")
        self.assertFalse([e for e in events if e["type"] == "retrieve" and e.get("actor") == "viewer"],
                         "per-instance retrieve events besides the aggregate")

    # --- tampering
    def test_an_edited_record_is_named(self):
        path = self.file_with_records(3)
        lines = path.read_text().splitlines()
        i, seq = self.record_lines(path)[1]
        line = lines[i]
        if '"box":"' in line:
            p = line.index('"box":"') + 20
            line = line[:p] + ("B" if line[p] == "A" else "A") + line[p + 1:]
        else:  # written without a key: move the record's time by a millisecond
            line = re.sub(r'("time":"[^"]*?)(\d)(Z")', lambda m: m.group(1) + str((int(m.group(2)) + 1) % 10) + m.group(3),
                          line, count=1)
        lines[i] = line
        path.write_text("\n".join(lines) + "\n")
        self.assert_fails_naming(path.name, f"seq {seq}")

    def test_a_deleted_middle_record_is_named(self):
        path = self.file_with_records(3)
        lines = path.read_text().splitlines()
        i, seq = self.record_lines(path)[1]
        del lines[i]  # whatever follows (a record or a checkpoint) names the gap
        path.write_text("\n".join(lines) + "\n")
        self.assert_fails_naming(path.name, f"seq {seq} missing")

    def test_swapped_records_are_named(self):
        path = self.file_with_records(3)
        lines = path.read_text().splitlines()
        (i, a), (j, b) = self.record_lines(path)[0], self.record_lines(path)[2]
        lines[i], lines[j] = lines[j], lines[i]
        path.write_text("\n".join(lines) + "\n")
        self.assert_fails_naming(path.name, f"seq {b}", f"seq {a} is due", "reordered")

    def test_the_tail_cut_after_a_checkpoint_is_detected(self):
        current = self.audit_dir / "audit.jsonl"
        # Cut the newest file that has a checkpoint before its last line (records after it are lost).
        for path in reversed(self.trail_files()):
            lines = path.read_text().splitlines()
            cps = [i for i, line in enumerate(lines) if line.startswith('{"checkpoint"') and i < len(lines) - 1]
            if cps:
                break
        else:
            self.fail("no checkpoint followed by records")
        path.write_text("\n".join(lines[:cps[-1] + 1]) + "\n")
        for later in self.trail_files()[self.trail_files().index(path) + 1:]:
            if later != current:
                later.unlink()
        if path != current:
            current.unlink()
        self.assert_fails_naming("truncated", "trail.head")

    def test_a_removed_rotated_file_breaks_the_chain_across_files(self):
        files = self.trail_files()
        self.assertGreaterEqual(len(files), 3)
        files[1].unlink()
        self.assert_fails_naming(files[2].name, "continues from seq")


if __name__ == "__main__":
    unittest.main()
