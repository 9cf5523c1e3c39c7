"""Privacy Pass for token type 0x0002 (Blind RSA, 2048-bit), pure functions over bytes.

One module per part of the protocol, each importable alone:

- `structures`: TokenChallenge and Token (RFC 9577 §2.1.1, §2.2.1), the token authenticator
  input (§2.2.3), TokenRequest and TokenResponse for type 0x0002 (RFC 9578 §6.1, §6.2);
- `token_key`: the issuer key encoding and `token_key_id` (RFC 9578 §6.5): a
  SubjectPublicKeyInfo with the id-RSASSA-PSS OID and its parameters, which `cryptography`
  does not produce itself;
- `issuance`: the client's steps (build a request, finalize a response), the issuer's signing
  step and the origin's verification (RFC 9578 §6.3, §6.4);
- `headers`: the `WWW-Authenticate: PrivateToken` and `Authorization: PrivateToken` forms
  (RFC 9577 §2.1.2, §2.2.2), read by the strict RFC 9110 parser of `auth_field`, in the
  padded base64url of `base64url`;
- `errors`: what they raise. Every decoder raises `DecodeError`, and nothing else, on malformed
  input.
"""
