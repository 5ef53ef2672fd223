#!/usr/bin/env python3
"""An HTTP server that answers the way odd servers do, for http-fetch.sh:
serves the files of DIR on 127.0.0.1 at a port the kernel picks, writes
that port to PORTFILE once it listens, and logs one line per request
("GET /path", "POST /path", or "PROXY GET http://host/path" for a request
in absolute form, as a client sends it to a proxy) to LOGFILE.

The first path segment says how FILE is answered (GET or POST alike; a
POST's body is read and dropped):

  /close/FILE       HTTP/1.0, no Content-Length: the end of the connection
                    ends the body
  /keepalive/FILE   HTTP/1.1 with Content-Length, Connection: keep-alive, and
                    the connection is kept open after the answer
  /chunked/FILE     HTTP/1.1 chunked: chunks of 1, 7 (with an extension),
                    300 and the rest bytes, sizes in upper-case hex, a
                    trailer; the connection is kept open after it
  /short/FILE       Content-Length of FILE, then half of it and close
  /shortchunk/FILE  chunked: a chunk announced whole, half sent, close
  /huge/FILE        Content-Length: 1 TiB, then zeros until the client goes
  /flood/FILE       HTTP/1.0 without a length, zeros until the client goes
  /floodchunk/FILE  chunks of zeros until the client goes
  /trickle/FILE     HTTP/1.0 without a length, a byte every 0.2 s, for ever
  /headers/FILE     header lines for ever
  /hangup/FILE      no answer: the connection is closed
  /gzip/FILE        FILE gzipped, Content-Encoding: gzip
  /plain/FILE       Content-Type: text/plain
  /to/CODE/REST     redirection CODE to /REST
  /abs/CODE/REST    redirection CODE to http://127.0.0.1:PORT/REST
  /rel/FILE         302 to the relative "../close/FILE"
  /tohttps/FILE     301 to https://127.0.0.1:PORT/FILE
  /toldap/FILE      302 to ldap://127.0.0.1/cn=x
  /loop/N/FILE      302 to /loop/N+1/FILE, for ever
  /noloc/FILE       302 without a Location
  /FILE             HTTP/1.0 with Content-Length (also what a proxy gets)

Content-Type by extension: .crl application/pkix-crl, .cer application/
pkix-cert, .ors application/ocsp-response, else application/octet-stream.

usage: http_odd.py DIR PORTFILE LOGFILE
"""
import gzip
import os
import posixpath
import socketserver
import sys
import time
import urllib.parse

TYPES = {".crl": "application/pkix-crl", ".cer": "application/pkix-cert",
         ".ors": "application/ocsp-response"}
REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 303: "See Other",
           307: "Temporary Redirect", 308: "Permanent Redirect", 404: "Not Found"}


def main():
    root, portfile, logfile = sys.argv[1:4]
    log = open(logfile, "a", buffering=1)

    class Handler(socketserver.StreamRequestHandler):
        def head(self, code, headers, version="HTTP/1.1"):
            lines = ["%s %d %s" % (version, code, REASONS.get(code, "X"))] + headers
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode())

        def linger(self):
            # keep the connection open until the client closes it
            self.connection.settimeout(20)
            try:
                while self.connection.recv(4096):
                    pass
            except OSError:
                pass

        def endless(self, block, chunked=False, pause=0.0):
            try:
                while True:
                    if chunked:
                        self.wfile.write(b"%X\r\n%s\r\n" % (len(block), block))
                    else:
                        self.wfile.write(block)
                    if pause:
                        time.sleep(pause)
            except OSError:
                pass

        def handle(self):
            self.connection.settimeout(20)
            line = self.rfile.readline(8192).decode("latin-1").rstrip("\r\n")
            parts = line.split(" ")
            if len(parts) != 3:
                return
            method, target = parts[0], parts[1]
            length = 0
            while True:
                h = self.rfile.readline(8192).decode("latin-1").rstrip("\r\n")
                if not h:
                    break
                name, _, value = h.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length:
                self.rfile.read(length)
            if target.startswith("http://"):
                log.write("PROXY %s %s\n" % (method, target))
                self.plain(urllib.parse.urlsplit(target).path)
                return
            log.write("%s %s\n" % (method, target))
            self.answer(target)

        def load(self, name):
            path = os.path.join(root, posixpath.normpath("/" + name).lstrip("/"))
            try:
                with open(path, "rb") as f:
                    return f.read()
            except OSError:
                return None

        def ctype(self, name):
            return TYPES.get(os.path.splitext(name)[1], "application/octet-stream")

        def missing(self):
            self.head(404, ["Content-Length: 0"], "HTTP/1.0")

        def plain(self, name):
            data = self.load(name)
            if data is None:
                return self.missing()
            self.head(200, ["Content-Type: " + self.ctype(name),
                            "Content-Length: %d" % len(data)], "HTTP/1.0")
            self.wfile.write(data)

        def redirect(self, code, location):
            self.head(code, ["Location: " + location, "Content-Length: 0"])

        def answer(self, target):
            port = self.server.server_address[1]
            path = urllib.parse.urlsplit(target).path
            mode, _, rest = path.lstrip("/").partition("/")
            if mode in ("to", "abs", "loop"):
                arg, _, rest = rest.partition("/")
                if mode == "to":
                    return self.redirect(int(arg), "/" + rest)
                if mode == "abs":
                    return self.redirect(int(arg), "http://127.0.0.1:%d/%s" % (port, rest))
                return self.redirect(302, "/loop/%d/%s" % (int(arg) + 1, rest))
            if mode == "rel":
                return self.redirect(302, "../close/" + rest)
            if mode == "tohttps":
                return self.redirect(301, "https://127.0.0.1:%d/%s" % (port, rest))
            if mode == "toldap":
                return self.redirect(302, "ldap://127.0.0.1/cn=x")
            if mode == "noloc":
                return self.head(302, ["Content-Length: 0"])
            if mode == "hangup":
                return
            if mode == "headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                return self.endless(b"X-Padding: " + b"x" * 100 + b"\r\n")
            if mode not in ("close", "keepalive", "chunked", "short", "shortchunk", "huge",
                            "flood", "floodchunk", "trickle", "gzip", "plain"):
                return self.plain(path)
            data = self.load(rest)
            if data is None:
                return self.missing()
            ct = "Content-Type: " + self.ctype(rest)
            zeros = b"\0" * 65536
            if mode == "close":
                self.head(200, [ct], "HTTP/1.0")
                self.wfile.write(data)
            elif mode == "keepalive":
                self.head(200, [ct, "Content-Length: %d" % len(data), "Connection: keep-alive"])
                self.wfile.write(data)
                self.linger()
            elif mode == "chunked":
                self.head(200, [ct, "Transfer-Encoding: chunked"])
                pieces = [data[:1], data[1:8], data[8:308], data[308:]]
                for i, p in enumerate(pieces):
                    if p:
                        ext = ";name=value" if i == 1 else ""
                        self.wfile.write(b"%X%s\r\n%s\r\n" % (len(p), ext.encode(), p))
                        self.wfile.flush()
                        time.sleep(0.02)
                self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
                self.linger()
            elif mode == "short":
                self.head(200, [ct, "Content-Length: %d" % len(data)])
                self.wfile.write(data[:len(data) // 2])
            elif mode == "shortchunk":
                self.head(200, [ct, "Transfer-Encoding: chunked"])
                self.wfile.write(b"%X\r\n%s" % (len(data), data[:len(data) // 2]))
            elif mode == "huge":
                self.head(200, [ct, "Content-Length: %d" % (1 << 40)])
                self.endless(zeros)
            elif mode == "flood":
                self.head(200, [ct], "HTTP/1.0")
                self.endless(zeros)
            elif mode == "floodchunk":
                self.head(200, [ct, "Transfer-Encoding: chunked"])
                self.endless(zeros, chunked=True)
            elif mode == "trickle":
                self.head(200, [ct], "HTTP/1.0")
                self.endless(b"\0", pause=0.2)
            elif mode == "gzip":
                body = gzip.compress(data)
                self.head(200, [ct, "Content-Encoding: gzip", "Content-Length: %d" % len(body)])
                self.wfile.write(body)
            elif mode == "plain":
                self.head(200, ["Content-Type: text/plain", "Content-Length: %d" % len(data)])
                self.wfile.write(data)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, portfile)
    server.serve_forever()


if __name__ == "__main__":
    main()
