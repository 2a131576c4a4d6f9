"""CSRF, credential hygiene and denial of service before authentication (issue 11, items 4 and 5).

Scenarios, against a real `tresor serve`:
 - a cross-site page cannot act with the credentials a browser holds: a
   text/plain form (the one kind of cross-site POST a browser sends without a
   preflight) cannot create an admin account with cached Basic credentials,
   a foreign Origin or Sec-Fetch-Site is refused whatever the credential, and
   log-in itself must be same-origin JSON (login CSRF);
 - browsers never get a Basic challenge (scripts do), and the session cookie
   carries the __Host- prefix;
 - only a password (Basic or a log-in session) mints API tokens: not a token,
   not a JWT unless http.jwt_token_max_days allows it, and then the token
   ends at most that long after the JWT;
 - a password reset (admin API) or change (CLI) revokes the user's API
   tokens and ends their sessions;
 - one source address holding connections cannot keep another from being
   served; 10,000 failed requests write O(windows) audit lines, not 10,000.
"""
import http.client
import json
import socket
import ssl
import time
import unittest
import uuid

import harness
from harness import SharedTresorCase
from https import Client, basic, bearer
from test_jwt import b64url, json_segment, rs256_sign, rsa_key, rsa_modulus

EVIL = "https://evil.example"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
ISSUER = "https://idp.csrf.example"
AUDIENCE = "tresor-http"
KID = "csrf-rs256-1"
PASSWORDS = {"clin": "clin-Very-Long-Passphrase-21", "nurse": "nurse-Very-Long-Passphrase-22",
             "tech": "tech-Very-Long-Passphrase-23"}


def configure_oidc(t, work) -> object:
    key = rsa_key(work / "issuer.key")
    jwks = {"keys": [{"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256",
                      "n": b64url(rsa_modulus(key)), "e": "AQAB"}]}
    (work / "jwks.json").write_text(json.dumps(jwks))
    t.configure("oidc", "issuer", ISSUER)
    t.configure("oidc", "audience", AUDIENCE)
    t.configure("oidc", "jwks_file", str(work / "jwks.json"))
    t.configure("oidc", "algorithms", ["RS256"])
    return key


def make_jwt(key, subject: str, lifetime_s: int, work) -> tuple[str, int]:
    now = int(time.time())
    exp = now + lifetime_s
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "nbf": now - 5, "exp": exp,
              "jti": f"csrf-{uuid.uuid4()}"}
    signing_input = json_segment({"alg": "RS256", "typ": "JWT", "kid": KID}) + "." + json_segment(claims)
    return signing_input + "." + b64url(rs256_sign(key, signing_input, work)), exp


class CsrfAndCredentialHygiene(SharedTresorCase):
    instance_name = "csrf"

    @classmethod
    def prepare(cls, t):
        t.init()
        t.configure("login", "source_max_failures", 1000000)
        cls.work = t.root / "oidc"
        cls.work.mkdir()
        cls.issuer_key = configure_oidc(t, cls.work)
        t.user_add("clin", "clinician", PASSWORDS["clin"])
        t.start()
        cls.c = Client(t.https_port, t.ca)
        cls.origin = f"https://127.0.0.1:{t.https_port}"
        cls.admin = basic("admin", t.admin_password)

    def users(self) -> list[str]:
        r = self.c.get("/api/users", self.admin)
        self.assertEqual(r.status, 200)
        return [u["username"] for u in r.json()]

    # --- CSRF
    def test_a_cross_site_text_plain_form_cannot_create_an_admin_with_cached_basic_credentials(self):
        # What <form enctype="text/plain"> on evil.example sends, the browser adding its cached Basic credentials.
        form = json.dumps({"username": "mallory", "roles": ["admin"], "password": "Mallory-Very-Long-Passphrase-9"})
        r = self.c.post("/api/users", form.encode(), {**self.admin, "Content-Type": "text/plain",
                                                      "Origin": EVIL, "Sec-Fetch-Site": "cross-site",
                                                      "User-Agent": BROWSER_UA})
        self.assertEqual(r.status, 403, r.body)
        # The same without the browser's provenance headers (an old browser): the media type alone refuses it.
        r = self.c.post("/api/users", form.encode(), {**self.admin, "Content-Type": "text/plain"})
        self.assertEqual(r.status, 415, r.body)
        for ctype in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            self.assertEqual(self.c.post("/api/users", form.encode(), {**self.admin, "Content-Type": ctype}).status,
                             415, ctype)
        # JSON from a foreign origin (would need a CORS preflight, which is refused anyway).
        r = self.c.post("/api/users", form.encode(), {**self.admin, "Content-Type": "application/json", "Origin": EVIL})
        self.assertEqual(r.status, 403)
        self.assertNotIn("mallory", self.users())
        # The page of this origin, with the same credentials, may.
        r = self.c.post("/api/users", form.replace("mallory", "mallory2").encode(),
                        {**self.admin, "Content-Type": "application/json", "Origin": self.origin,
                         "Sec-Fetch-Site": "same-origin", "User-Agent": BROWSER_UA})
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(self.c.request("DELETE", "/api/users/mallory2", self.admin).status, 204)

    def test_a_foreign_origin_is_refused_on_every_state_changing_request_whatever_the_credential(self):
        cookie, csrf = self.c.login("clin", PASSWORDS["clin"])
        session = {"Cookie": cookie, "X-CSRF-Token": csrf}
        for headers in (session, basic("clin", PASSWORDS["clin"])):
            r = self.c.post_json("/api/tokens", {"name": "csrf", "days": 1}, {**headers, "Origin": EVIL})
            self.assertEqual(r.status, 403)
            r = self.c.post_json("/api/tokens", {"name": "csrf", "days": 1},
                                 {**headers, "Sec-Fetch-Site": "same-site"})  # another port of this host is same-site
            self.assertEqual(r.status, 403)
            r = self.c.request("POST", "/api/logout", {**headers, "Origin": "null"})
            self.assertEqual(r.status, 403)
        self.assertEqual(self.c.get("/dicom-web/studies", {"Cookie": cookie}).status, 200)  # still logged in

    def test_log_in_must_be_same_origin_json(self):
        body = json.dumps({"username": "clin", "password": PASSWORDS["clin"]}).encode()
        r = self.c.post("/api/login", body, {"Content-Type": "application/json", "Origin": EVIL})
        self.assertEqual(r.status, 403)
        self.assertIsNone(r.header("set-cookie"))
        r = self.c.post("/api/login", body, {"Content-Type": "text/plain"})
        self.assertEqual(r.status, 415)
        self.assertIsNone(r.header("set-cookie"))
        r = self.c.post("/api/login", body, {"Content-Type": "application/json", "Origin": self.origin})
        self.assertEqual(r.status, 200)

    def test_the_session_cookie_has_the_host_prefix(self):
        r = self.c.post_json("/api/login", {"username": "clin", "password": PASSWORDS["clin"]})
        cookie = r.header("set-cookie") or ""
        self.assertTrue(cookie.startswith("__Host-tresor_session="), cookie)
        for attr in ("Secure", "Path=/", "HttpOnly", "SameSite=Strict"):
            self.assertIn(attr, cookie)
        self.assertNotIn("domain", cookie.lower())
        value = cookie.split(";", 1)[0].split("=", 1)[1]
        # The unprefixed name (which another host of the site could plant) is no session.
        self.assertEqual(self.c.get("/api/me", {"Cookie": "tresor_session=" + value}).status, 401)
        self.assertEqual(self.c.get("/api/me", {"Cookie": "__Host-tresor_session=" + value}).status, 200)

    def test_browsers_never_get_a_basic_challenge_and_scripts_do(self):
        for headers in ({"User-Agent": BROWSER_UA}, {"Sec-Fetch-Mode": "navigate"}, {"Accept": "text/html"},
                        {"Origin": self.origin}):
            r = self.c.get("/dicom-web/studies", headers)
            self.assertEqual(r.status, 401)
            self.assertIsNone(r.header("www-authenticate"), headers)
        for ua in ("curl/7.88.1", "python-requests/2.31.0", "dicomweb-client"):
            r = self.c.get("/dicom-web/studies", {"User-Agent": ua})
            self.assertIn("Basic realm=", r.header("www-authenticate") or "", ua)

    def test_stow_takes_the_dicom_media_type_only(self):
        tech = basic("admin", self.t.admin_password)
        for ctype in ("text/plain", "application/json", "multipart/form-data; boundary=x"):
            r = self.c.post("/dicom-web/studies", b"--x--\r\n", {**tech, "Content-Type": ctype,
                                                                  "Accept": "application/dicom+json"})
            self.assertEqual(r.status, 415, ctype)

    # --- who may mint tokens
    def test_only_a_password_mints_api_tokens(self):
        r = self.c.post_json("/api/tokens", {"name": "by-basic", "days": 2}, basic("clin", PASSWORDS["clin"]))
        self.assertEqual(r.status, 201, r.body)
        token = r.json()["secret"]
        self.assertEqual(self.c.post_json("/api/tokens", {"name": "by-token"}, bearer(token)).status, 403)
        jwt, _ = make_jwt(self.issuer_key, "clin", 300, self.tmpdir("jwt"))
        self.assertEqual(self.c.get("/api/me", bearer(jwt)).status, 200)  # the JWT itself is valid ...
        r = self.c.post_json("/api/tokens", {"name": "by-jwt", "days": 1}, bearer(jwt))
        self.assertEqual(r.status, 403, r.body)  # ... but mints nothing by default (http.jwt_token_max_days = 0)
        cookie, csrf = self.c.login("clin", PASSWORDS["clin"])
        r = self.c.post_json("/api/tokens", {"name": "by-session", "days": 2}, {"Cookie": cookie, "X-CSRF-Token": csrf})
        self.assertEqual(r.status, 201, r.body)

    # --- a new password revokes what the old one opened
    def test_a_password_reset_by_the_admin_revokes_the_users_tokens_and_sessions(self):
        self.t.user_add("nurse", "clinician", PASSWORDS["nurse"])
        r = self.c.post_json("/api/tokens", {"name": "n", "days": 2}, basic("nurse", PASSWORDS["nurse"]))
        self.assertEqual(r.status, 201)
        token = r.json()["secret"]
        cookie, _ = self.c.login("nurse", PASSWORDS["nurse"])
        other = self.c.post_json("/api/tokens", {"name": "c", "days": 2}, basic("clin", PASSWORDS["clin"])).json()
        self.assertEqual(self.c.get("/api/me", bearer(token)).status, 200)
        self.assertEqual(self.c.get("/api/me", {"Cookie": cookie}).status, 200)
        r = self.c.put_json("/api/users/nurse/password", {}, self.admin)  # reset: a generated password
        self.assertEqual(r.status, 200)
        self.assertEqual(self.c.get("/api/me", bearer(token)).status, 401)
        self.assertEqual(self.c.get("/api/me", {"Cookie": cookie}).status, 401)
        self.assertEqual(self.c.get("/api/me", basic("nurse", r.json()["password"])).status, 200)
        self.assertEqual(self.c.get("/api/me", bearer(other["secret"])).status, 200)  # other users keep theirs
        listed = self.c.get("/api/tokens?all=true", self.admin).json()
        self.assertTrue(all(t["revoked"] for t in listed if t["username"] == "nurse"))

    def test_a_password_change_from_the_cli_revokes_tokens_and_ends_sessions_at_once(self):
        self.t.user_add("tech", "technologist", PASSWORDS["tech"])
        token = self.c.post_json("/api/tokens", {"name": "t", "days": 2}, basic("tech", PASSWORDS["tech"])).json()
        cookie, _ = self.c.login("tech", PASSWORDS["tech"])
        self.assertEqual(self.c.get("/api/me", {"Cookie": cookie}).status, 200)
        # Another process (the CLI) writes the new password into the index.
        self.t.cli_ok("user", "passwd", "tech", "--password-stdin", input="tech-New-Very-Long-Passphrase-24\n")
        self.assertEqual(self.c.get("/api/me", bearer(token["secret"])).status, 401)
        self.assertEqual(self.c.get("/api/me", {"Cookie": cookie}).status, 401)


class DenialOfServiceBeforeAuthentication(SharedTresorCase):
    instance_name = "dos"

    @classmethod
    def prepare(cls, t):
        t.init()
        t.configure("http", "max_connections", 16)
        t.configure("http", "max_connections_per_source", 4)
        t.configure("http", "failure_audit_window_s", 2)
        t.configure("http", "jwt_token_max_days", 2)
        cls.work = t.root / "oidc"
        cls.work.mkdir()
        cls.issuer_key = configure_oidc(t, cls.work)
        t.user_add("clin", "clinician", PASSWORDS["clin"])
        t.start()
        cls.admin = basic("admin", t.admin_password)

    def test_one_address_holding_connections_cannot_keep_another_from_being_served(self):
        held = []
        try:
            for _ in range(16):  # as many as http.max_connections, from 127.0.0.1, never a handshake
                held.append(socket.create_connection(("127.0.0.1", self.t.https_port), timeout=5))
            time.sleep(0.3)
            other = Client(self.t.https_port, self.t.ca, source="127.0.0.2", timeout=10)
            try:
                r = other.get("/api/me", self.admin)
            except (OSError, ssl.SSLError, http.client.HTTPException) as e:
                self.fail(f"127.0.0.2 was not served while 127.0.0.1 held connections: {e!r}")
            self.assertEqual(r.status, 200)
        finally:
            for s in held:
                s.close()

    def test_ten_thousand_failed_requests_write_o_windows_audit_lines(self):
        source = "127.0.0.3"
        n = 10000
        ctx = ssl.create_default_context(cafile=str(self.t.ca))
        conn = http.client.HTTPSConnection("127.0.0.1", self.t.https_port, context=ctx, timeout=30,
                                           source_address=(source, 0))
        started = time.monotonic()
        statuses = set()
        try:
            for i in range(n):  # one keep-alive connection: the audit trail, not TLS, is under test
                conn.request("GET", "/dicom-web/studies", headers={"Authorization": f"Bearer tsr_{i:043d}"})
                r = conn.getresponse()
                r.read()
                statuses.add(r.status)
        finally:
            conn.close()
        elapsed = time.monotonic() - started
        self.assertTrue(statuses <= {401, 429}, statuses)  # 429 once the source is throttled

        def denied():
            return [e for e in self.t.audit_events()
                    if e.get("source") == source and e.get("type") == "association" and e.get("outcome") == "denied"]

        def counted(events):
            return sum(int(e["details"]["count"]) if e.get("details", {}).get("aggregate") == "summary" else 1
                       for e in events)

        # Summaries are written once their 2 s window is over (the flush runs every second).
        self.assertTrue(harness.wait_until(lambda: counted(denied()) >= n, timeout=10), counted(denied()))
        events = denied()
        windows = elapsed / 2 + 2
        self.assertLessEqual(len(events), 2 * windows + 2, f"{len(events)} lines in {elapsed:.1f} s")
        self.assertEqual(counted(events), n)
        summaries = [e for e in events if e.get("details", {}).get("aggregate") == "summary"]
        self.assertTrue(summaries)
        self.assertIn("more failures from this source", summaries[0]["reason"])

    def test_a_jwt_mints_only_tokens_that_end_within_the_configured_days_after_it(self):
        jwt, exp = make_jwt(self.issuer_key, "clin", 300, self.tmpdir("jwt"))
        c = Client(self.t.https_port, self.t.ca, source="127.0.0.4")
        r = c.post_json("/api/tokens", {"name": "from-jwt", "days": 30}, bearer(jwt))
        self.assertEqual(r.status, 201, r.body)
        self.assertLessEqual(r.json()["expires"], exp + 2 * 86400)
        self.assertGreater(r.json()["expires"], exp + 2 * 86400 - 60)
        # A token it minted cannot mint another.
        self.assertEqual(c.post_json("/api/tokens", {"name": "chain"}, bearer(r.json()["secret"])).status, 403)


if __name__ == "__main__":
    unittest.main()
