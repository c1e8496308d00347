#!/usr/bin/python3
"""An HTTPS server for the MTA-STS tests: it serves ROOT/<host>/<path>,
the host taken from the Host header, so that one server on one address
answers for the policies of several test domains. A file NAME with a
NAME.status beside it is answered with that HTTP status instead (a
redirect's Location is the file's content); NAME.type sets its
Content-Type (default text/plain).

usage: https-server.py ADDRESS PORT CERT KEY ROOT READY-FILE

It writes READY-FILE once it listens and serves until killed.
"""
import http.server
import os
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("https-server: " + (fmt % args) + "\n")

    def side(self, path, ext, default):
        try:
            with open(path + ext) as f:
                return f.read().strip()
        except OSError:
            return default

    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        rel = os.path.normpath(self.path.split("?")[0]).lstrip("/")
        path = os.path.join(self.server.root, host, rel)
        if ".." in rel or not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, "rb") as f:
            body = f.read()
        status = int(self.side(path, ".status", "200"))
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", body.decode().strip())
            body = b""
        self.send_header("Content-Type", self.side(path, ".type", "text/plain"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    addr, port, cert, key, root, ready = sys.argv[1:7]
    srv = http.server.ThreadingHTTPServer((addr, int(port)), Handler)
    srv.root = root
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(ready, "w") as f:
        f.write("%s:%s\n" % (addr, port))
    srv.serve_forever()


if __name__ == "__main__":
    main()
