#!/usr/bin/env node
// DMARC by mailauth (an RFC 9989 implementation that is not ours) for
// tests/integration/dmarc-diff.sh: full SPF, DKIM and DMARC through
// mailauth's authenticate(), against the test DNS.
//
// Reads cases on stdin, one per line, fields separated by tabs:
//   IP  HELO  MAIL-FROM (empty: the null sender)  MESSAGE-FILE
// Prints one line per case, in order, fields separated by tabs ("-" when
// mailauth gives none):
//   RESULT  POLICY  POLICY-DOMAIN  ORG-DOMAIN  DETAIL
// RESULT is pass, fail, none, temperror or permerror; POLICY the policy
// mailauth applies to the message when it fails (p, sp or np, after t=y);
// DETAIL says what SPF and DKIM gave and why mailauth stopped, if it did.
//
// MP_TEST_RESOLVER (127.0.0.1@PORT) is the test NSD; MP_DMARC_REF_MODULES
// the node_modules directory that tests/dmarc-ref/install filled.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { Resolver } = require('node:dns').promises;

const modules = process.env.MP_DMARC_REF_MODULES || path.join(__dirname, 'node_modules');
const { authenticate } = require(path.join(modules, 'mailauth'));

// A CNAME chain longer than this is taken for a loop, as a recursive
// resolver would.
const CNAME_HOPS = 8;

const dnsError = (code, message) => Object.assign(new Error(message), { code });

// The test NSD is authoritative only: it answers a CNAME without the
// target's records when the target is in another zone, and a CNAME loop
// with the CNAME alone, both of which c-ares reports as an empty answer.
// mailposture asks through a recursive resolver (libunbound forwarding to
// the NSD), which follows the chain and answers SERVFAIL for a loop; this
// wrapper does the same, so that both implementations see the same DNS.
const testResolver = spec => {
    const m = /^([0-9.]+)@([0-9]+)$/.exec(spec || '');
    if (!m) {
        throw new Error(`MP_TEST_RESOLVER is not ADDRESS@PORT: "${spec || ''}"`);
    }
    const res = new Resolver({ timeout: 2000, tries: 2 });
    res.setServers([`${m[1]}:${m[2]}`]);

    const cnameOf = async name => {
        try {
            return (await res.resolve(name, 'CNAME'))[0] || null;
        } catch (err) {
            if (err.code === 'ENODATA' || err.code === 'ENOTFOUND') {
                return null;
            }
            throw err;
        }
    };

    return async (name, rrtype) => {
        const seen = new Set();
        let cur = name;
        for (;;) {
            let answer;
            let empty = null;
            try {
                answer = await res.resolve(cur, rrtype);
            } catch (err) {
                if (err.code !== 'ENODATA') {
                    throw err;
                }
                empty = err;
            }
            if (rrtype === 'CNAME' || (answer && answer.length)) {
                return answer;
            }
            const target = await cnameOf(cur);
            if (!target) {
                if (empty) {
                    throw empty;
                }
                return answer;
            }
            seen.add(cur.toLowerCase());
            if (seen.has(target.toLowerCase()) || seen.size > CNAME_HOPS) {
                throw dnsError('ESERVFAIL', `CNAME loop at ${name}`);
            }
            cur = target;
        }
    };
};

const dash = v => (v === undefined || v === null || v === '' || v === false ? '-' : String(v));

const detail = (res, dmarc) => {
    const spf = res.spf ? `${res.spf.status.result}(${res.spf.domain || '-'})` : '-';
    const dkim =
        (res.dkim?.results || [])
            .filter(r => r.signingDomain)
            .map(r => `${r.status.result}(${r.signingDomain})`)
            .join(',') || 'none';
    const parts = [`spf=${spf}`, `dkim=${dkim}`];
    if (dmarc?.testMode) {
        parts.push('t=y');
    }
    if (dmarc?.error) {
        parts.push(`error: ${dmarc.error}`);
    }
    return parts.join(' ');
};

const evaluate = async (fields, resolver) => {
    const [ip, helo, sender, file] = fields;
    const res = await authenticate(fs.readFileSync(file), {
        ip,
        helo,
        sender,
        mta: 'mx.example.org',
        resolver,
        disableArc: true,
        disableBimi: true
    });
    const dmarc = res.dmarc;
    if (!dmarc) {
        // no single Author Domain: DMARC does not apply (RFC 9989 5.3.1)
        return ['none', '-', '-', '-', `${detail(res, null)} no DMARC evaluation`];
    }
    const result = dmarc.status.result;
    // a policy is applied only once the result is pass or fail
    const policy = result === 'pass' || result === 'fail' ? dmarc.policy : null;
    return [result, dash(policy), dash(dmarc.policyDomain), dash(dmarc.domain), detail(res, dmarc)];
};

const main = async () => {
    const resolver = testResolver(process.env.MP_TEST_RESOLVER);
    const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const line of lines) {
        if (!line.trim()) {
            continue;
        }
        let out;
        try {
            out = await evaluate(line.split('\t'), resolver);
        } catch (err) {
            out = ['error', '-', '-', '-', `mailauth threw: ${err.message}`];
        }
        process.stdout.write(out.join('\t') + '\n');
    }
};

main().catch(err => {
    process.stderr.write(`mailauth-dmarc: ${err.message}\n`);
    process.exit(2);
});
