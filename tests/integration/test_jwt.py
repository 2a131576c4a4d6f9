"""DICOM user identity type 5 (JWT) against a real `tresor serve`.

The client is storescu over server-authenticated TLS without a client
certificate (+tla), so the JWT (`--jwt FILE`) is the only credential. Tokens
are made here with the Python standard library and the openssl CLI: an RSA
2048 key of the "issuer" (published in the JWKS that Tresor trusts) signs
RS256 (PKCS#1 v1.5 + SHA-256) with `openssl dgst -sha256 -sign`; a second RSA
key, unknown to Tresor, makes forged signatures.

Every case checks both what the caller sees (store status, or a refused
association) and the `association` event in the audit trail. One
instance serves the whole module; [brute_force] max_failures is raised so the
refusals of this module do not block 127.0.0.1.
"""
import base64
import hashlib
import hmac
import json
import os
import time
import unittest
from pathlib import Path

import harness
from harness import Tresor, find_matches, run

ISSUER = "https://idp.test.invalid/realms/tresor"
AUDIENCE = "tresor-dimse"
KID = "itest-rs256-1"
CALLING_AE = "JWTWS"          # registered peer without a certificate: needs a user identity
CHECK_AE = "JWTCHECK"         # mutual-TLS peer used only to look instances up with C-FIND
SUBJECT = "dr_jwt"            # an enabled Tresor user (role clinician)
SOURCE_FILE = harness.PYDICOM_TEST_FILES / "CT_small.dcm"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def json_segment(obj: dict) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def rsa_key(path: Path) -> Path:
    r = run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path])
    assert r.rc == 0, str(r)
    return path


def rsa_modulus(key: Path) -> bytes:
    r = run(["openssl", "rsa", "-in", key, "-noout", "-modulus"])
    assert r.rc == 0 and r.stdout.startswith("Modulus="), str(r)
    return bytes.fromhex(r.stdout.strip().split("=", 1)[1])


def rsa_public_pem(key: Path) -> bytes:
    r = run(["openssl", "rsa", "-in", key, "-pubout"])
    assert r.rc == 0 and "BEGIN PUBLIC KEY" in r.stdout, str(r)
    return r.stdout.encode()


def rs256_sign(key: Path, signing_input: str, workdir: Path) -> bytes:
    """RS256 = RSASSA-PKCS1-v1_5 with SHA-256, which is what `openssl dgst -sign` does with an RSA key."""
    data, sig = workdir / "signing-input", workdir / "signature"
    data.write_bytes(signing_input.encode("ascii"))
    r = run(["openssl", "dgst", "-sha256", "-sign", key, "-out", sig, data])
    assert r.rc == 0, str(r)
    out = sig.read_bytes()
    assert len(out) == 256, f"unexpected RS256 signature length {len(out)}"
    return out


class JwtIdentityTest(harness.SharedTresorCase):
    instance_name = "jwt"

    @classmethod
    def prepare(cls, t: Tresor) -> None:
        if not SOURCE_FILE.is_file():
            raise unittest.SkipTest(f"{SOURCE_FILE} not found (python3-pydicom)")
        cls.work = t.root / "jwt"
        cls.work.mkdir()
        cls.issuer_key = rsa_key(cls.work / "issuer.key")
        cls.rogue_key = rsa_key(cls.work / "rogue.key")
        jwks = {"keys": [{"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256",
                          "n": b64url(rsa_modulus(cls.issuer_key)), "e": "AQAB"}]}
        cls.jwks = cls.work / "jwks.json"
        cls.jwks.write_text(json.dumps(jwks))
        cls.tokens: list[str] = []     # every token sent by this module (none may reach the audit trail)
        cls.counter = 0

        t.init()
        t.configure("brute_force", "max_failures", 100000)
        t.configure("oidc", "issuer", ISSUER)
        t.configure("oidc", "audience", AUDIENCE)
        t.configure("oidc", "jwks_file", str(cls.jwks))
        t.configure("oidc", "algorithms", ["RS256"])
        t.peer_add(CALLING_AE, "echo,store", cert=False)
        cls.check_cert = t.peer_add(CHECK_AE, "find")
        r = t.cli_ok("user", "add", SUBJECT, "--role", "clinician,technologist")  # generated password, never used here
        assert "password:" in r.stdout, f"no generated password printed:\n{r}"
        users = t.cli_ok("user", "list").stdout
        assert SUBJECT in users, f"user {SUBJECT} not listed:\n{users}"
        t.start()

    # ------------------------------------------------------------------ tokens
    def claims(self, **overrides) -> dict:
        now = int(time.time())
        c = {"iss": ISSUER, "aud": AUDIENCE, "sub": SUBJECT, "iat": now, "nbf": now - 5, "exp": now + 300,
             "jti": f"itest-{os.getpid()}-{type(self).counter}"}
        type(self).counter += 1
        for k, v in overrides.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def rs256_token(self, claims: dict, key: Path | None = None, kid: str | None = KID) -> str:
        header = {"alg": "RS256", "typ": "JWT"}
        if kid is not None:
            header["kid"] = kid
        signing_input = json_segment(header) + "." + json_segment(claims)
        sig = rs256_sign(key or self.issuer_key, signing_input, self.tmpdir("sign"))
        return self.remember(signing_input + "." + b64url(sig))

    def remember(self, token: str) -> str:
        type(self).tokens.append(token)
        return token

    # ------------------------------------------------------------------ helpers
    def fresh_instance(self) -> tuple[Path, str]:
        """CT_small.dcm under a new SOP Instance UID, so that each case stores a distinct instance."""
        import pydicom
        ds = pydicom.dcmread(SOURCE_FILE)
        sop = harness.uid()
        ds.SOPInstanceUID = sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        f = self.tmpdir("data") / "instance.dcm"
        ds.save_as(f, write_like_original=False)
        return f, sop

    def store_with_token(self, token: str) -> tuple[harness.DimseResult, str, list[dict]]:
        """storescu +tla --jwt FILE; returns (result, SOP Instance UID sent, association audit events it caused)."""
        f, sop = self.fresh_instance()
        token_file = self.tmpdir("token") / "token.jwt"
        token_file.write_bytes(token.encode("ascii"))   # no trailing newline: the file content is the token
        before = len(self.t.audit_events())
        res = self.t.client(CALLING_AE, None, tls="anon").store([f], extra=["--jwt", str(token_file)])
        # The association event is written before the caller gets its answer; allow a short grace period anyway.
        harness.wait_until(lambda: any(e.get("type") == "association" for e in self.t.audit_events()[before:]), 5)
        events = [e for e in self.t.audit_events()[before:] if e.get("type") == "association"]
        return res, sop, events

    def stored(self, sop: str) -> int:
        res = self.t.client(CHECK_AE, self.check_cert).find([f"SOPInstanceUID={sop}"], level="IMAGE")
        self.assertFalse(res.run.timed_out, str(res))
        self.assertEqual(res.final, 0, f"lookup C-FIND failed\n{res}")
        return find_matches(res)

    def assertAccepted(self, res, sop: str, events: list[dict]):
        self.assertTrue(res.associated, f"valid JWT: association refused\n{res}\nserver log:\n{self.t.log()}")
        self.assertEqual(res.statuses, [0], f"valid JWT: store did not succeed\n{res}")
        self.assertEqual(res.run.rc, 0, str(res))
        self.assertEqual(self.stored(sop), 1, "the instance stored with a valid JWT is not in the archive")
        self.assertEqual(len(events), 1, f"expected one association audit event: {events}")
        e = events[0]
        self.assertEqual(e.get("outcome"), "success", f"audit: {e}")
        self.assertEqual(e.get("actor"), CALLING_AE, f"audit: {e}")
        self.assertEqual(e.get("user"), SUBJECT, f"audit does not name the JWT subject: {e}")

    def assertRefused(self, res, sop: str, events: list[dict], what: str, reason_words: tuple[str, ...]):
        self.assertFalse(res.run.timed_out, f"{what}: hung instead of being refused\n{res}")
        self.assertFalse(res.associated, f"{what}: association was accepted\n{res}")
        self.assertTrue(res.rejected, f"{what}: expected an A-ASSOCIATE-RJ\n{res}")
        self.assertFalse(res.statuses, f"{what}: got a DIMSE response\n{res}")
        self.assertNotEqual(res.run.rc, 0, f"{what}: storescu reported success\n{res}")
        self.assertEqual(self.stored(sop), 0, f"{what}: the instance was stored")
        self.assertEqual(len(events), 1, f"{what}: expected one association audit event: {events}")
        e = events[0]
        self.assertEqual(e.get("outcome"), "denied", f"{what}: audit {e}")
        self.assertEqual(e.get("actor"), CALLING_AE, f"{what}: audit {e}")
        reason = str(e.get("reason", ""))
        self.assertTrue(reason, f"{what}: denied without a reason: {e}")
        for w in reason_words:
            self.assertIn(w.lower(), reason.lower(), f"{what}: audit reason does not say {w!r}: {e}")
        self.assertNotIn("user", {k for k, v in e.items() if v}, f"{what}: a refused association names a user: {e}")

    def attempt_refused(self, token: str, what: str, *reason_words: str):
        res, sop, events = self.store_with_token(token)
        self.assertRefused(res, sop, events, what, reason_words)

    # ------------------------------------------------------------------ cases
    def test_valid_rs256_token_for_an_existing_user_is_accepted_and_the_instance_stored(self):
        res, sop, events = self.store_with_token(self.rs256_token(self.claims()))
        self.assertAccepted(res, sop, events)

    def test_valid_token_with_audience_in_a_list_is_accepted(self):
        token = self.rs256_token(self.claims(aud=["another-service", AUDIENCE]))
        res, sop, events = self.store_with_token(token)
        self.assertAccepted(res, sop, events)

    def test_expired_token_is_refused(self):
        now = int(time.time())
        token = self.rs256_token(self.claims(iat=now - 1200, nbf=now - 1200, exp=now - 600))  # far beyond the skew
        self.attempt_refused(token, "expired token", "expired")

    def test_token_without_exp_is_refused(self):
        self.attempt_refused(self.rs256_token(self.claims(exp=None)), "token without exp", "exp")

    def test_token_signed_by_another_key_is_refused(self):
        token = self.rs256_token(self.claims(), key=self.rogue_key)  # same kid, forged signature
        self.attempt_refused(token, "signature by an unknown key", "signature")

    def test_token_with_a_tampered_payload_is_refused(self):
        good = self.rs256_token(self.claims())
        h, _, s = good.split(".")
        forged = self.remember(h + "." + json_segment(self.claims(sub="admin")) + "." + s)
        self.attempt_refused(forged, "payload changed after signing", "signature")

    def test_alg_none_token_is_refused(self):
        payload = json_segment(self.claims())
        unsigned = self.remember(json_segment({"alg": "none", "typ": "JWT"}) + "." + payload + ".")
        self.attempt_refused(unsigned, "alg=none, empty signature", "JWT")
        # The same with a (valid RS256) signature attached: refused for its algorithm, not for the empty part.
        signing_input = json_segment({"alg": "none", "typ": "JWT", "kid": KID}) + "." + payload
        signed = self.remember(signing_input + "." + b64url(rs256_sign(self.issuer_key, signing_input,
                                                                         self.tmpdir("sign"))))
        self.attempt_refused(signed, "alg=none with a signature", "algorithm")

    def test_hs256_token_keyed_with_the_rsa_public_key_is_refused(self):
        # Algorithm confusion: a verifier that takes alg from the token would check this HMAC with the
        # public key material as the secret, and anyone can compute it.
        signing_input = json_segment({"alg": "HS256", "typ": "JWT", "kid": KID}) + "." + json_segment(self.claims())
        for secret in (rsa_public_pem(self.issuer_key), self.jwks.read_bytes()):
            mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
            token = self.remember(signing_input + "." + b64url(mac))
            self.attempt_refused(token, "HS256 keyed with public key material", "algorithm")

    def test_token_for_another_audience_is_refused(self):
        self.attempt_refused(self.rs256_token(self.claims(aud="some-other-service")), "wrong audience", "audience")

    def test_token_from_another_issuer_is_refused(self):
        self.attempt_refused(self.rs256_token(self.claims(iss="https://evil.test.invalid/")), "wrong issuer",
                             "issuer")

    def test_token_with_an_unknown_key_id_is_refused(self):
        token = self.rs256_token(self.claims(), kid="not-in-the-jwks")
        self.attempt_refused(token, "unknown kid", "key")

    def test_token_not_yet_valid_is_refused(self):
        now = int(time.time())
        token = self.rs256_token(self.claims(nbf=now + 600, exp=now + 1200))
        self.attempt_refused(token, "nbf in the future", "not yet valid")

    def test_valid_token_whose_subject_is_not_a_tresor_user_is_refused(self):
        self.attempt_refused(self.rs256_token(self.claims(sub="ghost_user")), "subject without an account",
                             "not a user")

    def test_tokens_never_appear_in_the_audit_trail_or_the_server_log(self):
        # Make sure this case has an accepted and a refused token of its own, whatever ran before.
        res, sop, events = self.store_with_token(self.rs256_token(self.claims()))
        self.assertAccepted(res, sop, events)
        self.attempt_refused(self.rs256_token(self.claims(aud="elsewhere")), "wrong audience", "audience")
        audit = self.t.audit_text()
        log = "\n".join(self.t.output)
        self.assertGreaterEqual(len(self.tokens), 2)
        for token in self.tokens:
            header, payload, signature = token.split(".")
            for where, text in (("audit trail", audit), ("server log", log)):
                self.assertNotIn(token, text, f"a JWT was written to the {where}")
                self.assertNotIn(payload, text, f"a JWT payload was written to the {where}")
                if signature:
                    self.assertNotIn(signature, text, f"a JWT signature was written to the {where}")


if __name__ == "__main__":
    unittest.main()
