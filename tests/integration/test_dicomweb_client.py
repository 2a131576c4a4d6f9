"""dicomweb-client (npm, the library OHIF builds on) against a real Tresor over
HTTPS, with each kind of credential: HTTP Basic, the session cookie (with its
CSRF token), and a personal API token as Bearer. QIDO, metadata, instance,
frames, rendered and STOW must all work with each.

Needs tests/integration/web/node_modules (`npm ci` there; `make test` does it).
"""
import json
import os
import shutil
import subprocess
import unittest
from pathlib import Path

import harness
from harness import SharedTresorCase
from https import Client, basic

WEB = Path(__file__).resolve().parent / "web"
FILES = harness.PYDICOM_TEST_FILES
CLIN_PW = "clinician-Long-Passphrase-7"


class DicomWebClientSuite(SharedTresorCase):
    instance_name = "dwclient"

    @classmethod
    def prepare(cls, t):
        if not (WEB / "node_modules" / "dicomweb-client").is_dir():
            raise AssertionError("tests/integration/web/node_modules missing: run `npm ci` there (make test does)")
        t.init()
        t.user_add("clin", "clinician,technologist", CLIN_PW)
        imp = t.root / "import"
        imp.mkdir()
        shutil.copy(FILES / "CT_small.dcm", imp)
        t.cli_ok("import", imp)
        t.start()
        cls.c = Client(t.https_port, t.ca)

    def run_client(self, headers: dict[str, str]) -> dict:
        import pydicom
        ds = pydicom.dcmread(FILES / "CT_small.dcm")
        original_sop = ds.SOPInstanceUID
        ds.SOPInstanceUID = harness.uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        stow = self.t.root / f"stow-{ds.SOPInstanceUID}.dcm"
        ds.save_as(stow, write_like_original=False)
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(self.t.ca),
               "TRESOR_URL": f"https://127.0.0.1:{self.t.https_port}/dicom-web",
               "AUTH_HEADERS": json.dumps(headers), "PATIENT_ID": "1CT1",
               "STUDY": ds.StudyInstanceUID, "SERIES": ds.SeriesInstanceUID,
               "INSTANCE": original_sop,
               "STOW_FILE": str(stow), "STOW_SOP": ds.SOPInstanceUID}
        r = subprocess.run(["node", str(WEB / "dicomweb_client.cjs")], env=env, capture_output=True, text=True,
                           timeout=120, cwd=WEB)
        try:
            results = json.loads(r.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            raise AssertionError(f"dicomweb-client run failed:\n{r.stdout}\n{r.stderr}")
        return results

    def assert_all_ok(self, results: dict):
        self.assertGreaterEqual(len(results), 8, results)
        bad = {k: v for k, v in results.items() if v != "ok"}
        self.assertEqual(bad, {}, results)

    def test_with_http_basic(self):
        self.assert_all_ok(self.run_client(basic("clin", CLIN_PW)))

    def test_with_the_session_cookie_and_csrf_token(self):
        cookie, csrf = self.c.login("clin", CLIN_PW)
        self.assert_all_ok(self.run_client({"Cookie": cookie, "X-CSRF-Token": csrf}))

    def test_with_a_bearer_api_token(self):
        r = self.c.post_json("/api/tokens", {"name": "dicomweb-client", "days": 1}, basic("clin", CLIN_PW))
        self.assertEqual(r.status, 201, r.body)
        self.assert_all_ok(self.run_client({"Authorization": "Bearer " + r.json()["secret"]}))

    def test_without_credentials_every_call_fails(self):
        results = self.run_client({})
        self.assertTrue(all(v != "ok" for v in results.values()), results)


if __name__ == "__main__":
    unittest.main()
