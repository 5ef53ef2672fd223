#!/usr/bin/env python3
"""Python's own http.server (SimpleHTTPRequestHandler: HTTP/1.0, Content-Length,
the connection closed after the answer) for the tests: serves the files of
DIR on 127.0.0.1 at a port the kernel picks, writes that port to PORTFILE
(only once it listens, so the test can wait for the file), and logs one
line per request ("GET /path") to LOGFILE. .crl is served as
application/pkix-crl, .cer and .crt as application/pkix-cert, as real
servers do.

usage: http_server.py DIR PORTFILE LOGFILE
"""
import functools
import http.server
import os
import sys


def main():
    root, portfile, logfile = sys.argv[1:4]
    log = open(logfile, "a", buffering=1)

    class Handler(http.server.SimpleHTTPRequestHandler):
        # the types real servers give (RFC 2585, RFC 5280 4.2.2.1), not
        # only what this system's mime.types happens to hold
        extensions_map = dict(http.server.SimpleHTTPRequestHandler.extensions_map, **{
            ".crl": "application/pkix-crl", ".cer": "application/pkix-cert",
            ".crt": "application/pkix-cert", ".p7c": "application/pkcs7-mime"})

        def log_message(self, fmt, *args):
            pass

        def send_head(self):
            log.write("%s %s\n" % (self.command, self.path))
            return super().send_head()

    handler = functools.partial(Handler, directory=root)
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, portfile)
    server.serve_forever()


if __name__ == "__main__":
    main()
