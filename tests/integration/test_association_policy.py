"""Association policy, TLS and ingest rules: each negative case is its own test.

The shared instance raises [brute_force] max_failures so that the many refused
associations of this module do not block 127.0.0.1; the brute-force case and
the idle-connection case run on instances of their own.
"""
import re
import time
import unittest
from pathlib import Path

import harness
from harness import StoreScp, Tresor, find_matches, is_failure, run

FIND_CAP = 5


def rejection_block(res) -> list[str]:
    """The lines DCMTK prints about an A-ASSOCIATE-RJ (result, source, reason)."""
    return [l for l in res.run.out.splitlines() if re.match(r"^F: (Result|Reason):", l)]


class PolicyTest(harness.SharedTresorCase):
    instance_name = "policy"

    @classmethod
    def prepare(cls, t: Tresor) -> None:
        t.init(plaintext=True)
        t.configure("brute_force", "max_failures", 100000)
        t.configure("dimse", "find_cap", FIND_CAP)
        cls.good = t.peer_add("GOOD", "echo,store,find,get,move")
        cls.faraway = t.peer_add("FARAWAY", "echo,store,find", hosts=("127.0.0.2",))
        cls.findonly = t.peer_add("FINDONLY", "find")
        cls.storeonly = t.peer_add("STOREONLY", "store")
        cls.unlimited = t.peer_add("BIGFIND", "find", unlimited_find=True)
        t.peer_add("WS", "echo,store,find", cert=False)
        cls.user, cls.password = "nurse1", "Hx7#mQ2!vL9$tR4p"
        t.user_add(cls.user, "clinician,technologist", cls.password)
        cls.dest_port = harness.free_port()
        cls.dest_cert = t.peer_add("DEST", "echo", port=cls.dest_port)
        t.start()
        data = cls.data = t.root / "data"
        r = run([harness.SYSTEM_PYTHON, harness.shared_dir() / "tools" / "gen-dataset", "--patients",
                 str(FIND_CAP + 3), "--instances-per-series", "1", "--out", data, "--seed", "31", "--quiet"],
                timeout=60)
        assert r.rc == 0, str(r)
        cls.files = sorted(data.rglob("*.dcm"))
        res = t.client("GOOD", cls.good).store(cls.files)
        assert res.statuses == [0] * len(cls.files), str(res)

    def assertRefused(self, res, what: str):
        self.assertFalse(res.associated, f"{what}: association was accepted\n{res}")
        self.assertFalse(res.statuses, f"{what}: got a DIMSE response\n{res}")
        self.assertNotEqual(res.run.rc, 0, f"{what}: tool reported success\n{res}")
        self.assertFalse(res.run.timed_out, f"{what}: hung instead of being refused\n{res}")

    def assertRejectedPermanent(self, res, what: str):
        self.assertRefused(res, what)
        self.assertTrue(res.rejected, f"{what}: expected A-ASSOCIATE-RJ\n{res}")
        self.assertIn("Rejected Permanent", res.run.out, f"{what}: rejection is not permanent\n{res}")

    def audit_reasons(self) -> list[str]:
        return [str(e) for e in self.t.audit_events()]

    # --- AE titles and hosts
    def test_control_registered_peer_with_its_certificate_is_accepted(self):
        res = self.t.client("GOOD", self.good).echo()
        self.assertEqual(res.statuses, [0], str(res))

    def test_unknown_calling_ae_is_rejected(self):
        res = self.t.client("STRANGER", self.good).echo()
        self.assertRejectedPermanent(res, "unknown calling AE")
        self.assertTrue(any("STRANGER" in e for e in self.audit_reasons()), "no audit event names the calling AE")

    def test_registered_ae_from_a_wrong_host_is_rejected(self):
        # FARAWAY is registered at 127.0.0.2; the client connects from 127.0.0.1.
        res = self.t.client("FARAWAY", self.faraway).echo()
        self.assertRejectedPermanent(res, "right AE, wrong host")

    def test_registered_ae_from_its_registered_host_is_accepted(self):
        # Control for the case above: the same peer from 127.0.0.2 (proxy bound to that source) is accepted.
        c = self.t.client("FARAWAY", self.faraway)
        proxy = c.proxy(source="127.0.0.2")
        self.addCleanup(proxy.close)
        res = c.echo(proxy=proxy)
        self.assertEqual(res.statuses, [0], f"{res}\nproxy errors: {proxy.errors}")

    def test_wrong_called_ae_is_rejected(self):
        res = self.t.client("GOOD", self.good, called="NOT_TRESOR").echo()
        self.assertRejectedPermanent(res, "wrong called AE")

    def test_every_rejection_looks_the_same_to_the_caller(self):
        cases = {
            "unknown calling AE": self.t.client("STRANGER", self.good).echo(),
            "wrong host": self.t.client("FARAWAY", self.faraway).echo(),
            "wrong called AE": self.t.client("GOOD", self.good, called="NOT_TRESOR").echo(),
            "echo not allowed": self.t.client("FINDONLY", self.findonly).echo(),
            "cert bound to another peer": self.t.client("FINDONLY", self.good).echo(),
        }
        blocks = {}
        for what, res in cases.items():
            if res.rejected:
                blocks[what] = rejection_block(res)
        self.assertGreaterEqual(len(blocks), 4, f"expected A-ASSOCIATE-RJ for the AE/host/cert cases: {blocks}")
        distinct = {tuple(b) for b in blocks.values()}
        self.assertEqual(len(distinct), 1, f"rejections differ and reveal the reason: {blocks}")
        self.assertNotIn("Called AE Title Not Recognized", str(distinct))
        self.assertNotIn("Calling AE Title Not Recognized", str(distinct))

    def test_client_certificate_bound_to_another_peer_is_rejected(self):
        # GOOD's certificate (valid, from our CA) presented by a different registered AE.
        res = self.t.client("FINDONLY", self.good).find(["PatientID"])
        self.assertRefused(res, "certificate of another peer")

    # --- TLS
    def test_plaintext_to_the_tls_port_fails(self):
        res = self.t.client("GOOD", None, tls="none").echo()
        self.assertRefused(res, "plain DICOM on the TLS port")
        self.assertLess(res.run.elapsed, 40)

    def s_client(self, *args) -> harness.Run:
        return run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.t.tls_port}", "-CAfile", str(self.t.ca),
                    "-cert", str(self.good.crt), "-key", str(self.good.key), *args], input="", timeout=20)

    def assert_handshake_fails(self, version_flag: str):
        r = self.s_client(version_flag, "-cipher", "DEFAULT:@SECLEVEL=0")
        self.assertNotIn("no protocols available", r.out, f"the client did not offer {version_flag}:\n{r}")
        self.assertNotEqual(r.rc, 0, f"{version_flag} handshake succeeded:\n{r}")
        self.assertNotRegex(r.out, r"New, TLSv1(\.[01])?, Cipher is (?!\(NONE\))", f"{version_flag} negotiated:\n{r}")

    def test_tls_1_2_handshake_control(self):
        r = self.s_client("-tls1_2")
        self.assertRegex(r.out, r"New, TLSv1\.2, Cipher is (?!\(NONE\))", f"TLS 1.2 must work:\n{r}")

    def test_tls_1_0_is_refused(self):
        self.assert_handshake_fails("-tls1")

    def test_tls_1_1_is_refused(self):
        self.assert_handshake_fails("-tls1_1")

    def test_tls_without_client_certificate_and_without_user_identity_is_refused(self):
        res = self.t.client("WS", None, tls="anon").echo()  # echoscu +tla +cf CA
        self.assertRefused(res, "no certificate, no identity")
        store = self.t.client("GOOD", None, tls="anon").store(self.files[:1])
        self.assertRefused(store, "no certificate, no identity (store)")

    def test_client_certificate_from_another_ca_is_refused(self):
        d = self.tmpdir("rogue")
        ca_key, ca_crt = harness.make_ca(d, "Rogue CA")
        rogue = harness.make_client_cert(d, ca_key, ca_crt, "GOOD")  # same CN as the real peer
        res = self.t.client("GOOD", rogue).echo()
        self.assertRefused(res, "certificate from another CA")

    def test_user_identity_with_the_right_passcode_is_accepted(self):
        ws = self.t.client("WS", None, tls="anon", user=self.user, password=self.password)
        res = ws.store(self.files[:1])
        self.assertEqual(res.statuses, [0], str(res))

    def test_wrong_passcode_is_refused(self):
        ws = self.t.client("WS", None, tls="anon", user=self.user, password=self.password + "x")
        res = ws.store(self.files[:1])
        self.assertRefused(res, "wrong passcode")
        unknown = self.t.client("WS", None, tls="anon", user="nobody", password=self.password).store(self.files[:1])
        self.assertRefused(unknown, "unknown user")
        # The passcode never reaches the audit trail.
        audit = self.t.audit_text()
        self.assertNotIn(self.password, audit, "a passcode was written to the audit trail")

    def test_non_plaintext_peer_is_refused_on_the_plaintext_listener(self):
        res = self.t.client("GOOD", None, tls="none", port=self.t.plaintext_port).echo()
        self.assertRefused(res, "TLS-only peer on the plaintext listener")

    # --- per-peer operations
    def test_operation_not_allowed_store_by_find_only_peer(self):
        import pydicom
        ds = pydicom.dcmread(self.files[0])
        ds.SOPInstanceUID = harness.uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        f = self.tmpdir("new") / "new.dcm"
        ds.save_as(f, write_like_original=False)
        res = self.t.client("FINDONLY", self.findonly).store([f])
        self.assertFalse(any(s == 0 for s in res.statuses), f"store by a find-only peer succeeded\n{res}")
        self.assertTrue(res.statuses or not res.associated or "No presentation context" in res.run.out,
                        f"no refusal visible\n{res}")
        if res.statuses:
            self.assertTrue(is_failure(res.final), f"expected a failure status\n{res}")
        check = self.t.client("GOOD", self.good).find([f"SOPInstanceUID={ds.SOPInstanceUID}"], level="IMAGE")
        self.assertEqual(find_matches(check), 0, f"the refused instance was stored\n{check}")

    def test_operation_not_allowed_echo_by_find_only_peer(self):
        res = self.t.client("FINDONLY", self.findonly).echo()
        self.assertNotEqual(res.statuses, [0], f"C-ECHO must be denied to a find-only peer\n{res}")

    def test_operation_not_allowed_find_by_store_only_peer(self):
        res = self.t.client("STOREONLY", self.storeonly).find(["PatientID"])
        self.assertFalse(find_matches(res), f"a store-only peer got C-FIND matches\n{res}")
        self.assertFalse(res.final == 0, f"a store-only peer got a successful C-FIND\n{res}")

    # --- C-MOVE destinations
    def test_move_to_an_unregistered_destination_is_refused_and_never_contacted(self):
        rogue = StoreScp("ROGUE", self.tmpdir("rogue"), port=harness.free_port()).start()
        self.addCleanup(rogue.close)
        good = self.t.client("GOOD", self.good)
        proxy = good.proxy()
        self.addCleanup(proxy.close)
        uid = str(__import__("pydicom").dcmread(self.files[0], stop_before_pixels=True).StudyInstanceUID)
        res = good.move([f"StudyInstanceUID={uid}"], "ROGUE", proxy=proxy)
        self.assertTrue(res.statuses, f"no C-MOVE response\n{res}\nproxy errors: {proxy.errors}")
        self.assertTrue(is_failure(res.final), f"C-MOVE to an unregistered AE did not fail\n{res}")
        time.sleep(1.0)
        self.assertNotIn("Association Received", rogue.new_log(), "the unregistered destination was contacted")
        self.assertEqual(rogue.files(), [])

    # --- C-FIND cap
    def test_find_beyond_the_cap_fails_with_a700(self):
        res = self.t.client("GOOD", self.good).find(["PatientID"])  # matches every study (> cap)
        self.assertEqual(res.final, 0xA700, f"expected Refused: Out of Resources (A700)\n{res}")
        self.assertLessEqual(find_matches(res), FIND_CAP, str(res))
        big = self.t.client("BIGFIND", self.unlimited).find(["PatientID"])
        self.assertEqual(big.final, 0, str(big))
        self.assertGreater(find_matches(big), FIND_CAP, str(big))

    # --- ingest rules
    def get_instance(self, sop_uid: str, name: str) -> list[Path]:
        good = self.t.client("GOOD", self.good)
        proxy = good.proxy()
        self.addCleanup(proxy.close)
        out = self.tmpdir(name)
        res = good.get([f"SOPInstanceUID={sop_uid}"], out, level="IMAGE", proxy=proxy)
        self.assertEqual(res.final, 0, f"{res}\nproxy errors: {proxy.errors}")
        return sorted(out.iterdir())

    def test_different_object_under_an_existing_sop_instance_uid_is_refused(self):
        import pydicom
        original = self.files[1]
        ds = pydicom.dcmread(original)
        ds.InstitutionName = "Somewhere Else Entirely"
        ds.SeriesDescription = "tampered"
        f = self.tmpdir("tampered") / "tampered.dcm"
        ds.save_as(f, write_like_original=False)
        res = self.t.client("GOOD", self.good).store([f])
        self.assertEqual(len(res.statuses), 1, str(res))
        self.assertTrue(is_failure(res.final), f"a different object under an existing UID was accepted\n{res}")
        got = self.get_instance(str(ds.SOPInstanceUID), "after")
        self.assertEqual(len(got), 1, got)
        self.assertEqual(harness.dcmdump_normalized(original), harness.dcmdump_normalized(got[0]),
                         "the stored original changed")

    def test_conflicting_demographics_are_quarantined_and_invisible(self):
        import pydicom
        src = self.files[2]
        ds = pydicom.dcmread(src)
        study = str(ds.StudyInstanceUID)
        true_name = str(ds.PatientName)
        ds.SOPInstanceUID = harness.uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientName = "Mallory^Eve"
        ds.PatientBirthDate = "19010101"
        f = self.tmpdir("conflict") / "conflict.dcm"
        ds.save_as(f, write_like_original=False)
        res = self.t.client("GOOD", self.good).store([f])
        self.assertEqual(len(res.statuses), 1, str(res))

        listing = self.t.cli_ok("quarantine", "list").stdout
        self.assertIn(str(ds.SOPInstanceUID), listing, "quarantine list does not show the held instance")

        good = self.t.client("GOOD", self.good)
        image = good.find([f"SOPInstanceUID={ds.SOPInstanceUID}"], level="IMAGE")
        self.assertEqual(find_matches(image), 0, f"quarantined instance visible to C-FIND\n{image}")
        studies = good.find([f"StudyInstanceUID={study}", "PatientName", "NumberOfStudyRelatedInstances"])
        self.assertEqual(find_matches(studies), 1, str(studies))
        self.assertIn(true_name, studies.run.out)
        self.assertNotIn("Mallory", studies.run.out, "the conflicting demographics leaked into the study")
        proxy = good.proxy()
        self.addCleanup(proxy.close)
        out = self.tmpdir("get")
        get = good.get([f"SOPInstanceUID={ds.SOPInstanceUID}"], out, level="IMAGE", proxy=proxy)
        self.assertEqual(list(out.iterdir()), [], f"quarantined instance was retrievable\n{get}")


class BruteForceTest(unittest.TestCase):
    MAX_FAILURES = 5

    def setUp(self):
        harness.require_binary()
        self.t = Tresor(name="bruteforce")
        self.addCleanup(self.t.close)
        self.t.init(plaintext=True)
        self.t.configure("brute_force", "max_failures", self.MAX_FAILURES)
        self.t.configure("brute_force", "window_s", 120)
        self.t.configure("brute_force", "block_s", 600)
        self.cert = self.t.peer_add("MODALITY", "echo", hosts=("127.0.0.1", "127.0.0.2"))
        self.t.peer_add("PLAIN", "echo", plaintext=True, cert=False)
        self.t.start()

    def test_called_ae_brute_force_blocks_the_source_but_not_a_peer_with_its_certificate(self):
        ok = self.t.client("MODALITY", self.cert).echo()
        self.assertEqual(ok.statuses, [0], f"control echo failed\n{ok}")
        plain = self.t.client("PLAIN", None, tls="none", port=self.t.plaintext_port).echo()
        self.assertEqual(plain.statuses, [0], f"control plaintext echo failed\n{plain}")
        for i in range(self.MAX_FAILURES + 2):
            res = self.t.client("MODALITY", self.cert, called=f"GUESS_{i:02d}").echo()
            self.assertFalse(res.statuses, str(res))
        # Blocked: a peer proven only by its AE title and address is refused ...
        blocked = self.t.client("PLAIN", None, tls="none", port=self.t.plaintext_port).echo()
        self.assertFalse(blocked.associated, f"a blocked source got an association without a credential\n{blocked}")
        # ... the registered peer presenting its bound certificate is not (issue 11: a modality
        # behind the same NAT as a guesser keeps the archive).
        cert = self.t.client("MODALITY", self.cert).echo()
        self.assertEqual(cert.statuses, [0], f"the peer's certificate did not get through the block\n{cert}")
        events = self.t.audit_events()
        self.assertTrue(any("security_alert" in str(e.get("type", "")) or "security_alert" in str(e)
                            for e in events), f"no security_alert in the audit trail: {events[-5:]}")
        # Another source address is not blocked.
        c = self.t.client("MODALITY", self.cert)
        proxy = c.proxy(source="127.0.0.2")
        self.addCleanup(proxy.close)
        other = c.echo(proxy=proxy)
        self.assertEqual(other.statuses, [0], f"127.0.0.2 was blocked too\n{other}\n{proxy.errors}")


class IdleConnectionsTest(unittest.TestCase):
    def setUp(self):
        harness.require_binary()
        self.t = Tresor(name="idle")
        self.addCleanup(self.t.close)
        self.t.init()  # default workers, timeouts and brute-force settings
        self.cert = self.t.peer_add("MODALITY", "echo")
        self.t.start()

    def test_32_idle_tcp_connections_do_not_delay_an_authorized_echo(self):
        baseline = self.t.client("MODALITY", self.cert).echo()
        self.assertEqual(baseline.statuses, [0], str(baseline))
        socks = harness.idle_connections(self.t.tls_port, 32)
        self.addCleanup(lambda: [s.close() for s in socks])
        time.sleep(0.5)
        res = self.t.client("MODALITY", self.cert).echo()
        self.assertEqual(res.statuses, [0], str(res))
        self.assertLess(res.run.elapsed, 5.0, f"echo took {res.run.elapsed:.1f}s behind 32 idle connections "
                                              f"(without them: {baseline.run.elapsed:.2f}s)")


if __name__ == "__main__":
    unittest.main()
