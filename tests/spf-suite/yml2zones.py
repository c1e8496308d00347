#!/usr/bin/python3
"""Turns the RFC 7208 test suite (openspf.org YAML) into DNS test data.

usage: yml2zones.py SUITE.yml OUTDIR

For each scenario N (1-based) it writes OUTDIR/sNN/:
  zones/ZONE.zone  NSD zone files: every name of the scenario's zonedata,
                   grouped under its top-level domain (com, net, org, arpa,
                   ...), so that every name a test can query is answered
                   authoritatively (NXDOMAIN when it is not listed).
  timeouts.tsv     NAME<TAB>TYPES: the names marked TIMEOUT and the record
                   types that still answer for them. The suite runner drops
                   every other query for that name, so the resolver really
                   times out.
  cases.tsv        one test per line: scenario, name, host, helo, mailfrom,
                   expected results (comma separated), expected explanation.
                   Fields are escaped: backslash, tab and newline as \\\\, \\t,
                   \\n, other bytes below 0x20 as \\xNN.
  description      the scenario's description.

Suite conventions (see the suite's README): an SPF entry also serves as a TXT
record unless the name has its own TXT entry; "TXT: NONE" means the name has
no TXT record (and stops that copy); TIMEOUT means the server does not answer
for that name (for the types it has no data for).

Needs the Debian python3 with python3-yaml: run it as /usr/bin/python3.
"""

import os
import sys

import yaml


def esc_field(s):
    out = []
    for ch in s:
        o = ord(ch)
        if ch == '\\':
            out.append('\\\\')
        elif ch == '\t':
            out.append('\\t')
        elif ch == '\n':
            out.append('\\n')
        elif o < 0x20:
            out.append('\\x%02x' % o)
        else:
            out.append(ch)
    return ''.join(out)


def to_bytes(s):
    if isinstance(s, bytes):
        return s
    return str(s).encode('utf-8')


def txt_rdata(strings):
    """One TXT (or SPF) rdata: each string quoted, with every byte that is not
    plain printable ASCII (and quote and backslash) written as \\DDD, and
    strings over 255 bytes split, since one character-string holds at most
    255 bytes."""
    if isinstance(strings, (str, bytes)):
        strings = [strings]
    parts = []
    for s in strings:
        b = to_bytes(s)
        chunks = [b[i:i + 255] for i in range(0, len(b), 255)] or [b'']
        for c in chunks:
            q = []
            for x in c:
                if 0x20 <= x < 0x7f and x not in (0x22, 0x5c):
                    q.append(chr(x))
                else:
                    q.append('\\%03d' % x)
            parts.append('"' + ''.join(q) + '"')
    if not parts:
        parts = ['""']
    return ' '.join(parts)


def label_text(label):
    out = []
    for x in to_bytes(label):
        c = chr(x)
        if c.isascii() and (c.isalnum() or c in '-_'):
            out.append(c)
        else:
            out.append('\\%03d' % x)
    return ''.join(out)


def dname(name):
    """An absolute domain name in zone-file syntax, or '.' for the root."""
    name = str(name)
    if name in ('', '.'):
        return '.'
    if name.endswith('.'):
        name = name[:-1]
    return '.'.join(label_text(l) for l in name.split('.')) + '.'


def zone_of(name):
    labels = str(name).rstrip('.').lower().split('.')
    if labels[-1] == 'arpa':
        return 'arpa'
    return labels[-1]


def scenario(doc, idx, outdir):
    sdir = os.path.join(outdir, 's%02d' % idx)
    zdir = os.path.join(sdir, 'zones')
    os.makedirs(zdir, exist_ok=True)
    zonedata = doc.get('zonedata') or {}
    zones = {'com': [], 'net': [], 'org': [], 'arpa': []}
    timeouts = []

    for name, recs in zonedata.items():
        name = str(name)
        timeout = False
        has_txt = False
        rrs = []
        spf = []
        types = set()
        for r in recs or []:
            if r == 'TIMEOUT':
                timeout = True
                continue
            if not isinstance(r, dict) or len(r) != 1:
                raise SystemExit('scenario %d: odd record for %s: %r' % (idx, name, r))
            (t, v), = r.items()
            if t == 'SPF':
                spf.append(v)
                rrs.append(('SPF', txt_rdata(v)))
                types.add('SPF')
            elif t == 'TXT':
                has_txt = True
                if v == 'NONE':
                    continue
                rrs.append(('TXT', txt_rdata(v)))
                types.add('TXT')
            elif t in ('A', 'AAAA'):
                rrs.append((t, str(v)))
                types.add(t)
            elif t == 'MX':
                pref, host = v
                rrs.append(('MX', '%d %s' % (int(pref), dname(host))))
                types.add('MX')
            elif t in ('PTR', 'CNAME'):
                rrs.append((t, dname(v)))
                types.add(t)
            else:
                raise SystemExit('scenario %d: unknown type %s for %s' % (idx, t, name))
        if spf and not has_txt:
            for v in spf:
                rrs.append(('TXT', txt_rdata(v)))
            types.add('TXT')
        z = zone_of(name)
        zones.setdefault(z, [])
        owner = dname(name)
        for t, rd in rrs:
            zones[z].append('%s\t300\tIN\t%s\t%s' % (owner, t, rd))
        if timeout:
            if 'CNAME' in types:
                types = set(['*'])
            timeouts.append((name.rstrip('.').lower(), ','.join(sorted(types)) or '-'))

    for z, lines in zones.items():
        origin = z + '.'
        with open(os.path.join(zdir, z + '.zone'), 'w', encoding='ascii') as f:
            f.write('; generated by yml2zones.py from the RFC 7208 test suite\n')
            f.write('$TTL 300\n')
            f.write('%s\tIN\tSOA\tns.%s hostmaster.%s 1 3600 600 86400 300\n'
                    % (origin, origin, origin))
            f.write('%s\tIN\tNS\tns.%s\n' % (origin, origin))
            f.write('ns.%s\tIN\tA\t192.0.2.53\n' % origin)
            for l in lines:
                f.write(l + '\n')

    with open(os.path.join(sdir, 'timeouts.tsv'), 'w', encoding='utf-8') as f:
        for name, types in timeouts:
            f.write('%s\t%s\n' % (esc_field(name), types))

    with open(os.path.join(sdir, 'description'), 'w', encoding='utf-8') as f:
        f.write(str(doc.get('description', '')).strip() + '\n')

    n = 0
    with open(os.path.join(sdir, 'cases.tsv'), 'w', encoding='utf-8') as f:
        for tname, t in (doc.get('tests') or {}).items():
            res = t['result']
            if not isinstance(res, list):
                res = [res]
            fields = ['s%02d' % idx, str(tname), str(t.get('host', '')),
                      str(t.get('helo', '') or ''), str(t.get('mailfrom', '') or ''),
                      ','.join(str(x) for x in res), str(t.get('explanation', '') or '')]
            f.write('\t'.join(esc_field(x) for x in fields) + '\n')
            n += 1
    return n


def main():
    if len(sys.argv) != 3:
        sys.stderr.write('usage: yml2zones.py SUITE.yml OUTDIR\n')
        return 2
    with open(sys.argv[1], 'rb') as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    total = 0
    for i, d in enumerate(docs, 1):
        total += scenario(d, i, sys.argv[2])
    print('%d %d' % (len(docs), total))
    return 0


if __name__ == '__main__':
    sys.exit(main())
