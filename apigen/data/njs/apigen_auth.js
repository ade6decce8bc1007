// apigen authentication for NGINX OSS (njs >= 0.7.9), called through `auth_request`.
//
// The requirement of an operation is an OR of alternatives, each an AND of schemes (OpenAPI
// security requirements); every scheme names a policy of the generated configuration module.
// JWT keys are pinned to one algorithm each: the token's `alg` header only selects among keys
// of that algorithm, so `alg: none` and an RSA public key used as an HMAC secret never verify.
// njs 0.7.9: no `?.`, no destructuring, no spread, no class, no `jwk` key import.
import conf from 'apigen_auth_config.js';

var HASH = {'256': 'SHA-256', '384': 'SHA-384', '512': 'SHA-512'};

function algParams(alg) {
    var family = alg.slice(0, 2);
    var bits = alg.slice(2);
    var hash = HASH[bits];
    if (family === 'HS') {
        return {imp: {name: 'HMAC', hash: hash}, ver: {name: 'HMAC'}, format: 'raw'};
    }
    if (family === 'RS') {
        return {imp: {name: 'RSASSA-PKCS1-v1_5', hash: hash}, ver: {name: 'RSASSA-PKCS1-v1_5'}, format: 'spki'};
    }
    if (family === 'PS') {
        return {imp: {name: 'RSA-PSS', hash: hash}, ver: {name: 'RSA-PSS', saltLength: Number(bits) / 8},
                format: 'spki'};
    }
    var curve = bits === '256' ? 'P-256' : 'P-384';
    return {imp: {name: 'ECDSA', namedCurve: curve}, ver: {name: 'ECDSA', hash: hash}, format: 'spki',
            sigLen: bits === '256' ? 64 : 96};
}

function b64url(text) {
    if (!/^[A-Za-z0-9_-]*$/.test(text)) {
        throw new Error('bad base64url');
    }
    return Buffer.from(text, 'base64url');
}

function firstHeader(r, name) {
    var raw = r.rawHeadersIn;
    var lower = name.toLowerCase();
    for (var i = 0; i < raw.length; i++) {
        if (raw[i][0].toLowerCase() === lower) {
            return raw[i][1];
        }
    }
    return undefined;
}

function tokenOf(r, src) {
    var value;
    if (src.from === 'bearer') {
        value = r.headersIn['Authorization'];
        if (!value) {
            return null;
        }
        var m = /^Bearer +([^ ]+) *$/i.exec(value);
        return m ? m[1] : '';
    }
    if (src.from === 'header') {
        // The first copy of a repeated header, as $http_<name> (the cache key, and what the
        // upstream gets); headersIn would join the copies.
        value = firstHeader(r, src.name);
    } else if (src.from === 'query') {
        value = r.variables['apigen_arg_' + src.name];  // $arg_* is empty in a subrequest
    } else {
        value = r.variables['cookie_' + src.name];
    }
    return value ? value : null;
}

// Resolves to {ok, claims} or {ok: false, present, error}.
async function verifyJwt(r, pol) {
    var token = tokenOf(r, pol.token);
    if (token === null) {
        return {ok: false, present: false};
    }
    if (pol.token.dup && r.variables[pol.token.dup] === '1') {
        // $cookie_<name> is the first copy; the upstream would get both (see auth_files.py).
        r.log('apigen: JWT rejected (' + pol.name + '): token cookie sent more than once');
        return {ok: false, present: true, error: 'invalid_token'};
    }
    try {
        var parts = token.split('.');
        if (parts.length !== 3) {
            throw new Error('not a JWS compact token');
        }
        var header = JSON.parse(b64url(parts[0]).toString());
        var claims = JSON.parse(b64url(parts[1]).toString());
        if (typeof header !== 'object' || header === null || typeof claims !== 'object' || claims === null) {
            throw new Error('header or payload is not an object');
        }
        if (header.crit !== undefined) {
            // RFC 7515 4.1.11: extensions listed as critical must be understood; none is here
            // (such tokens were accepted; found by a hunt).
            throw new Error('unsupported critical header parameters');
        }
        var sig = b64url(parts[2]);
        var data = Buffer.from(parts[0] + '.' + parts[1]);
        var verified = false;
        for (var i = 0; i < pol.keys.length && !verified; i++) {
            var key = pol.keys[i];
            if (key.alg !== header.alg) {
                continue;  // pinned algorithm: the token cannot pick another one
            }
            if (header.kid !== undefined && key.kid !== null && key.kid !== header.kid) {
                continue;
            }
            var p = algParams(key.alg);
            if (p.sigLen && sig.length !== p.sigLen) {
                continue;
            }
            var material = Buffer.from(key.data, 'base64');
            var ck = await crypto.subtle.importKey(p.format, material, p.imp, false, ['verify']);
            verified = await crypto.subtle.verify(p.ver, ck, sig, data);
        }
        if (!verified) {
            throw new Error('signature not verified');
        }
        var now = Math.floor(Date.now() / 1000);
        if (claims.exp === undefined) {
            if (pol.require_exp) {
                throw new Error('no exp claim');
            }
        } else if (typeof claims.exp !== 'number' || now > claims.exp + pol.leeway) {
            throw new Error('expired');
        }
        if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || now + pol.leeway < claims.nbf)) {
            throw new Error('not yet valid');
        }
        if (pol.issuers.length && pol.issuers.indexOf(claims.iss) < 0) {
            throw new Error('issuer not accepted');
        }
        if (pol.audiences.length) {
            var aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
            var found = false;
            for (var j = 0; j < aud.length; j++) {
                if (pol.audiences.indexOf(aud[j]) >= 0) {
                    found = true;
                }
            }
            if (!found) {
                throw new Error('audience not accepted');
            }
        }
        return {ok: true, claims: claims};
    } catch (e) {
        r.log('apigen: JWT rejected (' + pol.name + '): ' + e.message);
        return {ok: false, present: true, error: 'invalid_token'};
    }
}

function scopesOf(claims) {
    var out = [];
    if (typeof claims.scope === 'string') {
        out = claims.scope.split(' ');
    }
    if (Array.isArray(claims.scp)) {
        out = out.concat(claims.scp);
    } else if (typeof claims.scp === 'string') {
        out = out.concat(claims.scp.split(' '));
    }
    return out;
}

function missingScopes(claims, wanted) {
    var have = scopesOf(claims);
    var missing = [];
    for (var i = 0; i < wanted.length; i++) {
        if (have.indexOf(wanted[i]) < 0) {
            missing.push(wanted[i]);
        }
    }
    return missing;
}

function claimRulesPass(claims, rules) {
    for (var i = 0; i < rules.length; i++) {
        var value = claims[rules[i].claim];
        var values = Array.isArray(value) ? value : [value];
        var ok = false;
        for (var j = 0; j < values.length; j++) {
            if (rules[i].values.indexOf(values[j]) >= 0) {
                ok = true;
            }
        }
        if (!ok) {
            return false;
        }
    }
    return true;
}

function headerSafe(value) {
    var text = typeof value === 'string' ? value : JSON.stringify(value);
    return text.replace(/[\x00-\x1f\x7f]/g, ' ');
}

// One scheme of an alternative: {status: 'ok'|'absent'|'invalid', claims?}
async function checkScheme(r, pol) {
    if (pol.type === 'jwt') {
        var res = await verifyJwt(r, pol);
        if (res.ok) {
            return {status: 'ok', claims: res.claims};
        }
        return {status: res.present ? 'invalid' : 'absent'};
    }
    if (pol.type === 'api_key') {
        if (pol.dup && r.variables[pol.dup] === '1') {
            // $cookie_<name> is the first copy; the upstream would get both (see auth_files.py).
            r.log('apigen: API key rejected (' + pol.name + '): key cookie sent more than once');
            return {status: 'invalid'};
        }
        if (r.variables[pol.variable]) {
            return {status: 'ok'};
        }
        return {status: r.variables[pol.source] ? 'invalid' : 'absent'};
    }
    if (pol.type === 'basic') {
        // Basic credentials were checked by auth_basic in this location's access phase (a bad
        // password never gets here); njs cannot make a subrequest from an auth subrequest.
        var authz = r.headersIn['Authorization'];
        return {status: authz && /^Basic /i.test(authz) ? 'ok' : 'absent'};
    }
    // mtls
    if (r.variables.ssl_client_verify === 'SUCCESS') {
        return {status: 'ok'};
    }
    // "NONE" over TLS without a certificate, empty over plain HTTP: nothing was presented.
    var verify = r.variables.ssl_client_verify;
    return {status: verify && verify !== 'NONE' ? 'invalid' : 'absent'};
}

function challenge(pol, invalid) {
    var realm = 'realm="' + pol.realm + '"';
    if (pol.type === 'jwt') {
        return 'Bearer ' + realm + (invalid ? ', error="invalid_token"' : '');
    }
    if (pol.type === 'api_key') {
        return 'ApiKey ' + realm + ', in="' + pol.in + '", name="' + pol.param + '"';
    }
    if (pol.type === 'basic') {
        return 'Basic ' + realm + ', charset="UTF-8"';
    }
    return 'ClientCertificate ' + realm;
}

// Behind the verification cache (apigen/policies/auth_cache.py): how long this success may be
// reused, never past the exp of a token it relied on. No header (not cached) when <= 0.
function cacheFor(r, req, results, checked) {
    var ttl = req.cache_ttl;
    if (!ttl) {
        return;
    }
    var now = Math.floor(Date.now() / 1000);
    for (var i = 0; i < checked.length; i++) {
        var claims = results[checked[i]].claims;
        if (claims && typeof claims.exp === 'number' && claims.exp - now < ttl) {
            // Whole seconds: nginx ignores an X-Accel-Expires of "59.5" (a NumericDate may have
            // a fraction), and such a success was never cached (found by a hunt).
            ttl = Math.floor(claims.exp - now);
        }
    }
    r.headersOut['X-Accel-Expires'] = String(ttl > 0 ? ttl : 0);
}

// Checks every policy of the requirement (those an AND skipped after a missing credential too);
// true when a credential was sent and failed, with its challenge added.
async function anyInvalid(r, req, cache, checked, challenges) {
    var invalid = false;
    for (var a = 0; a < req.any.length; a++) {
        for (var s = 0; s < req.any[a].length; s++) {
            var pol = conf.policies[req.any[a][s].policy];
            if (!cache[pol.name]) {
                cache[pol.name] = await checkScheme(r, pol);
                checked.push(pol.name);
            }
            if (cache[pol.name].status === 'invalid') {
                invalid = true;
                var ch = challenge(pol, true);
                if (challenges.indexOf(ch) < 0) {
                    challenges.push(ch);
                }
            }
        }
    }
    return invalid;
}

// The challenge goes back as X-Apigen-Challenge (read with auth_request_set, sent by the error
// page): behind the verification cache a proxied WWW-Authenticate would be copied to the client
// by auth_request as well, and the response would carry it twice.
async function check(r) {
    var req = conf.requirements[r.uri.slice(conf.prefix.length)];
    if (!req) {
        r.return(500);
        return;
    }
    var challenges = [];
    var forbidden = null;
    var cache = {};
    var checked = [];
    for (var a = 0; a < req.any.length; a++) {
        var alt = req.any[a];
        if (!alt.length) {
            // Anonymous access (`{}` among the OpenAPI alternatives; always the last one): only
            // for a client that sent no credential of the requirement, or only valid ones. A
            // credential that fails its check is refused, not passed upstream unverified.
            if (await anyInvalid(r, req, cache, checked, challenges)) {
                continue;
            }
            cacheFor(r, req, cache, checked);
            r.return(204);
            return;
        }
        var passed = true;
        var jwtClaims = [];  // of every JWT of the alternative: claim rules hold for each
        var missing = [];
        for (var s = 0; s < alt.length && passed; s++) {
            var pol = conf.policies[alt[s].policy];
            if (!cache[pol.name]) {
                cache[pol.name] = await checkScheme(r, pol);
                checked.push(pol.name);
            }
            var res = cache[pol.name];
            if (res.status !== 'ok') {
                passed = false;
                var ch = challenge(pol, res.status === 'invalid');
                if (challenges.indexOf(ch) < 0) {
                    challenges.push(ch);
                }
                continue;
            }
            if (res.claims) {
                jwtClaims.push(res.claims);
                missing = missing.concat(missingScopes(res.claims, alt[s].scopes));
            }
        }
        if (!passed) {
            continue;
        }
        if (missing.length) {
            forbidden = forbidden || 'Bearer error="insufficient_scope", scope="' + missing.join(' ') + '"';
            continue;
        }
        // Every token of an AND must satisfy the rules (only the last, by policy name, was
        // checked: renaming a policy flipped the answer; found by a hunt).
        if (req.claims.length && !(jwtClaims.length && jwtClaims.every(function (c) { return claimRulesPass(c, req.claims); }))) {
            forbidden = forbidden || 'Bearer error="insufficient_scope"';
            continue;
        }
        // Authenticated: hand the forwarded claims to the parent request (auth_request_set),
        // from this alternative's tokens only: a token an earlier alternative refused (missing
        // scope, failed claim rule) must not reach the upstream as the caller's identity.
        for (var c = 0; c < alt.length; c++) {
            var done = cache[alt[c].policy];
            var cp = conf.policies[alt[c].policy];
            if (cp.forward_as) {
                // An api_key or mtls identity in a header another policy forwards too.
                var who = cp.type === 'api_key' ? r.variables[cp.variable] : r.variables.ssl_client_s_dn;
                if (who) {
                    r.headersOut[cp.forward_as] = headerSafe(who);
                }
            }
            var fw = cp.forward;
            if (done.status !== 'ok' || !done.claims || !fw) {
                continue;
            }
            for (var f = 0; f < fw.length; f++) {
                var v = done.claims[fw[f][0]];
                if (v !== undefined && v !== null) {
                    r.headersOut[fw[f][1]] = headerSafe(v);
                }
            }
        }
        cacheFor(r, req, cache, checked);
        r.return(204);
        return;
    }
    r.headersOut['X-Accel-Expires'] = '0';  // behind the verification cache: never cache a failure
    if (forbidden) {
        r.headersOut['X-Apigen-Challenge'] = forbidden;
        r.return(403);
        return;
    }
    r.headersOut['X-Apigen-Challenge'] = challenges.join(', ');
    r.return(401);
}

// Unknown paths and undeclared methods of a protected API: answered after its authentication.
function notFound(r) {
    r.return(404);
}

function methodNotAllowed(r) {
    r.return(405);
}

export default {check: check, notFound: notFound, methodNotAllowed: methodNotAllowed};
