"""TLS and C-MOVE (issue 11, section 6), against real DCMTK peers on loopback.

- C-MOVE to a DCMTK storescp +tls whose certificate comes from `tresor cert issue`
  (mutual TLS both ways: the node certificate must serve as TLS server, Tresor's
  as TLS client); a destination presenting another peer's certificate is refused
  before any C-STORE, and the C-MOVE is audited as a failure with its counts.
- The DIMSE TLS listener speaks only the non-downgrading BCP 195 profile (ECDHE
  + AEAD); the opt-in legacy-TLS listener serves only peers marked legacy_tls and
  is reported by `tresor check`.
- Cleartext C-MOVE only to a plaintext peer while the plaintext listener is on;
  POST /api/peers applies the CLI's peer validation.
- Revocation: `tresor cert revoke` and `tresor peer remove` take effect on the
  running listener at once (CRL re-read on the next handshake).
"""
from __future__ import annotations

import re
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import https  # noqa: E402
from harness import StoreScp, Tresor, run  # noqa: E402


def study_uid_of(path: Path) -> str:
    import pydicom
    return str(pydicom.dcmread(str(path), stop_before_pixels=True).StudyInstanceUID)


def s_client(port: int, ca: Path, cert: harness.ClientCert, *args) -> harness.Run:
    return run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(ca),
                "-cert", str(cert.crt), "-key", str(cert.key), *args], input="", timeout=20)


# s_client prints "New, TLSv1.2, ..." for AEAD suites but "New, SSLv3, ..." for the CBC ones.
NEGOTIATED = r"New, \S+, Cipher is (?!\(NONE\))"


class TlsMoveTest(harness.SharedTresorCase):
    instance_name = "tlsmove"

    @classmethod
    def prepare(cls, t: Tresor) -> None:
        t.init()
        t.configure("brute_force", "max_failures", 100000)
        cls.mod = t.peer_add("MODALITY", "echo,store,find,move")
        cls.dest_port = harness.free_port()
        # The destination's certificate from `tresor cert issue --peer DEST` (CN DEST, pinned).
        cls.dest = t.peer_add("DEST", "echo,store", port=cls.dest_port)
        cls.other = t.peer_add("OTHER", "echo")
        cls.plain_port = harness.free_port()
        t.peer_add("PLAINDEST", "echo,store", port=cls.plain_port, plaintext=True, cert=False)
        t.start()
        data = t.root / "data"
        r = run([harness.SYSTEM_PYTHON, harness.shared_dir() / "tools" / "gen-dataset", "--patients", "2",
                 "--instances-per-series", "2", "--out", data, "--seed", "61", "--quiet"], timeout=60)
        assert r.rc == 0, str(r)
        cls.studies: dict[str, list[Path]] = {}
        for f in sorted(data.rglob("*.dcm")):
            cls.studies.setdefault(study_uid_of(f), []).append(f)
        files = [f for fs in cls.studies.values() for f in fs]
        res = t.client("MODALITY", cls.mod).store(files)
        assert res.statuses == [0] * len(files), str(res)

    def move(self, dest: str, uid: str) -> harness.DimseResult:
        client = self.t.client("MODALITY", self.mod)
        proxy = client.proxy()
        self.addCleanup(proxy.close)
        return client.move([f"StudyInstanceUID={uid}"], dest, proxy=proxy)

    def move_events(self, dest: str) -> list[dict]:
        return [e for e in self.t.audit_events() if e.get("type") == "move" and "completed" in e.get("details", {})
                and e["details"].get("destination") == dest]

    # --- C-MOVE over mutual TLS with certificates from `tresor cert issue`
    def test_move_to_storescp_tls_with_a_tresor_issued_certificate_delivers_the_study(self):
        uid, files = sorted(self.studies.items())[0]
        scp = StoreScp("DEST", self.tmpdir("dest"), tls=(self.dest.key, self.dest.crt, self.t.ca),
                       port=self.dest_port, verify_client=True).start()
        self.addCleanup(scp.close)
        before = len(self.move_events("DEST"))
        move = self.move("DEST", uid)
        self.assertEqual(move.final, 0, f"{move}\nstorescp log:\n{scp.log()[-3000:]}\n{self.t.log()}")
        self.assertTrue(harness.wait_until(lambda: len(scp.files()) >= len(files), 10), scp.log()[-3000:])
        self.assertEqual(len(scp.files()), len(files))
        events = self.move_events("DEST")[before:]
        self.assertTrue(events, "no audit event for the sub-operations")
        self.assertEqual(events[-1]["outcome"], "success", events[-1])
        self.assertEqual(events[-1]["details"]["completed"], str(len(files)), events[-1])
        self.assertEqual(events[-1]["details"]["failed"], "0", events[-1])

    def test_destination_presenting_another_peers_certificate_is_refused_and_audited_as_failure(self):
        uid, files = sorted(self.studies.items())[1]
        # OTHER's certificate chains to the same CA, but it is not DEST's.
        scp = StoreScp("DEST", self.tmpdir("impostor"), tls=(self.other.key, self.other.crt, self.t.ca),
                       port=self.dest_port, verify_client=True).start()
        self.addCleanup(scp.close)
        before = len(self.move_events("DEST"))
        move = self.move("DEST", uid)
        self.assertTrue(harness.is_failure(move.final), f"the impostor was accepted:\n{move}")
        self.assertEqual(scp.files(), [], "an instance reached the impostor")
        self.assertNotIn("Received Store Request", scp.new_log())
        events = self.move_events("DEST")[before:]
        self.assertTrue(events, f"no audit event for the failed sub-operations: {self.t.audit_events()[-5:]}")
        last = events[-1]
        self.assertEqual(last["outcome"], "failure", last)
        text = str(last)
        self.assertIn(f"all {len(files)} sub-operations failed", text)
        self.assertIn("not bound", text)
        self.assertEqual(last["details"]["completed"], "0", last)
        self.assertEqual(last["details"]["failed"], str(len(files)), last)

    def test_cleartext_move_is_refused_while_the_plaintext_listener_is_off(self):
        uid, _ = sorted(self.studies.items())[0]
        scp = StoreScp("PLAINDEST", self.tmpdir("plain"), port=self.plain_port).start()
        self.addCleanup(scp.close)
        move = self.move("PLAINDEST", uid)
        self.assertTrue(harness.is_failure(move.final), str(move))
        self.assertNotIn("Association Received", scp.new_log(), "a cleartext connection was made")
        self.assertEqual(scp.files(), [])

    # --- cipher suites of the DIMSE TLS listener
    def test_tls_rsa_with_aes_128_cbc_sha_is_refused(self):
        r = s_client(self.t.tls_port, self.t.ca, self.mod, "-tls1_2", "-cipher", "AES128-SHA")
        self.assertNotEqual(r.rc, 0, f"AES128-SHA negotiated:\n{r}")
        self.assertNotRegex(r.out, NEGOTIATED)

    def test_ecdhe_gcm_and_chacha20_suites_work(self):
        for suite in ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"):
            r = s_client(self.t.tls_port, self.t.ca, self.mod, "-tls1_2", "-cipher", suite)
            self.assertRegex(r.out, rf"New, TLSv1\.2, Cipher is {suite}", f"{suite}:\n{r}")
        for suite in ("DHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-SHA"):  # no DHE, no CBC
            r = s_client(self.t.tls_port, self.t.ca, self.mod, "-tls1_2", "-cipher", suite)
            self.assertNotRegex(r.out, NEGOTIATED, f"{suite} negotiated:\n{r}")
        r = s_client(self.t.tls_port, self.t.ca, self.mod, "-tls1_3")
        self.assertRegex(r.out, r"New, TLSv1\.3, Cipher is TLS_", str(r))

    # --- REST API: the CLI's peer validation
    def test_rest_api_refuses_a_plaintext_peer_on_a_public_address(self):
        c = https.Client(self.t.https_port, self.t.ca)
        auth = https.basic("admin", self.t.admin_password)
        peer = {"ae_title": "PUBPLAIN", "hosts": ["203.0.113.9"], "operations": ["store"], "allow_plaintext": True}
        r = c.post_json("/api/peers", peer, auth)
        self.assertEqual(r.status, 400, r.body)
        self.assertIn(b"private", r.body)
        legacy = dict(peer, ae_title="PUBLEGACY", allow_plaintext=False, legacy_tls=True)
        r = c.post_json("/api/peers", legacy, auth)
        self.assertEqual(r.status, 400, r.body)
        listed = c.get("/api/peers", auth).json()
        self.assertFalse([p for p in listed if p["ae_title"] in ("PUBPLAIN", "PUBLEGACY")], listed)
        # The same peer on a private address is fine, and the exposure check stays clean.
        ok = c.post_json("/api/peers", dict(peer, hosts=["10.1.2.3"]), auth)
        self.assertEqual(ok.status, 200, ok.body)
        self.assertEqual(c.request("DELETE", "/api/peers/PUBPLAIN", auth).status, 204)

    def test_server_keeps_running(self):
        self.assertTrue(self.t.running(), self.t.log())


class RevocationTest(harness.SharedTresorCase):
    instance_name = "revoke"

    @classmethod
    def prepare(cls, t: Tresor) -> None:
        t.init()
        t.configure("brute_force", "max_failures", 100000)
        cls.a = t.peer_add("NODE_A", "echo")
        cls.b = t.peer_add("NODE_B", "echo")
        cls.c = t.peer_add("NODE_C", "echo")
        cls.d = t.peer_add("NODE_D", "echo")  # never revoked
        t.start()

    def echo_ok(self, ae: str, cert: harness.ClientCert) -> bool:
        return self.t.client(ae, cert).echo().statuses == [0]

    def test_cert_revoke_by_file_takes_effect_on_the_running_listener(self):
        self.assertTrue(self.echo_ok("NODE_A", self.a))
        r = self.t.cli_ok("cert", "revoke", "--file", self.a.crt)
        self.assertIn("revoked:", r.stdout)
        self.assertTrue((self.t.var / "pki" / "crl.pem").exists())
        self.assertFalse(self.echo_ok("NODE_A", self.a), "a revoked certificate still works")
        self.assertTrue(self.echo_ok("NODE_D", self.d), "revoking one certificate broke another")

    def test_cert_revoke_by_serial(self):
        serial = re.search(r"serial=([0-9A-F]+)", run(["openssl", "x509", "-noout", "-serial", "-in",
                                                         str(self.c.crt)]).stdout).group(1)
        self.assertTrue(self.echo_ok("NODE_C", self.c))
        self.t.cli_ok("cert", "revoke", "--serial", serial.lower())
        self.assertFalse(self.echo_ok("NODE_C", self.c))

    def test_a_removed_peers_certificate_stops_working_even_if_the_name_is_registered_again(self):
        self.assertTrue(self.echo_ok("NODE_B", self.b))
        r = self.t.cli_ok("peer", "remove", "NODE_B")
        self.assertIn("revoked certificate", r.stdout)
        # Registered again under the same AE title, without a pin (CN = AE title binds):
        # the old certificate must not come back to life.
        self.t.peer_add("NODE_B", "echo", cert=False)
        self.assertFalse(self.echo_ok("NODE_B", self.b), "the removed peer's certificate still works")
        fresh = self.t.cert_issue("NODE_B", peer="NODE_B", out=self.tmpdir("fresh"))
        self.assertTrue(self.echo_ok("NODE_B", fresh), "a new certificate for the name must work")

    def test_client_certificates_live_at_most_two_years(self):
        r = self.t.cli("cert", "issue", "--cn", "LONG", "--out", self.tmpdir("long"), "--days", "731")
        self.assertNotEqual(r.rc, 0, str(r))
        ok = self.t.cli("cert", "issue", "--cn", "TWO", "--out", self.tmpdir("two"), "--days", "730")
        self.assertEqual(ok.rc, 0, str(ok))


class LegacyTlsTest(harness.SharedTresorCase):
    instance_name = "legacytls"

    @classmethod
    def prepare(cls, t: Tresor) -> None:
        t.init()
        t.configure("brute_force", "max_failures", 100000)
        cls.legacy_port = harness.free_port()
        t.configure("dimse", "legacy_tls_enabled", True)
        t.configure("dimse", "legacy_tls_bind", "127.0.0.1")
        t.configure("dimse", "legacy_tls_port", cls.legacy_port)
        cls.old = t.peer_add("OLD_US", "echo")
        t.cli_ok("peer", "add", "OLD_US", "--host", "127.0.0.1", "--ops", "echo", "--legacy-tls")
        cls.modern = t.peer_add("MODERN", "echo")
        t.start()

    def echo(self, ae: str, cert: harness.ClientCert, port: int, profile: str) -> harness.DimseResult:
        r = run(["echoscu", "-d", "-aet", ae, "-aec", self.t.ae, "-to", "10", "-ta", "15",
                 "+tls", str(cert.key), str(cert.crt), "+cf", str(self.t.ca), profile, "127.0.0.1", str(port)],
                timeout=60)
        statuses = [0 if m == "Success" else 0xFFFF for m in re.findall(r"Received Echo Response \(([^)]*)\)", r.out)]
        return harness.DimseResult(r, statuses)

    def test_a_legacy_peer_is_served_on_the_legacy_listener_with_retired_suites(self):
        r = s_client(self.legacy_port, self.t.ca, self.old, "-tls1_2", "-cipher", "AES128-SHA")
        self.assertRegex(r.out, r"Cipher is AES128-SHA", str(r)[-3000:])
        self.assertRegex(r.out, r"Protocol\s*:\s*TLSv1\.2", str(r)[-3000:])
        res = self.echo("OLD_US", self.old, self.legacy_port, "+pa")  # DICOM AES profile (retired)
        self.assertEqual(res.statuses, [0], str(res))

    def test_the_main_listener_still_refuses_retired_suites(self):
        res = self.echo("OLD_US", self.old, self.t.tls_port, "+pa")
        self.assertFalse(res.statuses, str(res))
        r = s_client(self.t.tls_port, self.t.ca, self.old, "-tls1_2", "-cipher", "AES128-SHA")
        self.assertNotRegex(r.out, NEGOTIATED, str(r))

    def test_a_peer_not_marked_legacy_tls_is_refused_on_the_legacy_listener(self):
        res = self.echo("MODERN", self.modern, self.legacy_port, "+px")
        self.assertFalse(res.statuses, str(res))
        self.assertIn("Association Rejected", res.run.out, str(res))
        self.assertTrue(self.echo("MODERN", self.modern, self.t.tls_port, "+py").statuses == [0])

    def test_check_reports_the_legacy_listener_as_a_warning_and_serve_still_starts(self):
        r = self.t.cli("check")
        self.assertEqual(r.rc, 0, str(r))
        self.assertRegex(r.stdout, r"WARNING: the legacy-TLS listener .*no forward\s+secrecy.*OLD_US", str(r))
        self.assertTrue(self.t.running())

    def test_the_legacy_listener_must_bind_a_private_address(self):
        toml = self.t.toml.read_text()
        try:
            self.t.configure("dimse", "legacy_tls_bind", "0.0.0.0")
            r = self.t.cli("check")
            self.assertNotEqual(r.rc, 0, str(r))
            self.assertIn("legacy_tls_bind", r.out)
        finally:
            self.t.toml.write_text(toml)

    def test_cli_refuses_legacy_tls_for_a_public_host(self):
        r = self.t.cli("peer", "add", "PUBOLD", "--host", "198.51.100.4", "--ops", "echo", "--legacy-tls")
        self.assertNotEqual(r.rc, 0, str(r))
        self.assertIn("private", r.out)


if __name__ == "__main__":
    unittest.main()
