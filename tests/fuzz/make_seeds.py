#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets into corpus/<target>/.

The attack inputs of issue 5 / docs/threat-model.md: PDU length 0xFFFFFFFF,
1,100 nested sequences, Rows x Columns x Frames overflow, a UID containing
'../', a DICOM/JSON polyglot, a gzip (deflate) bomb; plus small valid inputs
for every target; the JPEG 2000 frames of pydicom's test files (python3-pydicom, a build
dependency). Deterministic: re-running rewrites the same bytes.
Usage: make_seeds.py [--pydicom DIR] [OUT]   (OUT defaults to corpus/ here)
With --pydicom, the pydicom test files up to 256 KiB are copied into
OUT/fuzz_dicom_inspect too (done by `make fuzz` in the build directory, not
committed).
"""
import os
import shutil
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- DICOM encoding helpers (Explicit VR Little Endian unless noted) ----
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"}


def pad(value, vr):
    if len(value) % 2:
        value += b"\0" if vr in (b"UI", b"OB") else b" "
    return value


def el(group, elem, vr, value, length=None):
    """Explicit VR LE element; length overrides the encoded length."""
    if vr != b"SQ":
        value = pad(value, vr)
    n = len(value) if length is None else length
    if vr in LONG_VRS:
        return struct.pack("<HH2sHI", group, elem, vr, 0, n) + value
    return struct.pack("<HH2sH", group, elem, vr, n) + value


def iel(group, elem, value, length=None):
    """Implicit VR LE element."""
    n = len(value) if length is None else length
    return struct.pack("<HHI", group, elem, n) + value


def us(v):
    return struct.pack("<H", v)


def ul(v):
    return struct.pack("<I", v)


ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
SEQ_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)

CT = b"1.2.840.10008.5.1.4.1.1.2"
MR = b"1.2.840.10008.5.1.4.1.1.4"
EXPLICIT_LE = b"1.2.840.10008.1.2.1"
IMPLICIT_LE = b"1.2.840.10008.1.2"
DEFLATED = b"1.2.840.10008.1.2.1.99"


def meta(sop_class, sop_instance, ts):
    body = (el(0x0002, 0x0001, b"OB", b"\0\1") + el(0x0002, 0x0002, b"UI", sop_class) +
            el(0x0002, 0x0003, b"UI", sop_instance) + el(0x0002, 0x0010, b"UI", ts) +
            el(0x0002, 0x0012, b"UI", b"1.2.826.0.1.3680043.10.1") )
    return el(0x0002, 0x0000, b"UL", ul(len(body))) + body


def part10(dataset, sop_instance=b"1.2.3.4.5.6.1", ts=EXPLICIT_LE, preamble=b"\0" * 128, sop_class=CT):
    return preamble + b"DICM" + meta(sop_class, sop_instance, ts) + dataset


def ids(study=b"1.2.3.4", series=b"1.2.3.4.5", sop=b"1.2.3.4.5.6.1", sop_class=CT):
    return (el(0x0008, 0x0016, b"UI", sop_class) + el(0x0008, 0x0018, b"UI", sop) +
            el(0x0008, 0x0060, b"CS", b"CT") + el(0x0010, 0x0010, b"PN", b"Doe^John") +
            el(0x0010, 0x0020, b"LO", b"P1") + el(0x0020, 0x000D, b"UI", study) +
            el(0x0020, 0x000E, b"UI", series))


def image(rows, cols, frames, bits_alloc, bits_stored, high_bit, spp, photometric, pixel, extra=b"",
          pixel_vr=b"OW", pixel_len=None):
    ds = (el(0x0028, 0x0002, b"US", us(spp)) + el(0x0028, 0x0004, b"CS", photometric) +
          (el(0x0028, 0x0008, b"IS", str(frames).encode()) if frames is not None else b"") +
          el(0x0028, 0x0010, b"US", us(rows)) + el(0x0028, 0x0011, b"US", us(cols)) +
          el(0x0028, 0x0100, b"US", us(bits_alloc)) + el(0x0028, 0x0101, b"US", us(bits_stored)) +
          el(0x0028, 0x0102, b"US", us(high_bit)) + el(0x0028, 0x0103, b"US", us(0)) + extra)
    return ds + el(0x7FE0, 0x0010, pixel_vr, pixel, pixel_len)


def nested_sequences(depth):
    # (0008,1115) ReferencedSeriesSequence nested `depth` times, undefined lengths.
    inner = b""
    for _ in range(depth):
        inner = struct.pack("<HH2sHI", 0x0008, 0x1115, b"SQ", 0, 0xFFFFFFFF) + ITEM + inner + ITEM_END + SEQ_END
    return inner


def dicom_seeds():
    s = {}
    base = ids()
    s["valid_ct_8bit.dcm"] = part10(base + image(4, 4, None, 8, 8, 7, 1, b"MONOCHROME2", bytes(range(16))))
    s["valid_mr_16bit_2frames.dcm"] = part10(base + image(2, 2, 2, 16, 12, 11, 1, b"MONOCHROME2", b"\x01\x00" * 8))
    s["valid_rgb.dcm"] = part10(base + image(2, 2, None, 8, 8, 7, 3, b"RGB", bytes(12),
                                             extra=el(0x0028, 0x0006, b"US", us(0))))
    s["implicit_no_meta.dcm"] = b"".join([
        iel(0x0008, 0x0016, pad(CT, b"UI")), iel(0x0008, 0x0018, pad(b"1.2.3.4.5.6.1", b"UI")),
        iel(0x0020, 0x000D, pad(b"1.2.3.4", b"UI")), iel(0x0020, 0x000E, pad(b"1.2.3.4.5", b"UI"))])
    # 1,100 nested sequences (about 1,000 crashed DCMTK's recursive parser).
    s["nested_sequences_1100.dcm"] = part10(base + nested_sequences(1100))
    s["nested_sequences_1100_implicit.dcm"] = part10(
        b"".join([iel(0x0008, 0x0016, pad(CT, b"UI")), iel(0x0008, 0x0018, pad(b"1.2.3.4.5.6.1", b"UI")),
                  iel(0x0020, 0x000D, pad(b"1.2.3.4", b"UI")), iel(0x0020, 0x000E, pad(b"1.2.3.4.5", b"UI"))]) +
        b"".join(struct.pack("<HHI", 0x0008, 0x1115, 0xFFFFFFFF) + ITEM for _ in range(1100)),
        ts=IMPLICIT_LE)
    # Rows x Columns x Frames overflow: 65535 x 65535 x 2^31-1 x 3 x 2 bytes; 16 bytes of pixel data.
    s["rows_cols_frames_overflow.dcm"] = part10(base + image(65535, 65535, 2147483647, 16, 16, 15, 3, b"RGB", bytes(16),
                                                             extra=el(0x0028, 0x0006, b"US", us(1))))
    s["rows_cols_32bit_wrap.dcm"] = part10(base + image(65535, 65535, 65537, 8, 8, 7, 1, b"MONOCHROME2", bytes(16)))
    s["bits_stored_gt_allocated.dcm"] = part10(base + image(4, 4, 1, 8, 16, 15, 1, b"MONOCHROME2", bytes(16)))
    s["bits_allocated_1.dcm"] = part10(base + image(8, 8, 3, 1, 1, 0, 1, b"MONOCHROME2", bytes(24)))
    s["bits_allocated_odd.dcm"] = part10(base + image(3, 3, 1, 13, 40, 39, 1, b"MONOCHROME2", bytes(18)))
    s["zero_rows.dcm"] = part10(base + image(0, 4, 1, 8, 8, 7, 1, b"MONOCHROME2", bytes(4)))
    s["palette_bad_descriptor.dcm"] = part10(base + image(
        2, 2, 1, 8, 8, 7, 1, b"PALETTE COLOR", bytes(4),
        extra=(el(0x0028, 0x1101, b"US", us(0) + us(0xFFFF) + us(16)) + el(0x0028, 0x1102, b"US", us(0) + us(0) + us(16)) +
               el(0x0028, 0x1103, b"US", us(4) + us(0) + us(16)) + el(0x0028, 0x1201, b"OW", bytes(8)) +
               el(0x0028, 0x1202, b"OW", bytes(8)) + el(0x0028, 0x1203, b"OW", bytes(8)))))
    s["pixel_length_past_eof.dcm"] = part10(base + image(4, 4, 1, 8, 8, 7, 1, b"MONOCHROME2", bytes(16), pixel_len=0xFFFFFFF0))
    frag = struct.pack("<HHI", 0xFFFE, 0xE000, 0) + struct.pack("<HHI", 0xFFFE, 0xE000, 4) + b"\xff\xd8\xff\xd9" + SEQ_END
    s["encapsulated_frames_mismatch.dcm"] = part10(base + image(512, 512, 1000, 8, 8, 7, 1, b"MONOCHROME2", frag,
                                                                pixel_vr=b"OB", pixel_len=0xFFFFFFFF),
                                                   ts=b"1.2.840.10008.1.2.4.50")
    # A UID with a path in it (CVE-2022-2119/2120 pattern): must be refused.
    evil = b"../../../../etc/passwd"
    s["uid_dotdot_sop.dcm"] = part10(ids(sop=evil) + image(1, 1, None, 8, 8, 7, 1, b"MONOCHROME2", b"\0\0"),
                                     sop_instance=evil)
    s["uid_dotdot_study.dcm"] = part10(ids(study=b"1.2/../../x") + image(1, 1, None, 8, 8, 7, 1, b"MONOCHROME2", b"\0\0"))
    # DICOM/JSON polyglot (CVE-2023-33466): a JSON document in the preamble.
    js = b'{"RemoteAccessAllowed":true,"AuthenticationEnabled":false,"x":"'
    preamble = (js + b" " * (127 - len(js)) + b'"')[:127] + b"}"
    s["polyglot_json_preamble.dcm"] = part10(base + image(1, 1, None, 8, 8, 7, 1, b"MONOCHROME2", b"\0\0"),
                                             preamble=preamble)
    s["polyglot_json_value.dcm"] = part10(base + el(0x0008, 0x1030, b"LO", b'"},{"00100010":{"vr":"PN"}}]//') +
                                          el(0x0010, 0x4000, b"LT", b"\",\"\\u0000</script>\x00\xff\xfe"))
    # Deflate bomb: 64 MiB of zero elements compressed to ~64 KiB (capped at max_object_bytes).
    raw = base + el(0x0009, 0x1010, b"UN", b"", length=0) + b"\0" * (64 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    s["deflate_bomb.dcm"] = part10(c.compress(raw) + c.flush(), ts=DEFLATED)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    s["deflated_small.dcm"] = part10(c.compress(base + image(2, 2, None, 8, 8, 7, 1, b"MONOCHROME2", bytes(4))) + c.flush(),
                                     ts=DEFLATED)
    s["gzip_header_bomb.dcm"] = part10(zlib.compress(b"\0" * (16 << 20), 9), ts=DEFLATED)
    s["truncated_element.dcm"] = part10(base + struct.pack("<HH2sH", 0x0010, 0x0010, b"PN", 200) + b"Doe")
    s["un_sequence_cp246.dcm"] = part10(base + struct.pack("<HH2sHI", 0x0009, 0x1010, b"UN", 0, 0xFFFFFFFF) +
                                        b"".join(ITEM for _ in range(200)))
    s["charset_iso2022.dcm"] = part10(el(0x0008, 0x0005, b"CS", b"\\ISO 2022 IR 87") + ids()[:0] + base +
                                      el(0x0008, 0x0080, b"LO", b"\x1b$B;3ED\x1b(B\xff"))
    return s


# ---- DIMSE command sets (group 0000, Implicit VR LE) ----
def command(fields):
    body = b"".join(iel(0x0000, e, v) for e, v in fields)
    return iel(0x0000, 0x0000, ul(len(body))) + body


def dimse_seeds():
    s = {}
    echo = [(0x0002, pad(b"1.2.840.10008.1.1", b"UI")), (0x0100, us(0x0030)), (0x0110, us(1)), (0x0800, us(0x0101))]
    store = [(0x0002, pad(CT, b"UI")), (0x0100, us(0x0001)), (0x0110, us(7)), (0x0700, us(0)),
             (0x0800, us(0x0000)), (0x1000, pad(b"1.2.3.4.5.6.1", b"UI"))]
    find = [(0x0002, b"1.2.840.10008.5.1.4.1.2.2.1\0"), (0x0100, us(0x0020)), (0x0110, us(3)), (0x0700, us(0)),
            (0x0800, us(0x0000))]
    move = [(0x0002, b"1.2.840.10008.5.1.4.1.2.2.2\0"), (0x0100, us(0x0021)), (0x0110, us(4)), (0x0600, b"DEST\\\x01\x7f EVIL "),
            (0x0700, us(0)), (0x0800, us(0x0000))]
    for name, f in {"c_echo_rq": echo, "c_store_rq": store, "c_find_rq": find, "c_move_rq": move}.items():
        for frags in (0, 2):
            s[f"{name}_{frags + 1}pdv.bin"] = bytes([frags]) + command(f)
    s["length_ffffffff.bin"] = b"\0" + command(echo[:2]) + struct.pack("<HHI", 0x0000, 0x0902, 0xFFFFFFFF) + b"x" * 16
    s["group_length_lies.bin"] = b"\0" + iel(0x0000, 0x0000, ul(0xFFFFFFF0)) + b"".join(iel(0, e, v) for e, v in echo)
    s["nested_sequences_1100.bin"] = b"\0" + command(echo) + b"".join(
        struct.pack("<HHI", 0x0000, 0x1234, 0xFFFFFFFF) + ITEM for _ in range(1100))
    s["error_comment_long.bin"] = b"\0" + command(echo + [(0x0902, b"A\\B\n" * 40)])
    s["store_uid_dotdot.bin"] = b"\1" + command(store[:-1] + [(0x1000, b"../../etc/passwd")])
    return s


# ---- PDUs (PS3.8 9.3) ----
def item(t, payload):
    return struct.pack(">BBH", t, 0, len(payload)) + payload


def assoc_rq(contexts, user_items=b"", called=b"TRESOR", calling=b"MODALITY", pdu_len=None):
    var = item(0x10, b"1.2.840.10008.3.1.1.1")
    for i, (abstract, tss) in enumerate(contexts):
        var += item(0x20, bytes([1 + 2 * i, 0, 0, 0]) + item(0x30, abstract) + b"".join(item(0x40, t) for t in tss))
    var += item(0x50, item(0x51, struct.pack(">I", 16384)) + item(0x52, b"1.2.826.0.1.3680043.10.1") + user_items)
    body = struct.pack(">HH", 1, 0) + called.ljust(16) + calling.ljust(16) + b"\0" * 32 + var
    return struct.pack(">BBI", 0x01, 0, len(body) if pdu_len is None else pdu_len) + body


def pdu_seeds():
    s = {}
    ctx = [(b"1.2.840.10008.1.1", [IMPLICIT_LE]), (CT, [EXPLICIT_LE, IMPLICIT_LE, b"1.2.840.10008.1.2.4.50"]),
           (b"1.2.840.10008.5.1.4.1.2.2.1", [EXPLICIT_LE])]
    s["associate_rq.bin"] = assoc_rq(ctx)
    uid_item = struct.pack(">BBH", 0x58, 0, 0)
    ident = bytes([1, 1]) + struct.pack(">H", 5) + b"alice" + struct.pack(">H", 6) + b"s3cret"
    s["associate_rq_user_identity.bin"] = assoc_rq(ctx, item(0x58, ident))
    jwt = bytes([5, 0]) + struct.pack(">H", 40) + b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0." + b"....."
    s["associate_rq_jwt_identity.bin"] = assoc_rq(ctx, item(0x58, jwt))
    s["associate_rq_identity_len_lies.bin"] = assoc_rq(ctx, struct.pack(">BBH", 0x58, 0, 0xFFFF) + bytes([1, 0, 0xFF, 0xFF]))
    s["pdu_length_ffffffff.bin"] = assoc_rq(ctx, pdu_len=0xFFFFFFFF)
    s["pdu_length_zero.bin"] = assoc_rq(ctx, pdu_len=0)
    s["item_length_past_pdu.bin"] = assoc_rq([(b"1.2.840.10008.1.1", [IMPLICIT_LE])])[:-8] + struct.pack(">BBH", 0x40, 0, 0xFFF0)
    s["many_contexts.bin"] = assoc_rq([(CT, [EXPLICIT_LE])] * 128)
    s["context_no_transfer_syntax.bin"] = assoc_rq([(CT, [])])
    s["ae_titles_control_chars.bin"] = assoc_rq(ctx, called=b"TRE\\SOR\x01", calling=b"\x00\x7f\xff MOD")
    s["uid_overlong.bin"] = assoc_rq([(b"1." * 200, [EXPLICIT_LE])])
    s["p_data_first.bin"] = struct.pack(">BBI", 0x04, 0, 10) + struct.pack(">IBB", 4, 1, 3) + b"\0\0\0\0"
    s["release_rq_first.bin"] = struct.pack(">BBI", 0x05, 0, 4) + b"\0\0\0\0"
    s["unknown_pdu_type.bin"] = struct.pack(">BBI", 0x99, 0, 4) + b"\0\0\0\0"
    s["truncated_header.bin"] = b"\x01\x00\x00\x00"
    s["associate_rq_then_garbage.bin"] = assoc_rq(ctx) + struct.pack(">BBI", 0x04, 0, 0xFFFFFFFF) + b"\0" * 32
    return s


def multipart_seeds():
    s = {}
    ct = b'multipart/related; type="application/dicom"; boundary=XyZ\n'
    def part(b, headers, body):
        return b"--" + b + b"\r\n" + headers + b"\r\n" + body + b"\r\n"
    two = part(b"XyZ", b"Content-Type: application/dicom\r\n", b"\0" * 20 + b"DICM") + \
          part(b"XyZ", b"Content-Type: application/dicom\r\nContent-Location: x\r\n", b"\r\n--XyZ-not-a-delimiter") + b"--XyZ--\r\n"
    s["two_parts.bin"] = ct + two
    s["quoted_boundary.bin"] = b'multipart/related; boundary="a b:c=d"; type=application/dicom+json\n' + \
        part(b"a b:c=d", b"Content-Type: application/dicom+json\r\n", b"{}") + b"--a b:c=d--"
    s["preamble_epilogue.bin"] = ct + b"preamble\r\n" + part(b"XyZ", b"X: y\r\n", b"data") + b"--XyZ--\r\nepilogue"
    s["missing_close.bin"] = ct + part(b"XyZ", b"Content-Type: application/dicom\r\n", b"data")
    s["header_no_colon.bin"] = ct + b"--XyZ\r\nno colon here\r\n\r\ndata\r\n--XyZ--"
    s["huge_header.bin"] = ct + b"--XyZ\r\nX: " + b"a" * 4000 + b"\r\n\r\nd\r\n--XyZ--"
    s["many_parts.bin"] = ct + b"".join(part(b"XyZ", b"", b"") for _ in range(70)) + b"--XyZ--"
    s["boundary_71_chars.bin"] = b"multipart/related; boundary=" + b"b" * 71 + b"\n--" + b"b" * 71 + b"\r\n\r\n\r\n--" + b"b" * 71 + b"--"
    s["empty_boundary.bin"] = b"multipart/related; boundary=\"\"\n--\r\n\r\n\r\n----"
    s["lf_only.bin"] = ct + b"--XyZ\nContent-Type: a/b\n\ndata\n--XyZ--\n"
    # First byte: chunk size of the split run (1 + byte % 97).
    out = {}
    for name, v in s.items():
        out[name] = b"\x04" + v
        out[name.replace(".bin", "_chunk1.bin")] = b"\x00" + v
    return out


def accept_seeds():
    return {f"a{i:02d}.txt": v for i, v in enumerate([
        b"application/dicom+json", b"*/*", b"multipart/related; type=\"application/dicom\"; transfer-syntax=*",
        b"application/json;q=0.5, application/dicom+json;q=0.9", b"image/*;q=0, */*;q=0.001",
        b"text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8",
        b"multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.1, image/jpeg;q=1.0",
        b"a/b;q=2", b"a/b;q=nan, c/d;q=inf, e/f;q=-1, g/h;q=1e400, i/j;q=0x1p-2",
        b"a/b; q=\"0.5\"; x=\"\\\"quoted,comma\\\"\"", b",,,;;;===", b"\"unterminated, a/b",
        b"application/dicom+json" + b", a/b" * 100])}


def qido_seeds():
    return {f"q{i:02d}.txt": v for i, v in enumerate([
        b"PatientName=Doe*", b"PatientName=D%C3%BCller*&charset=ISO_IR%20100",
        b"StudyDate=20200101-20201231&limit=5&offset=1", b"StudyDate=-20200102&StudyTime=1200-",
        b"StudyInstanceUID=1.2.3.0,1.2.3.1&includefield=all", b"00100020=P1&00080060=CT",
        b"PatientID=P%25&PatientName=O%27Brien*", b"PatientName=%00", b"PatientName=%zz",
        b"PatientName=*?*?\\*&AccessionNumber=A?", b"ModalitiesInStudy=CT\\MR&fuzzymatching=true",
        b"PatientName=%1B%24B%3B3ED%1B%28B&charset=%5CISO%202022%20IR%2087",
        b"PatientName=\xff\xfe&charset=ISO_IR%20192", b"StudyDate=2020-&StudyDate=-1999",
        b"PatientBirthDate=19700101-19700102&PatientName=Doe%5EJohn",
        b"SOPInstanceUID=1.2.3.0.1.1,../../x&StudyInstanceUID=1.2.3.0", b"&&&==&a=&=b",
        b"PatientName=" + b"*" * 1000])}


def jwt_seeds():
    import json
    now = 1_800_000_000
    good = {"sub": "alice", "iss": "https://idp.example.org/realms/pacs", "aud": "tresor", "exp": now + 300,
            "iat": now - 10, "roles": ["clinician"]}
    out = {}
    out["signed_valid.bin"] = b"\x02" + json.dumps(good).encode()
    variants = {
        "aud_list": dict(good, aud=["x", "tresor"]), "expired": dict(good, exp=now - 1),
        "nbf_future": dict(good, nbf=now + 100), "exp_float": dict(good, exp=1e308),
        "exp_huge": dict(good, exp=2**63), "exp_negative": dict(good, exp=-2**63),
        "exp_string": dict(good, exp="1800000300"), "roles_mixed": dict(good, roles=["a", 1, None, {"x": 1}]),
        "iss_wrong": dict(good, iss="https://evil"), "sub_missing": {k: v for k, v in good.items() if k != "sub"},
    }
    for name, claims in variants.items():
        out[f"signed_{name}.bin"] = b"\x02" + json.dumps(claims).encode()
    out["signed_header_alg_none.bin"] = b"\x01" + b'{"alg":"none","kid":"ec-1"}\n' + json.dumps(good).encode()
    out["signed_header_kid_rsa.bin"] = b"\x01" + b'{"alg":"ES256","kid":"rsa-1"}\n' + json.dumps(good).encode()
    out["signed_header_crit.bin"] = b"\x01" + b'{"alg":"ES256","crit":["exp"]}\n' + json.dumps(good).encode()
    out["signed_nested_json.bin"] = b"\x02" + b'{"sub":' + b"[" * 3000 + b"]" * 3000 + b"}"
    out["raw_alg_none.bin"] = b"\x00eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."
    out["raw_hs256.bin"] = b"\x00eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
    out["raw_bad_base64.bin"] = b"\x00e$J.h==.=="
    out["raw_too_many_dots.bin"] = b"\x00a.b.c.d"
    out["raw_oversized.bin"] = b"\x00" + b"A" * 9000 + b".B.C"
    return out


def admin_api_seeds():
    # byte 0: route (fuzz_admin_api.cpp kTargets), then "path segment\n", then the body
    def seed(route, segment, body):
        return bytes([route]) + segment + b"\n" + body
    peer = (b'{"ae_title":"MOD1","hosts":["10.0.0.5"],"port":104,"operations":["echo","store"],'
            b'"cert_sha256":"' + b"ab" * 32 + b'","require_user_identity":true,"allow_plaintext":false,'
            b'"unlimited_find":false,"scope":{"institutions":["North"],"referring_physicians":[],"labels":["x"]}}')
    seeds = [
        seed(0, b"alice", b'{"roles":["clinician","researcher"],"enabled":false,"scope":{"institutions":["A"]}}'),
        seed(0, b"alice", b'{"roles":[],"scope":null}'), seed(0, b"nobody", b'{"enabled":"yes"}'),
        seed(0, b"alice", b'{"roles":["admin"],"scope":{"labels":["' + b"L" * 5000 + b'"]}}'),
        seed(1, b"", peer), seed(1, b"", peer.replace(b"10.0.0.5", b"999.1.1.1")),
        seed(1, b"", b'{"ae_title":"' + b"A" * 17 + b'","hosts":[],"operations":["admin"]}'),
        seed(1, b"", b'{"ae_title":"X","hosts":["1.2.3.4"],"port":65536,"operations":"echo"}'),
        seed(1, b"", b'[' * 2000 + b']' * 2000), seed(1, b"", b'{"ae_title":"\u0000\ud800"}'),
        seed(2, b"MOD1", b""), seed(2, b"..%2F..", b""),
        seed(3, b"", b'{"name":"script","days":30}'), seed(3, b"", b'{"name":"x","days":-1}'),
        seed(3, b"", b'{"name":"' + b"n" * 300 + b'","days":1e308}'),
        seed(4, b"tok-1", b""),
        seed(5, b"1.2.3", b'{"labels":["teaching","research"]}'), seed(5, b"1.2.3", b'{"labels":[1,null,{}]}'),
        seed(5, b"../1.2", b'{"labels":[]}'), seed(6, b"1.2.3", b""),
        seed(7, b"bob", b""), seed(8, b"1", b""), seed(8, b"-1", b""), seed(9, b"99999999999999999999", b""),
        seed(10, b"", b"limit=5&type=admin&actor=fuzzadmin&outcome=failure"), seed(10, b"", b"limit=-1&since=%zz"),
    ]
    return {f"a{i:02d}.bin": v for i, v in enumerate(seeds)}


PYDICOM_FILES = "/usr/lib/python3/dist-packages/pydicom/data/test_files"


def j2k_seeds():
    """First frames of pydicom's JPEG 2000 files (lossless, lossy, YBR_RCT colour, RGB), the
    lossless one in a JP2 file, truncated, and with a SIZ marker declaring 60,000 x 60,000."""
    import pydicom
    from pydicom.encaps import generate_pixel_data_frame

    def frame(name):
        ds = pydicom.dcmread(os.path.join(PYDICOM_FILES, name))
        return next(generate_pixel_data_frame(ds.PixelData, int(ds.get("NumberOfFrames", 1) or 1)))

    def box(kind, body):
        return struct.pack(">I", 8 + len(body)) + kind + body

    mr = frame("MR_small_jp2klossless.dcm")
    ihdr = box(b"ihdr", struct.pack(">IIHBBBB", 64, 64, 1, 0x80 | 15, 7, 0, 0))
    jp2 = (box(b"jP  ", b"\r\n\x87\n") + box(b"ftyp", b"jp2 " + struct.pack(">I", 0) + b"jp2 ")
           + box(b"jp2h", ihdr + box(b"colr", b"\x01\x00\x00" + struct.pack(">I", 17))) + box(b"jp2c", mr))
    huge = bytearray(mr)
    huge[8:16] = struct.pack(">II", 60000, 60000)
    return {
        "mr_small_lossless.j2k": mr, "jpeg2000_lossy_16bit.j2k": frame("JPEG2000.dcm"),
        "rgb_lossy.j2k": frame("SC_rgb_gdcm_KY.dcm"), "ybr_rct.j2k": frame("GDCMJ2K_TextGBR.dcm"),
        "mr_small.jp2": jp2, "mr_small_truncated.j2k": mr[: len(mr) // 2], "siz_60000.j2k": bytes(huge),
    }


TARGETS = {
    "fuzz_dicom_inspect": dicom_seeds, "fuzz_dimse_command": dimse_seeds, "fuzz_dimse_pdu": pdu_seeds,
    "fuzz_multipart": multipart_seeds, "fuzz_accept": accept_seeds, "fuzz_qido": qido_seeds, "fuzz_jwt": jwt_seeds,
    "fuzz_admin_api": admin_api_seeds, "fuzz_j2k": j2k_seeds,
}


def main(argv):
    pydicom_dir = None
    if len(argv) > 1 and argv[1] == "--pydicom":
        pydicom_dir = argv[2]
        argv = argv[:1] + argv[3:]
    out = argv[1] if len(argv) > 1 else os.path.join(HERE, "corpus")
    for target, make in TARGETS.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in make().items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
    if pydicom_dir:
        d = os.path.join(out, "fuzz_dicom_inspect")
        for name in sorted(os.listdir(pydicom_dir)):
            p = os.path.join(pydicom_dir, name)
            if os.path.isfile(p) and os.path.getsize(p) <= 256 * 1024:
                shutil.copyfile(p, os.path.join(d, "pydicom_" + name))


if __name__ == "__main__":
    main(sys.argv)
