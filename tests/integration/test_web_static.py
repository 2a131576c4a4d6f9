"""The web UI's static side over HTTPS: Tresor's own pages under /app and the
OHIF bundle at / (when `make web` installed it).

Scenarios: without a session every page sends the browser to the log-in page
(and back afterwards); only the log-in page and its assets are public; the
pages carry a strict CSP, the viewer OHIF's CSP with its inline-script hashes
and 'unsafe-eval' on its codec worker only; client-side routes fall back to
index.html, API paths never do; no path leaves the web root.
"""
import json
import os
import unittest
from pathlib import Path
from urllib.parse import unquote

import harness
from harness import SharedTresorCase
from https import Client

WEB = harness.REPO / "web"
VIEWER = WEB / "ohif" / "dist"
PW = "viewer-Long-Passphrase-9"


class WebStatic(SharedTresorCase):
    instance_name = "webstatic"

    @classmethod
    def prepare(cls, t):
        t.init()
        t.configure("http", "web_root", str(WEB))
        t.user_add("clin", "clinician", PW)
        t.start()
        cls.c = Client(t.https_port, t.ca)
        cls.cookie, cls.csrf = cls.c.login("clin", PW)

    def session(self, **extra) -> dict[str, str]:
        return {"Cookie": self.cookie, **extra}

    def test_pages_without_a_session_go_to_log_in_and_come_back(self):
        for path in ("/", "/app/index.html", "/app/admin/users.html", "/viewer?StudyInstanceUIDs=1.2.3"):
            r = self.c.get(path)
            self.assertEqual(r.status, 303, path)
            loc = r.header("location")
            self.assertTrue(loc.startswith("/app/login.html?next="), loc)
            self.assertEqual(unquote(loc.split("next=", 1)[1]), path)

    def test_browsers_get_no_basic_auth_challenge(self):
        r = self.c.get("/dicom-web/studies", {"Sec-Fetch-Mode": "cors"})
        self.assertEqual(r.status, 401)
        self.assertIsNone(r.header("www-authenticate"))
        self.assertIsNotNone(self.c.get("/dicom-web/studies").header("www-authenticate"))

    def test_only_the_log_in_page_and_its_assets_are_public(self):
        r = self.c.get("/app/login.html")
        self.assertEqual(r.status, 200)
        self.assertIn("text/html", r.header("content-type"))
        csp = r.header("content-security-policy")
        self.assertIn("script-src 'self';", csp)
        self.assertNotIn("unsafe", csp)
        self.assertEqual(self.c.get("/app/js/login.js").header("content-type"), "text/javascript; charset=utf-8")
        self.assertEqual(self.c.get("/app/css/app.css").status, 200)

    def test_pages_with_a_session_are_served(self):
        r = self.c.get("/app/admin/users.html", self.session())
        self.assertEqual(r.status, 200)
        self.assertIn(b"<html", r.body.lower())

    def test_no_path_leaves_the_web_root(self):
        for path in ("/app/../../etc/passwd", "/app/%2e%2e/%2e%2e/etc/passwd", "/app/js/..%2f..%2fREADME.md",
                     "/app/.hidden", "/..%2fMakefile"):
            r = self.c.get(path, self.session())
            self.assertIn(r.status, (400, 404), path)
            self.assertNotIn(b"root:", r.body)

    def test_me_gives_a_new_tab_the_sessions_csrf_token(self):
        self.assertEqual(self.c.get("/api/me", self.session()).json().get("csrf_token"), self.csrf)

    @unittest.skipUnless((VIEWER / "index.html").exists(), "OHIF bundle not installed (make web)")
    def test_the_viewer_has_ohifs_csp_with_hashes_and_eval_only_for_its_codec_worker(self):
        facts = json.loads((VIEWER / "tresor-csp.json").read_text())
        r = self.c.get("/", self.session())
        self.assertEqual(r.status, 200)
        csp = r.header("content-security-policy")
        for h in facts["script_hashes"]:
            self.assertIn(f"'{h}'", csp)
        self.assertNotIn("'unsafe-eval'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        for worker in facts["unsafe_eval"]:
            w = self.c.get("/" + worker, self.session())
            self.assertEqual(w.status, 200)
            self.assertIn("'unsafe-eval'", w.header("content-security-policy"))
        cfg = self.c.get("/app-config.js", self.session())
        self.assertIn(b"/dicom-web", cfg.body)

    @unittest.skipUnless((VIEWER / "index.html").exists(), "OHIF bundle not installed (make web)")
    def test_client_side_routes_fall_back_to_index_but_api_paths_do_not(self):
        index = self.c.get("/", self.session()).body
        self.assertEqual(self.c.get("/viewer", self.session()).body, index)
        self.assertEqual(self.c.get("/api/no-such-thing", self.session()).status, 404)
        self.assertEqual(self.c.get("/dicom-web/no/such", self.session()).status, 404)
        self.assertEqual(self.c.get("/no-such-file.js", self.session()).status, 404)


if __name__ == "__main__":
    unittest.main()
