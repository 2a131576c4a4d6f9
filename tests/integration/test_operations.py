"""Authorized DIMSE operations against a real tresor: echo, store, find, get, move.

Two ways in: mutual TLS with a client certificate from Tresor's CA, and user
identity (username + passcode) over server-authenticated TLS. getscu and
movescu of DCMTK 3.6.7 have no TLS options, so they go through harness.TlsProxy
(which verifies the server, presents the client certificate, and can add the
user identity to the A-ASSOCIATE-RQ).
"""
import unittest
from pathlib import Path

import harness
from harness import Dcmtk, StoreScp, Tresor, find_matches

# Whether tresor reaches C-MOVE destinations over TLS (the secure default).
# A destination registered with --plaintext is reached over plain TCP.
MOVE_DEST_TLS = True


def study_uid_of(path: Path) -> str:
    return dcm_value(path, "StudyInstanceUID")


def dcm_value(path: Path, keyword: str) -> str:
    import pydicom
    return str(pydicom.dcmread(path, stop_before_pixels=True).get(keyword, ""))


class OperationsTest(harness.SharedTresorCase):
    instance_name = "ops"

    @classmethod
    def prepare(cls, t: Tresor) -> None:
        t.init(plaintext=True)
        cls.dest_dir = t.root / "dest"
        cls.dest_port = harness.free_port()
        cls.mod = t.peer_add("MODALITY", "echo,store,find,get,move")
        cls.viewer = t.peer_add("VIEWER", "echo,find,get,move")
        # A workstation that cannot present a certificate: user identity over server-authenticated TLS.
        t.peer_add("WORKSTATION", "echo,store,find,get,move", cert=False)
        cls.user, cls.password = "tech1", "Vq8!rK2#pLm9$wZt"
        t.user_add(cls.user, "technologist,clinician", cls.password)
        # The C-MOVE destination: a dcmtk storescp on loopback.
        t.peer_add("ARCHIVE2", "echo,store", port=cls.dest_port, plaintext=not MOVE_DEST_TLS, cert=False)
        # Its TLS server certificate, from Tresor's CA (which is what tresor verifies destinations against).
        cls.dest_cert = harness.make_server_cert(t.root / "dest-pki", t.var / "pki" / "ca.key", t.ca, "ARCHIVE2")
        t.peer_add("PLAINMOD", "echo,store", plaintext=True, cert=False)
        t.start()
        cls.data = t.root / "data"
        r = harness.run([harness.SYSTEM_PYTHON, harness.shared_dir() / "tools" / "gen-dataset", "--patients", "3",
                         "--instances-per-series", "3", "--out", cls.data, "--seed", "21", "--quiet"], timeout=60)
        assert r.rc == 0, str(r)
        cls.files = sorted(cls.data.rglob("*.dcm"))
        cls.studies: dict[str, list[Path]] = {}
        for f in cls.files:
            cls.studies.setdefault(study_uid_of(f), []).append(f)

    def modality(self) -> Dcmtk:
        return self.t.client("MODALITY", self.mod)

    def store_study(self, index: int) -> tuple[str, list[Path]]:
        uid = sorted(self.studies)[index]
        files = self.studies[uid]
        res = self.modality().store(files)
        self.assertEqual(res.statuses, [0] * len(files), str(res))
        return uid, files

    def assert_same_datasets(self, originals: list[Path], retrieved: list[Path]):
        self.assertEqual(len(retrieved), len(originals), f"retrieved {retrieved}")
        by_uid = {dcm_value(p, "SOPInstanceUID"): p for p in retrieved}
        for o in originals:
            sop = dcm_value(o, "SOPInstanceUID")
            self.assertIn(sop, by_uid, f"{o.name} was not retrieved")
            self.assertEqual(harness.dcmdump_normalized(o), harness.dcmdump_normalized(by_uid[sop]),
                             f"data set of {o.name} changed in the archive")

    # --- mutual TLS with client certificates
    def test_echo_with_client_certificate(self):
        res = self.modality().echo()
        self.assertTrue(res.associated, str(res))
        self.assertEqual(res.statuses, [0], str(res))

    def test_store_find_get_with_client_certificate(self):
        uid, files = self.store_study(0)
        find = self.t.client("VIEWER", self.viewer).find([f"StudyInstanceUID={uid}", "PatientName",
                                                          "NumberOfStudyRelatedInstances"])
        self.assertEqual(find.final, 0, str(find))
        self.assertEqual(find_matches(find), 1, str(find))
        self.assertIn(dcm_value(files[0], "PatientName"), find.run.out)

        image = self.t.client("VIEWER", self.viewer).find([f"StudyInstanceUID={uid}", "SOPInstanceUID"], level="IMAGE")
        self.assertEqual(image.final, 0, str(image))
        self.assertEqual(find_matches(image), len(files), str(image))

        viewer = self.t.client("VIEWER", self.viewer)
        proxy = viewer.proxy()
        self.addCleanup(proxy.close)
        out = self.tmpdir("get")
        get = viewer.get([f"StudyInstanceUID={uid}"], out, proxy=proxy)
        self.assertEqual(get.final, 0, f"{get}\nproxy errors: {proxy.errors}")
        self.assert_same_datasets(files, sorted(out.iterdir()))

    def test_byte_identical_store_succeeds_without_a_second_copy(self):
        uid, files = self.store_study(1)
        blobs_before = self.blob_files()
        again = self.modality().store(files)
        self.assertEqual(again.statuses, [0] * len(files), str(again))
        self.assertEqual(self.blob_files(), blobs_before, "a byte-identical resend created new blobs")
        find = self.modality().find([f"StudyInstanceUID={uid}", "SOPInstanceUID"], level="IMAGE")
        self.assertEqual(find_matches(find), len(files), str(find))

    def blob_files(self) -> set[str]:
        return {str(p.relative_to(self.t.store_dir)) for p in self.t.store_dir.rglob("*")
                if p.is_file() and "tmp" not in p.relative_to(self.t.store_dir).parts}

    # --- user identity over server-authenticated TLS
    def workstation(self, password: str | None = None) -> Dcmtk:
        return self.t.client("WORKSTATION", None, tls="anon", user=self.user, password=password or self.password)

    def test_store_with_user_identity_over_server_authenticated_tls(self):
        uid = sorted(self.studies)[2]
        files = self.studies[uid]
        res = self.workstation().store(files)  # storescu +tla +cf CA --user --password
        self.assertTrue(res.associated, str(res))
        self.assertEqual(res.statuses, [0] * len(files), str(res))

    def test_echo_find_get_with_user_identity_over_server_authenticated_tls(self):
        uid, files = self.store_study(0)
        ws = self.workstation()
        proxy = ws.proxy()  # no client certificate; adds the user identity to the A-ASSOCIATE-RQ
        self.addCleanup(proxy.close)
        echo = ws.echo(proxy=proxy)
        self.assertEqual(echo.statuses, [0], f"{echo}\nproxy errors: {proxy.errors}")
        find = ws.find([f"StudyInstanceUID={uid}"], proxy=proxy)
        self.assertEqual(find.final, 0, str(find))
        self.assertEqual(find_matches(find), 1, str(find))
        out = self.tmpdir("get")
        get = ws.get([f"StudyInstanceUID={uid}"], out, proxy=proxy)
        self.assertEqual(get.final, 0, str(get))
        self.assert_same_datasets(files, sorted(out.iterdir()))

    # --- C-MOVE to a registered storescp
    def test_move_to_a_registered_storescp(self):
        # The destination authenticates itself (server certificate from Tresor's CA) but does not check
        # the certificate tresor presents as a client.
        self.move_to_archive2(verify_client=False)

    def test_move_to_a_registered_storescp_that_requires_mutual_tls(self):
        # The destination also verifies tresor's client certificate against the same CA (storescp -rc).
        self.move_to_archive2(verify_client=True)

    def move_to_archive2(self, verify_client: bool):
        uid, files = self.store_study(1)
        tls = (self.dest_cert.key, self.dest_cert.crt, self.t.ca) if MOVE_DEST_TLS else None
        scp = StoreScp("ARCHIVE2", self.tmpdir("dest"), tls=tls, port=self.dest_port,
                       verify_client=verify_client).start()
        self.addCleanup(scp.close)
        viewer = self.t.client("VIEWER", self.viewer)
        proxy = viewer.proxy()
        self.addCleanup(proxy.close)
        move = viewer.move([f"StudyInstanceUID={uid}"], "ARCHIVE2", proxy=proxy)
        self.assertEqual(move.final, 0, f"{move}\nstorescp log:\n{scp.log()[-3000:]}")
        self.assertTrue(harness.wait_until(lambda: len(scp.files()) >= len(files), 10), scp.log()[-3000:])
        self.assert_same_datasets(files, scp.files())

    # --- plaintext listener (enabled on 127.0.0.1 for this instance)
    def test_plaintext_peer_can_use_the_plaintext_listener(self):
        plain = self.t.client("PLAINMOD", None, tls="none", port=self.t.plaintext_port)
        echo = plain.echo()
        self.assertEqual(echo.statuses, [0], str(echo))
        uid = sorted(self.studies)[2]
        store = plain.store(self.studies[uid][:1])
        self.assertEqual(store.statuses, [0], str(store))

    def test_server_keeps_running(self):
        self.assertTrue(self.t.running(), self.t.log())


if __name__ == "__main__":
    unittest.main()
