# A tool's own check of an assent approval token, with PyJWT and the server's JWKS: the
# README shows this file's verify() as the ten-line verifier; tests/token.rs runs it.
# Usage: python verify.py JWKS_URL ISSUER TOOL PARAMS_JSON TOKEN  (exit 0: valid)
import hashlib, json, sys
import jwt  # PyJWT[crypto]

def verify(token, jwks_url, issuer, tool, params):
    key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token).key
    claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=tool, issuer=issuer,
                        options={"require": ["exp", "iat", "sub", "jti", "args_hash"]})
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if claims["args_hash"] != "sha256:" + hashlib.sha256(canonical.encode()).hexdigest():
        raise jwt.InvalidTokenError("the token approves other params")
    return claims  # refuse a claims["jti"] seen before: one approval, one call

if __name__ == "__main__":
    jwks_url, issuer, tool, params, token = sys.argv[1:6]
    try:
        print(json.dumps(verify(token, jwks_url, issuer, tool, json.loads(params))))
    except jwt.PyJWTError as e:
        print(f"refused: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
