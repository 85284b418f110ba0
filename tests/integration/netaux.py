#!/usr/bin/env python3
"""Network helpers the integration tests start as processes of their own
(and stop by their PID):

  netaux.py proxy --port-file F --log L
      an HTTP forward proxy on 127.0.0.1: absolute-form requests
      ("POST http://host:port/path HTTP/1.1"), one per connection, and CONNECT
      tunnels; every request line goes to L (access_key values blanked).

  netaux.py tls-forward --port-file F --cert C --key K --to PORT [--max-tls 1.1] [--log L]
      terminates TLS on 127.0.0.1 and relays the bytes to 127.0.0.1:PORT;
      --max-tls caps the protocol (1.1 also lowers OpenSSL's security level to
      0, which TLS 1.0/1.1 need with OpenSSL 3). Handshakes go to L.

  netaux.py delay-forward --port-file F --to PORT --control C
      relays the bytes of every connection to 127.0.0.1:PORT (the SFTP
      partner's sshd), a request answered the milliseconds written in C
      late (a number; none or 0: at once; read anew for every piece the
      server sends, each held a fifth of it after the handshake): a slow
      partner whose speed a test turns.
"""
import argparse
import os
import re
import select
import socket
import ssl
import sys
import threading
import time

LOG_LOCK = threading.Lock()


def log(path, line):
    if not path:
        return
    with LOG_LOCK, open(path, 'a', encoding='utf-8') as f:
        f.write(line + '\n')


def read_head(sock):
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b''
        data += chunk
        if len(data) > 1 << 20:
            return None, b''
    head, rest = data.split(b'\r\n\r\n', 1)
    return head.decode('latin-1'), rest


def relay(a, b):
    """Copy bytes both ways until one side closes."""
    socks = [a, b]
    try:
        while True:
            ready, _, _ = select.select(socks, [], [], 120)
            if not ready:
                return
            for s in ready:
                other = b if s is a else a
                while True:
                    try:
                        data = s.recv(65536)
                    except ssl.SSLWantReadError:
                        break
                    except OSError:
                        data = b''
                    if not data:
                        return
                    other.sendall(data)
                    if not (isinstance(s, ssl.SSLSocket) and s.pending()):
                        break
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


def serve(listener, port_file, handle):
    with open(port_file + '.tmp', 'w') as f:
        f.write(str(listener.getsockname()[1]))
    os.rename(port_file + '.tmp', port_file)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def proxy_main(args):
    def handle(client):
        try:
            head, rest = read_head(client)
            if head is None:
                client.close()
                return
            lines = head.split('\r\n')
            method, target, version = lines[0].split(' ', 2)
            log(args.log, re.sub(r'(access_key=)[^&\s]*', r'\1***', f'{method} {target}'))
            if method == 'CONNECT':
                host, port = target.rsplit(':', 1)
                up = socket.create_connection((host, int(port)), timeout=30)
                client.sendall(b'HTTP/1.1 200 Connection established\r\n\r\n')
                if rest:
                    up.sendall(rest)
                relay(client, up)
                return
            m = re.match(r'http://([^/:]+)(?::(\d+))?(/.*)?$', target)
            if not m:
                client.sendall(b'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
                client.close()
                return
            up = socket.create_connection((m.group(1), int(m.group(2) or 80)), timeout=30)
            headers = [h for h in lines[1:] if not re.match(r'(?i)(proxy-connection|connection):', h)]
            out = '\r\n'.join([f'{method} {m.group(3) or "/"} {version}', *headers, 'Connection: close', '', ''])
            up.sendall(out.encode('latin-1') + rest)
            relay(client, up)
        except (OSError, ValueError) as e:
            log(args.log, f'error {e}')
            try:
                client.close()
            except OSError:
                pass

    listener = socket.create_server(('127.0.0.1', 0))
    serve(listener, args.port_file, handle)


def tls_main(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.max_tls == '1.1':
        ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1

    def handle(raw):
        try:
            raw.settimeout(30)
            conn = ctx.wrap_socket(raw, server_side=True)
            conn.settimeout(None)
        except (OSError, ssl.SSLError) as e:
            log(args.log, f'handshake failed: {e}')
            raw.close()
            return
        log(args.log, f'handshake ok: {conn.version()}')
        try:
            up = socket.create_connection(('127.0.0.1', args.to), timeout=30)
        except OSError as e:
            log(args.log, f'upstream failed: {e}')
            conn.close()
            return
        relay(conn, up)

    listener = socket.create_server(('127.0.0.1', 0))
    serve(listener, args.port_file, handle)


# What an SFTP request of guestflow's costs between OpenSSH's sshd and
# libcurl/libssh2 with the tests' ed25519 keys, measured: the server's first
# 2957 bytes of a connection (13 pieces) are the SSH handshake and the SFTP
# session's start, let through at once (counted in bytes, which do not
# change when TCP joins or splits pieces); then a request (a look at the
# file, the upload, the rename) is five answers.
HANDSHAKE_BYTES = 2900
PIECES_A_REQUEST = 5


def delay_main(args):
    def delay():
        try:
            with open(args.control, encoding='utf-8') as f:
                return max(0.0, float(f.read().strip() or 0) / 1000)
        except (OSError, ValueError):
            return 0.0

    def handle(client):
        try:
            up = socket.create_connection(('127.0.0.1', args.to), timeout=30)
        except OSError:
            client.close()
            return

        def back():
            sent = 0
            try:
                while True:
                    data = up.recv(65536)
                    if not data:
                        break
                    d = delay() / PIECES_A_REQUEST if sent >= HANDSHAKE_BYTES else 0
                    sent += len(data)
                    if d:
                        time.sleep(d)
                    client.sendall(data)
            except OSError:
                pass
            finally:
                for s in (client, up):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        t = threading.Thread(target=back, daemon=True)
        t.start()
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                up.sendall(data)
        except OSError:
            pass
        finally:
            try:
                up.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            t.join(300)
            client.close()
            up.close()

    listener = socket.create_server(('127.0.0.1', 0))
    serve(listener, args.port_file, handle)


def main():
    import warnings
    warnings.simplefilter('ignore', DeprecationWarning)  # TLS 1.0/1.1 on purpose
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest='cmd', required=True)
    pp = sub.add_parser('proxy')
    pp.add_argument('--port-file', required=True)
    pp.add_argument('--log')
    tp = sub.add_parser('tls-forward')
    tp.add_argument('--port-file', required=True)
    tp.add_argument('--cert', required=True)
    tp.add_argument('--key', required=True)
    tp.add_argument('--to', type=int, required=True)
    tp.add_argument('--max-tls', choices=['1.1'])
    tp.add_argument('--log')
    dp = sub.add_parser('delay-forward')
    dp.add_argument('--port-file', required=True)
    dp.add_argument('--to', type=int, required=True)
    dp.add_argument('--control', required=True)
    args = p.parse_args()
    {'proxy': proxy_main, 'tls-forward': tls_main, 'delay-forward': delay_main}[args.cmd](args)


if __name__ == '__main__':
    sys.exit(main())
