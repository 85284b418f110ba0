#!/usr/bin/env python3
"""A content-inspecting gateway (a WAF) in front of the partner simulator, for
the integration tests (started and stopped by its PID):

  waf.py --to PORT --port-file F --pattern TEXT --status N

answers N (with an HTML page) to every request whose body, gunzipped, holds
TEXT, and forwards the others to 127.0.0.1:PORT, the answer back as it came."""
import argparse
import gzip
import http.client
import http.server
import os
import socketserver


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--to', type=int, required=True)
    ap.add_argument('--port-file', required=True)
    ap.add_argument('--pattern', required=True)
    ap.add_argument('--status', type=int, default=403)
    a = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
            plain = gzip.decompress(body) if self.headers.get('Content-Encoding') == 'gzip' else body
            if a.pattern.encode() in plain:
                msg = b'<html><body>Request blocked by security policy</body></html>'
                self.send_response(a.status)
                self.send_header('Content-Type', 'text/html')
                self.send_header('Content-Length', str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
                return
            c = http.client.HTTPConnection('127.0.0.1', a.to, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ('host', 'connection')}
            c.request('POST', self.path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ('content-length', 'connection', 'transfer-encoding', 'date', 'server'):
                    self.send_header(k, v)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            c.close()

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    srv = Server(('127.0.0.1', 0), Handler)
    tmp = a.port_file + '.tmp'
    with open(tmp, 'w') as f:
        f.write(f'{srv.server_address[1]}\n')
    os.rename(tmp, a.port_file)
    srv.serve_forever()


if __name__ == '__main__':
    main()
