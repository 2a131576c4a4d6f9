"""The command line as a client of the admin REST API: `tresor --server URL ...`.

Scenarios: an admin's API token (from $TRESOR_TOKEN or --token-file) adds,
lists and removes users and peers, sets a password, lists the quarantine and
runs the exposure check on a running Tresor without touching its var/
directory; each change is audited under the token's user with the CLI's
source address; a clinician's token is refused (403) and so is a missing or
revoked token (401); the server certificate must chain to --ca; verbs that
act on a local instance refuse --server; the token never appears in argv.
"""
import json
import os
import unittest

from harness import TRESOR_BIN, SharedTresorCase, run
from https import Client, basic

PW = "cli-Remote-Passphrase-7"


class RemoteCli(SharedTresorCase):
    instance_name = "cliremote"

    @classmethod
    def prepare(cls, t):
        t.init()
        t.user_add("ops", "admin", PW)
        t.user_add("clin", "clinician", PW)
        t.start()
        cls.c = Client(t.https_port, t.ca)
        cls.token = cls.make_token("ops")
        cls.clin_token = cls.make_token("clin")

    @classmethod
    def make_token(cls, user: str) -> str:
        r = cls.c.post_json("/api/tokens", {"name": "cli", "days": 1}, basic(user, PW))
        assert r.status == 201, (r.status, r.body)
        return r.json()["secret"]

    def remote(self, *args, token: str | None = None, ca=None, input: str | None = None, env_extra=None):
        """Runs the CLI with --server, from a directory that is not the instance."""
        env = {k: v for k, v in os.environ.items() if k not in ("TRESOR_TOKEN", "TRESOR_SERVER")}
        if token is not None:
            env["TRESOR_TOKEN"] = token
        env.update(env_extra or {})
        argv = [TRESOR_BIN, "--var", self.tmpdir("novar") / "absent", "--server",
                f"https://127.0.0.1:{self.t.https_port}", "--ca", ca or self.t.ca, *args]
        return run(argv, timeout=60, input=input, env=env)

    def audit_events(self, action: str) -> list[dict]:
        events = self.t.audit_events()
        return [e for e in events if json.dumps(e).find(action) >= 0]

    def test_an_admin_token_manages_users_over_the_api(self):
        r = self.remote("user", "add", "remote-bob", "--role", "clinician,technologist", token=self.token)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("added user remote-bob", r.stdout)
        self.assertRegex(r.stdout, r"password: \S{16,}")  # generated, shown once
        listed = self.remote("user", "list", token=self.token)
        self.assertEqual(listed.rc, 0, listed)
        self.assertRegex(listed.stdout, r"remote-bob  roles=clinician,technologist  enabled")
        # The server did the work: the user is visible through the API and the CLI's local DB was never opened.
        users = self.c.get("/api/users", basic("ops", PW)).json()
        self.assertIn("remote-bob", [u["username"] for u in users])
        pw = self.remote("user", "passwd", "remote-bob", "--password-stdin", token=self.token,
                         input="bob-New-Passphrase-42\n")
        self.assertEqual(pw.rc, 0, pw)
        self.assertEqual(self.c.get("/api/me", basic("remote-bob", "bob-New-Passphrase-42")).status, 200)
        weak = self.remote("user", "passwd", "remote-bob", "--password-stdin", token=self.token, input="admin\n")
        self.assertEqual(weak.rc, 1)
        self.assertIn("too short", weak.stderr)
        rm = self.remote("user", "remove", "remote-bob", token=self.token)
        self.assertEqual(rm.rc, 0, rm)
        again = self.remote("user", "remove", "remote-bob", token=self.token)
        self.assertEqual(again.rc, 1)
        self.assertIn("HTTP 404", again.stderr)
        # Every change is audited under the token's user.
        for action in ("user.add", "user.passwd", "user.remove"):
            events = self.audit_events(action)
            self.assertTrue(events, action)
            self.assertEqual(events[-1].get("actor"), "ops", events[-1])

    def test_an_admin_token_manages_peers_over_the_api(self):
        r = self.remote("peer", "add", "REMOTE_MOD", "--host", "127.0.0.9", "--port", "11112", "--ops", "echo,store",
                        "--require-user", token=self.token)
        self.assertEqual(r.rc, 0, r)
        listed = self.remote("peer", "list", token=self.token)
        self.assertIn("REMOTE_MOD  hosts=127.0.0.9  port=11112  ops=echo,store  flags=require-user", listed.stdout)
        bad = self.remote("peer", "add", "BAD", "--host", "not-an-ip", "--ops", "echo", token=self.token)
        self.assertEqual(bad.rc, 1)
        self.assertIn("IPv4", bad.stderr)
        rm = self.remote("peer", "remove", "REMOTE_MOD", token=self.token)
        self.assertEqual(rm.rc, 0, rm)
        self.assertNotIn("REMOTE_MOD", self.remote("peer", "list", token=self.token).stdout)
        self.assertTrue(self.audit_events("peer.put"))

    def test_quarantine_and_exposure_check_over_the_api(self):
        q = self.remote("quarantine", "list", token=self.token)
        self.assertEqual(q.rc, 0, q)
        self.assertEqual(q.stdout.strip(), "")
        chk = self.remote("check", token=self.token)
        self.assertEqual(chk.rc, 0, chk)  # loopback-only test instance: no findings
        self.assertIn("no findings", chk.stdout)
        missing = self.remote("quarantine", "release", "999999", token=self.token)
        self.assertEqual(missing.rc, 1)
        self.assertIn("HTTP 404", missing.stderr)

    def test_the_token_may_come_from_a_file(self):
        f = self.tmpdir("tok") / "token"
        f.write_text(self.token + "\n")
        f.chmod(0o600)
        r = self.remote("user", "list", "--token-file", str(f))
        self.assertEqual(r.rc, 0, r)
        self.assertIn("ops  roles=admin", r.stdout)

    def test_non_admin_missing_and_revoked_tokens_are_refused(self):
        clin = self.remote("user", "list", token=self.clin_token)
        self.assertEqual(clin.rc, 1)
        self.assertIn("HTTP 403", clin.stderr)
        none = self.remote("user", "list")
        self.assertEqual(none.rc, 1)
        self.assertIn("TRESOR_TOKEN", none.stderr)
        bogus = self.remote("user", "list", token="tsr_" + "0" * 40)
        self.assertEqual(bogus.rc, 1)
        self.assertIn("HTTP 401", bogus.stderr)
        created = self.c.post_json("/api/tokens", {"name": "to-revoke", "days": 1}, basic("ops", PW))
        self.assertEqual(created.status, 201, created.body)
        tok, tok_id = created.json()["secret"], created.json()["id"]
        self.assertEqual(self.remote("user", "list", token=tok).rc, 0)
        self.assertEqual(self.c.request("DELETE", f"/api/tokens/{tok_id}", basic("ops", PW)).status, 204)
        revoked = self.remote("user", "list", token=tok)
        self.assertEqual(revoked.rc, 1)
        self.assertIn("HTTP 401", revoked.stderr)
        self.assertNotIn(tok, revoked.stderr + revoked.stdout)

    def test_the_server_certificate_must_chain_to_the_given_ca(self):
        other = self.tmpdir("ca") / "other.crt"
        r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(other.with_suffix(".key")), "-out", str(other), "-days", "1", "-subj", "/CN=other"],
                timeout=60)
        self.assertEqual(r.rc, 0, r)
        refused = self.remote("user", "list", token=self.token, ca=other)
        self.assertEqual(refused.rc, 1)
        self.assertIn("certificate verification failed", refused.stderr)

    def test_local_only_verbs_refuse_server(self):
        r = self.remote("import", "/nonexistent", token=self.token)
        self.assertEqual(r.rc, 2)
        self.assertIn("local instance only", r.stderr)


if __name__ == "__main__":
    unittest.main()
