"""The `tresor` command line (docs/cli.md), verb by verb, on real instance directories."""
import re
import shutil
import subprocess
import unittest
from pathlib import Path

import harness
from harness import Tresor, run


def gen_dataset(out: Path, patients: int, instances: int, seed: int) -> list[Path]:
    r = run([harness.SYSTEM_PYTHON, harness.shared_dir() / "tools" / "gen-dataset", "--patients", str(patients),
             "--studies-per-patient", "1", "--series-per-study", "1", "--instances-per-series", str(instances),
             "--out", out, "--seed", str(seed), "--quiet"], timeout=120)
    assert r.rc == 0, str(r)
    (out / "studies.csv").unlink()  # gen-dataset's index; only DICOM files are imported here
    return sorted(out.rglob("*.dcm"))


SUMMARY_RE = re.compile(r"imported (\d+), duplicates (\d+), quarantined (\d+), failed (\d+)")


class CliTest(unittest.TestCase):
    def setUp(self):
        harness.require_binary()
        self.t = Tresor(name="cli")
        self.addCleanup(self.t.close)

    # --- init
    def test_init_prints_the_admin_password_once_and_stores_only_a_hash(self):
        r = self.t.cli("init", "--ae-title", "TRESOR_CLI")
        self.assertEqual(r.rc, 0, str(r))
        lines = re.findall(r"^admin password: (\S+)\s*$", r.stdout, re.M)
        self.assertEqual(len(lines), 1, f"expected exactly one 'admin password:' line:\n{r}")
        password = lines[0]
        self.assertGreaterEqual(len(password), 12, "the generated admin password is too short")
        for f in (self.t.var / "tresor.toml", self.t.var / "pki" / "ca.crt", self.t.var / "pki" / "ca.key"):
            self.assertTrue(f.exists(), f"init did not create {f}")
        # The password is never written anywhere under var/ (only its Argon2id hash).
        for f in self.t.var.rglob("*"):
            if f.is_file():
                self.assertNotIn(password.encode(), f.read_bytes(), f"admin password found in clear in {f}")
        # Later verbs do not print it again.
        for verb in (["check"], ["user", "list"], ["peer", "list"]):
            again = self.t.cli(*verb)
            self.assertNotIn(password, again.out, f"`tresor {' '.join(verb)}` printed the admin password")
        # The CA key is private.
        self.assertEqual((self.t.var / "pki" / "ca.key").stat().st_mode & 0o077, 0, "ca.key is group/other readable")
        # So is the device-cookie key (security/device_cookie.h), created at init.
        key = self.t.var / "device_cookie.key"
        self.assertEqual(key.stat().st_mode & 0o777, 0o600, "device_cookie.key is not 0600")
        self.assertEqual(key.stat().st_size, 32)

    def test_init_without_ae_title_generates_and_prints_one(self):
        r = self.t.cli("init")
        self.assertEqual(r.rc, 0, str(r))
        self.assertRegex(r.stdout, r"(?m)^AE title: TRESOR_[0-9A-Fa-f]{4}\s*$")

    def test_init_refuses_to_run_twice(self):
        first = self.t.cli("init", "--ae-title", "TRESOR_CLI")
        self.assertEqual(first.rc, 0, str(first))
        toml_before = (self.t.var / "tresor.toml").read_bytes()
        ca_before = (self.t.var / "pki" / "ca.key").read_bytes()
        second = self.t.cli("init", "--ae-title", "TRESOR_CLI")
        self.assertEqual(second.rc, 1, f"second init must fail with exit 1:\n{second}")
        self.assertNotIn("admin password:", second.stdout)
        self.assertTrue(second.stderr.strip(), "the refusal must explain itself on stderr")
        self.assertEqual((self.t.var / "tresor.toml").read_bytes(), toml_before, "second init modified tresor.toml")
        self.assertEqual((self.t.var / "pki" / "ca.key").read_bytes(), ca_before, "second init replaced the CA key")

    # --- check / serve exposure check
    def test_check_exits_0_on_a_fresh_init(self):
        self.assertEqual(self.t.cli("init", "--ae-title", "TRESOR_CLI").rc, 0)
        r = self.t.cli("check")
        self.assertEqual(r.rc, 0, str(r))
        self.assertIn("no findings", r.stdout)

    def test_serve_refuses_plaintext_on_all_interfaces_and_prints_a_fix(self):
        self.t.init()
        self.t.configure("dimse", "plaintext_enabled", True)
        self.t.configure("dimse", "plaintext_bind", "0.0.0.0")
        self.t.configure("dimse", "plaintext_port", harness.free_port())
        r = run([harness.TRESOR_BIN, "--var", self.t.var, "serve"], timeout=30)
        self.assertFalse(r.timed_out, f"serve kept running with plaintext on 0.0.0.0:\n{r}")
        self.assertNotEqual(r.rc, 0, str(r))
        self.assertNotIn("listening dimse", r.out)
        # Either the exposure check's "FINDING ... fix: ..." or the config loader's refusal, which must name
        # the option to change and what it must be.
        self.assertIn("plaintext_bind", r.out, f"serve must name the option to fix:\n{r}")
        self.assertRegex(r.out.lower(), r"fix|must be", f"serve must say how to fix it:\n{r}")
        self.assertIn("0.0.0.0", r.out, f"the finding should name the offending address:\n{r}")
        c = self.t.cli("check")
        self.assertEqual(c.rc, 1, f"check must report the same exposure:\n{c}")

    # --- import / quarantine
    def test_import_of_a_directory_prints_the_summary(self):
        self.t.init()
        data = self.t.root / "data"
        files = gen_dataset(data, patients=2, instances=3, seed=11)
        self.assertEqual(len(files), 6)
        r = self.t.cli("import", data, timeout=120)
        self.assertEqual(r.rc, 0, str(r))
        m = SUMMARY_RE.search(r.stdout)
        self.assertIsNotNone(m, f"no summary line on stdout:\n{r}")
        self.assertEqual(tuple(map(int, m.groups())), (6, 0, 0, 0), str(r))

        # A second directory: one byte-identical copy, one non-DICOM file, one
        # instance whose demographics disagree with its study, one truncated object.
        more = self.t.root / "more"
        more.mkdir()
        shutil.copy(files[0], more / "copy.dcm")
        (more / "notes.txt").write_text("not a DICOM file\n")
        self._conflicting_copy(files[1], more / "conflict.dcm")
        (more / "cut.dcm").write_bytes(files[2].read_bytes()[:-100])
        r = self.t.cli("import", more, timeout=120)
        m = SUMMARY_RE.search(r.stdout)
        self.assertIsNotNone(m, f"no summary line on stdout:\n{r}")
        self.assertEqual(tuple(map(int, m.groups())), (0, 1, 1, 1), str(r))
        self.assertIn("skipped 1 (not DICOM)", r.stdout, str(r))
        self.assertRegex(r.stderr, r"notes\.txt: not a DICOM file", str(r))
        self.assertRegex(r.stderr, r"cut\.dcm: truncated object", str(r))
        self.assertEqual(r.rc, 1, f"a truncated DICOM object is a failure:\n{r}")

    def test_import_takes_files_and_directories_and_skips_what_is_not_dicom(self):
        self.t.init()
        data = self.t.root / "data"
        files = gen_dataset(data, patients=2, instances=2, seed=13)
        self.assertEqual(len(files), 4)
        # A README and a CSV next to the images, as exports and downloaded sets have.
        (data / "README").write_text("Exported images; see the CSV for the list.\n")
        (data / "index.csv").write_text("PatientID,StudyInstanceUID\n1,2.25.1\n")
        single = self.t.cli("import", files[0], timeout=120)
        self.assertEqual(single.rc, 0, f"a single file must be importable:\n{single}")
        m = SUMMARY_RE.search(single.stdout)
        self.assertIsNotNone(m, str(single))
        self.assertEqual(tuple(map(int, m.groups())), (1, 0, 0, 0), str(single))
        # Several arguments, files and directories mixed; the README and the CSV
        # are reported and skipped, not failures: exit status 0.
        r = self.t.cli("import", files[1], data, data / "README", timeout=120)
        self.assertEqual(r.rc, 0, f"non-DICOM files must not fail the import:\n{r}")
        m = SUMMARY_RE.search(r.stdout)
        self.assertIsNotNone(m, str(r))
        self.assertEqual(tuple(map(int, m.groups())), (3, 2, 0, 0), str(r))
        self.assertIn("skipped 3 (not DICOM)", r.stdout, str(r))
        self.assertRegex(r.stderr, r"index\.csv: not a DICOM file", str(r))
        self.assertNotIn("truncated", r.stderr, str(r))
        missing = self.t.cli("import", self.t.root / "no-such-file.dcm", timeout=60)
        self.assertEqual(missing.rc, 1, str(missing))

    def _conflicting_copy(self, src: Path, dst: Path) -> str:
        import pydicom
        ds = pydicom.dcmread(src)
        ds.SOPInstanceUID = harness.uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientName = "Impostor^Ivan"
        ds.PatientBirthDate = "19000101"
        ds.save_as(dst, write_like_original=False)
        return str(ds.SOPInstanceUID)

    def _quarantine_ids(self) -> dict[str, str]:
        r = self.t.cli_ok("quarantine", "list")
        ids = {}
        for line in r.stdout.splitlines():
            m = re.search(r"(2\.25\.\d+)", line)
            n = re.match(r"\s*(?:id[=:\s]*)?(\d+)\b", line)
            if m and n:
                ids[m.group(1)] = n.group(1)
        return ids

    def test_quarantine_release_and_drop(self):
        self.t.init()
        data = self.t.root / "data"
        files = gen_dataset(data, patients=1, instances=3, seed=12)
        self.assertEqual(self.t.cli("import", data, timeout=120).rc, 0)
        held = self.t.root / "held"
        held.mkdir()
        a = self._conflicting_copy(files[0], held / "a.dcm")
        b = self._conflicting_copy(files[1], held / "b.dcm")
        r = self.t.cli("import", held, timeout=120)
        m = SUMMARY_RE.search(r.stdout)
        self.assertIsNotNone(m, str(r))
        self.assertEqual(int(m.group(3)), 2, f"both conflicting instances must be quarantined:\n{r}")

        ids = self._quarantine_ids()
        self.assertIn(a, ids, f"quarantine list does not show {a}")
        self.assertIn(b, ids, f"quarantine list does not show {b}")

        self.t.cli_ok("quarantine", "release", ids[a])
        self.t.cli_ok("quarantine", "drop", ids[b])
        after = self._quarantine_ids()
        self.assertNotIn(a, after, "released instance is still listed")
        self.assertNotIn(b, after, "dropped instance is still listed")

        # The released instance is now in the archive: importing it again is a duplicate.
        again = self.t.root / "again"
        again.mkdir()
        shutil.copy(held / "a.dcm", again / "a.dcm")
        r = self.t.cli("import", again, timeout=120)
        m = SUMMARY_RE.search(r.stdout)
        self.assertIsNotNone(m, str(r))
        self.assertEqual(tuple(map(int, m.groups())), (0, 1, 0, 0), f"released instance not in the archive:\n{r}")

        bad = self.t.cli("quarantine", "release", "999999")
        self.assertEqual(bad.rc, 1, f"releasing an unknown id must fail:\n{bad}")

    # --- users and peers
    def test_user_add_refuses_weak_passwords(self):
        self.t.init()
        for weak in ("password", "123456", "admin", "tresor", "aaaaaaaa", "short"):
            r = self.t.cli("user", "add", "bob", "--role", "clinician", "--password-stdin", input=weak + "\n")
            self.assertEqual(r.rc, 1, f"weak password {weak!r} accepted:\n{r}")
        self.assertNotRegex(self.t.cli_ok("user", "list").stdout, r"(?m)^\s*bob\b")
        ok = self.t.cli("user", "add", "bob", "--role", "clinician", "--password-stdin",
                        input="correct horse battery staple 42\n")
        self.assertEqual(ok.rc, 0, str(ok))
        self.assertRegex(self.t.cli_ok("user", "list").stdout, r"\bbob\b")

    def test_user_add_without_stdin_prints_a_generated_password(self):
        self.t.init()
        r = self.t.cli_ok("user", "add", "carol", "--role", "auditor")
        self.assertRegex(r.stdout, r"(?m)^password: \S{12,}\s*$")

    def test_peer_add_list_remove(self):
        self.t.init()
        self.t.cli_ok("peer", "add", "CT_ROOM_1", "--host", "127.0.0.1", "--host", "127.0.0.2", "--port", "4242",
                      "--ops", "echo,store")
        listing = self.t.cli_ok("peer", "list").stdout
        self.assertIn("CT_ROOM_1", listing)
        self.assertIn("127.0.0.2", listing)
        self.assertIn("4242", listing)
        bad = self.t.cli("peer", "add", "X", "--host", "127.0.0.1", "--ops", "echo,delete_everything")
        self.assertNotEqual(bad.rc, 0, f"unknown operation accepted:\n{bad}")
        self.t.cli_ok("peer", "remove", "CT_ROOM_1")
        self.assertNotIn("CT_ROOM_1", self.t.cli_ok("peer", "list").stdout)

    def test_cert_issue_writes_a_private_key_and_prints_the_fingerprint(self):
        self.t.init()
        self.t.cli_ok("peer", "add", "MODALITY", "--host", "127.0.0.1", "--ops", "echo")
        cert = self.t.cert_issue("MODALITY", peer="MODALITY")
        self.assertTrue(cert.crt.exists() and cert.key.exists())
        self.assertEqual(cert.key.stat().st_mode & 0o077, 0, "client key is group/other readable")
        self.assertRegex(cert.sha256, r"^[0-9a-f]{64}$")
        der = subprocess.run(["openssl", "x509", "-in", str(cert.crt), "-outform", "DER"], capture_output=True,
                             timeout=30).stdout
        import hashlib
        self.assertEqual(hashlib.sha256(der).hexdigest(), cert.sha256, "printed sha256 is not the DER fingerprint")
        verify = run(["openssl", "verify", "-CAfile", self.t.ca, cert.crt])
        self.assertEqual(verify.rc, 0, str(verify))


if __name__ == "__main__":
    unittest.main()
