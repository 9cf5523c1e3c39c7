// A third-party Privacy Pass client (RFC 9576/9577/9578) built on Cloudflare's
// @cloudflare/privacypass-ts, used by tests/integration/test_privacypass_interop.py to show that
// a client which knows nothing of Phoenix finds the issuer from the challenge alone.
//
//   FIREBASE_ID_TOKEN=<id token> node tests/interop/privacypass_client.mjs '<WWW-Authenticate value>'
//
// It is given only the origin's WWW-Authenticate field value (from a 401) and the user's Firebase
// ID token (in the environment, so it never shows in a process listing). It parses the
// PrivateToken challenge with the library, reads issuer_name out of the TokenChallenge, fetches
// that issuer's directory, blinds a token request for the key the challenge names with the
// library, sends it to the directory's issuer-request-uri with the ID token as the Bearer
// credential, finalizes the token with the library and prints it (base64url, padded as RFC 9577
// §2.2.2 requires) as the only line on stdout. Any failure is one line on stderr and exit 1.
//
// The one deviation from RFC 9578: a client fetches https://<issuer_name>/.well-known/…, but
// development has no TLS, so this script uses http. That is also why it does not call the
// library's getIssuerUrl/fetchToken, which hard-code https.

import { publicVerif, TOKEN_TYPES, WWWAuthenticateHeader } from '@cloudflare/privacypass-ts';

const { BlindRSAMode, Client } = publicVerif;
const DIRECTORY_PATH = '/.well-known/private-token-issuer-directory';
const REQUEST_MEDIA_TYPE = 'application/private-token-request';
const RESPONSE_MEDIA_TYPE = 'application/private-token-response';
const TIMEOUT_MS = 20_000; // a name that resolves nowhere must fail, not hang the test

class Refused extends Error {}

function b64urlDecode(text) {
  return new Uint8Array(Buffer.from(text, 'base64url')); // accepts padded and unpadded
}

function b64urlEncode(bytes) {
  const unpadded = Buffer.from(bytes).toString('base64url');
  return unpadded + '='.repeat((4 - (unpadded.length % 4)) % 4);
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

// fetch's own message is "fetch failed"; the reason (ENOTFOUND, ECONNREFUSED…) is in its cause.
async function request(url, init) {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    const cause = error.cause ? `${error.cause.code ?? ''} ${error.cause.message}`.trim() : '';
    throw new Refused(`cannot reach ${url}: ${cause || error.message}`);
  }
}

function blindRsaChallenge(headerValue) {
  let parsed;
  try {
    parsed = WWWAuthenticateHeader.parse(headerValue);
  } catch (error) {
    throw new Refused(`cannot parse the PrivateToken challenge: ${error.message}`);
  }
  const found = parsed.find((entry) => entry.challenge.tokenType === TOKEN_TYPES.BLIND_RSA.value);
  if (found === undefined) {
    throw new Refused('the WWW-Authenticate value has no PrivateToken challenge of token type 2');
  }
  return found;
}

async function issuerDirectory(issuerName) {
  // issuer_name is the issuer's host (and port), as RFC 9578 §4 uses it to build the URL.
  const origin = `http://${issuerName}`;
  const url = `${origin}${DIRECTORY_PATH}`;
  const answer = await request(url, { headers: { Accept: 'application/private-token-issuer-directory' } });
  if (answer.status !== 200) {
    throw new Refused(`the issuer directory at ${url} answered ${answer.status}`);
  }
  let directory;
  try {
    directory = await answer.json();
  } catch {
    throw new Refused(`the issuer directory at ${url} is not JSON`);
  }
  if (typeof directory['issuer-request-uri'] !== 'string' || !Array.isArray(directory['token-keys'])) {
    throw new Refused(`the issuer directory at ${url} lacks issuer-request-uri or token-keys`);
  }
  return { origin, url, directory };
}

// The key the challenge names, if the issuer lists it; else the directory's first type-2 key.
function chooseKey(directory, named) {
  const keys = directory['token-keys']
    .filter((entry) => entry['token-type'] === TOKEN_TYPES.BLIND_RSA.value)
    .map((entry) => b64urlDecode(entry['token-key']));
  if (keys.length === 0) {
    throw new Refused('the issuer directory lists no token-type 2 key');
  }
  return keys.find((key) => named !== undefined && sameBytes(key, named)) ?? keys[0];
}

async function main() {
  const headerValue = process.argv[2];
  const idToken = process.env.FIREBASE_ID_TOKEN;
  if (!headerValue || !idToken) {
    throw new Refused('usage: FIREBASE_ID_TOKEN=… privacypass_client.mjs <WWW-Authenticate value>');
  }
  const header = blindRsaChallenge(headerValue);
  const { origin, url, directory } = await issuerDirectory(header.challenge.issuerName);
  const tokenKey = chooseKey(directory, header.tokenKey);

  const client = new Client(BlindRSAMode.PSS); // RSABSSA-SHA384-PSS-Deterministic: token type 2
  const tokenRequest = await client.createTokenRequest(header.challenge, tokenKey);
  const issuerRequestUri = new URL(directory['issuer-request-uri'], origin).toString();
  const answer = await request(issuerRequestUri, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${idToken}`,
      'Content-Type': REQUEST_MEDIA_TYPE,
      Accept: RESPONSE_MEDIA_TYPE,
    },
    body: tokenRequest.serialize(),
  });
  if (answer.status !== 200) {
    const body = (await answer.text()).replace(/\s+/g, ' ').slice(0, 300);
    throw new Refused(`the issuer (directory ${url}) answered ${answer.status}: ${body}`);
  }
  const mediaType = (answer.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (mediaType !== RESPONSE_MEDIA_TYPE) {
    throw new Refused(`the issuer answered ${mediaType || 'no content type'}, not ${RESPONSE_MEDIA_TYPE}`);
  }
  const response = client.deserializeTokenResponse(new Uint8Array(await answer.arrayBuffer()));
  const token = await client.finalize(response); // verifies the unblinded signature
  process.stdout.write(`${b64urlEncode(token.serialize())}\n`);
}

try {
  await main();
} catch (error) {
  const line = error instanceof Refused ? error.message : `${error.name}: ${error.message}`;
  process.stderr.write(`privacypass_client: ${line.replace(/\s+/g, ' ')}\n`);
  process.exit(1);
}
