#!/usr/bin/python3
"""Makes test JWTs with python3-jwt (PyJWT), never with the project's code.

  mkjwt.py KEYDIR KIND [SUB] [SCOPE]

KIND: hs | rs | es (valid, per issuer) | expired | future | wrong-aud |
wrong-iss | none | confusion (HS256 signed with the RS256 issuer's public
key PEM) | tampered | bad-b64 | huge | no-exp | unknown-sub | scoped |
short (valid, RS256, expires in 2 s)
"""
import base64
import json
import sys
import time

import jwt

keydir, kind = sys.argv[1], sys.argv[2]
sub = sys.argv[3] if len(sys.argv) > 3 else "acme"
scope = sys.argv[4] if len(sys.argv) > 4 else None
now = int(time.time())
secret = open(keydir + "/hs.secret").read()
rs_priv = open(keydir + "/rs.key").read()
es_priv = open(keydir + "/es.key").read()


def claims(iss="rs-idp", aud="sluice", **extra):
    c = {"sub": sub, "iss": iss, "aud": aud, "iat": now, "exp": now + 300}
    c.update(extra)
    if scope:
        c["scope"] = scope
    return c


def b64(d):
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode()


if kind == "hs":
    t = jwt.encode(claims(iss="hs-idp"), secret, algorithm="HS256")
elif kind == "rs" or kind == "scoped":
    t = jwt.encode(claims(), rs_priv, algorithm="RS256")
elif kind == "es":
    t = jwt.encode(claims(iss="es-idp"), es_priv, algorithm="ES256")
elif kind == "short":
    t = jwt.encode(claims(exp=now + 2), rs_priv, algorithm="RS256")
elif kind == "expired":
    t = jwt.encode(claims(exp=now - 3600), rs_priv, algorithm="RS256")
elif kind == "future":
    t = jwt.encode(claims(nbf=now + 3600), rs_priv, algorithm="RS256")
elif kind == "wrong-aud":
    t = jwt.encode(claims(aud="someone-else"), rs_priv, algorithm="RS256")
elif kind == "wrong-iss":
    t = jwt.encode(claims(iss="evil-idp"), rs_priv, algorithm="RS256")
elif kind == "none":
    t = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + \
        b64(json.dumps(claims()).encode()) + "."
elif kind == "confusion":
    # The classic attack: HS256 keyed with the RS256 issuer's *public* key.
    pub = open(keydir + "/rs.pub").read().encode()
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims()).encode())
    import hashlib, hmac
    sig = hmac.new(pub, (header + "." + body).encode(), hashlib.sha256).digest()
    t = header + "." + body + "." + b64(sig)
elif kind == "tampered":
    h, p, s = jwt.encode(claims(), rs_priv, algorithm="RS256").split(".")
    c = claims()
    c["sub"] = "root"
    t = h + "." + b64(json.dumps(c).encode()) + "." + s
elif kind == "bad-b64":
    h, p, s = jwt.encode(claims(), rs_priv, algorithm="RS256").split(".")
    t = h + "." + p + "!" + "." + s
elif kind == "huge":
    t = jwt.encode(claims(pad="x" * 9000), rs_priv, algorithm="RS256")  # over 8 KiB, under the header limit
elif kind == "no-exp":
    c = claims()
    del c["exp"]
    t = jwt.encode(c, rs_priv, algorithm="RS256")
elif kind == "unknown-sub":
    sub = "nobody"
    t = jwt.encode(claims(), rs_priv, algorithm="RS256")
else:
    sys.exit("unknown kind " + kind)
print(t)
