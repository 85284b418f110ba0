"""The SFTP partner of the visits-csv output (PARTNERS.md): an OpenSSH sshd
on loopback with throwaway host and user keys and the internal-sftp
subsystem, behind a relay whose latency a test sets (netaux.py
delay-forward), started by the tests and stopped by their PIDs; and a
strict reader of the CSV files it receives.

sshd runs as root (it needs to, to let a user log in; CI runs as root): a
test that finds itself without root is skipped. The user that logs in is
root too, with the throwaway key; the partner's directory is a directory of
the test's own."""
import collections
import ctypes
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

NETAUX = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'netaux.py')
SSHD = shutil.which('sshd') or '/usr/sbin/sshd'

SSH_KEYGEN = shutil.which('ssh-keygen') or '/usr/bin/ssh-keygen'

# <YYYYMMDD>_<hotel id>_<batch id>.csv
FILE_NAME = re.compile(r'^(\d{8})_(.+)_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.csv$')
COLUMNS = ('hotelId', 'bookingNo', 'lastName', 'firstName', 'email', 'gender', 'language', 'status',
           'arrival', 'departure')


def usable():
    """Why an sshd cannot be started here, or None."""
    if os.geteuid() != 0:
        return 'sshd needs root to let a user log in (CI runs as root)'
    if not all(os.access(p, os.X_OK) for p in (SSHD, SSH_KEYGEN)):
        return 'openssh-server is not installed (tools/deps.sh installs it)'
    return None


def keygen(path):
    subprocess.run([SSH_KEYGEN, '-q', '-t', 'ed25519', '-N', '', '-C', 'guestflow-test', '-f', path],
                   check=True, timeout=30, capture_output=True)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class SftpServer:
    """An sshd serving base/partner/ (the job's directory, with errors/ in
    it) to user root with a key of its own; base/ssh/ holds its files."""

    def __init__(self, base, running=None):
        self.base = base
        self.ssh = os.path.join(base, 'ssh')
        self.dir = os.path.join(base, 'partner')
        os.makedirs(self.ssh, exist_ok=True)
        os.makedirs(os.path.join(self.dir, 'errors'), exist_ok=True)
        self.host_key = os.path.join(self.ssh, 'host_ed25519')
        self.user_key = os.path.join(self.ssh, 'user_ed25519')
        self.authorized = os.path.join(self.ssh, 'authorized_keys')
        self.known_hosts = os.path.join(self.ssh, 'known_hosts')
        self.config = os.path.join(self.ssh, 'sshd_config')
        self.log = os.path.join(self.ssh, 'sshd.log')
        keygen(self.host_key)
        keygen(self.user_key)
        shutil.copy(self.user_key + '.pub', self.authorized)
        self.proc = None
        self.port = None
        self.watch = Watch(self.dir)
        self.running = running if running is not None else {}
        self.password_users = []

    def known_hosts_line(self, key_pub=None):
        with open(key_pub or self.host_key + '.pub', encoding='utf-8') as f:
            kind, blob = f.read().split()[:2]
        return f'[127.0.0.1]:{self.relay_port} {kind} {blob}\n'

    def start(self, password_auth=False):
        """sshd, and in front of it the relay (netaux.py delay-forward) that
        the job's endpoint names, whose latency a test sets."""
        self.port = free_port()
        self.write_config(password_auth)
        self.start_sshd()
        self.start_relay()
        with open(self.known_hosts, 'w', encoding='utf-8') as f:
            f.write(self.known_hosts_line())
        return self

    def write_config(self, password_auth=False):
        """sshd's configuration (password_auth: passwords too; a later
        start_sshd() takes it)."""
        os.makedirs('/run/sshd', mode=0o755, exist_ok=True)  # its privilege separation directory
        with open(self.config, 'w', encoding='utf-8') as f:
            f.write(f"""ListenAddress 127.0.0.1
Port {self.port}
HostKey {self.host_key}
PidFile none
AuthorizedKeysFile {self.authorized}
StrictModes no
PermitRootLogin {'yes' if password_auth else 'prohibit-password'}
PubkeyAuthentication yes
PasswordAuthentication {'yes' if password_auth else 'no'}
KbdInteractiveAuthentication no
UsePAM no
Subsystem sftp internal-sftp
LogLevel VERBOSE
MaxStartups 64
MaxSessions 64
""")

    def start_sshd(self):
        """sshd on its port (again, after stop_sshd())."""
        self._log = self._log if getattr(self, '_log', None) else open(self.log, 'a')
        self.proc = subprocess.Popen([SSHD, '-D', '-e', '-f', self.config], stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.running[id(self)] = self.stop
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f'sshd exited at start: {open(self.log).read()[-2000:]}')
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=2) as s:
                    if s.recv(64).startswith(b'SSH-2.0'):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError('sshd did not answer within 20 s')
            time.sleep(0.05)

    def start_relay(self):
        port_file = os.path.join(self.ssh, 'relay.port')
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.control = os.path.join(self.ssh, 'latency_ms')
        self.relay = subprocess.Popen([sys.executable, NETAUX, 'delay-forward', '--port-file', port_file,
                                       '--to', str(self.port), '--control', self.control],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.running[id(self)] = self.stop
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file):
            if self.relay.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError('the relay in front of sshd did not start')
            time.sleep(0.05)
        with open(port_file, encoding='utf-8') as f:
            self.relay_port = int(f.read())

    def latency(self, ms):
        """Every piece the server sends back held for ms (0: none)."""
        with open(self.control + '.tmp', 'w', encoding='utf-8') as f:
            f.write(str(ms))
        os.rename(self.control + '.tmp', self.control)

    def stop_sshd(self):
        """The partner's server gone (the relay still there: connections
        are refused behind it)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def stats(self):
        """As the simulator's stats: requests (uploads: a .part file written
        and closed), replays (uploads of a file after it was renamed into
        place: none may be), key_conflicts (two files of one batch id)."""
        events = self.watch.events()
        names = [n for kind, n in events if kind == 'written']
        # A replay: a file uploaded again after it was renamed into place
        # (not a .part written again after a crash cut its upload short).
        placed, again = set(), 0
        for kind, n in events:
            if kind == 'placed':
                placed.add(n)
            elif n.startswith('.') and n.endswith('.part') and n[1:-5] in placed:
                again += 1
        ids = collections.Counter(FILE_NAME.match(n).group(3) for n in self.files() if FILE_NAME.match(n))
        return {'requests': len(names), 'replays': again,
                'key_conflicts': sum(c - 1 for c in ids.values())}

    def stop(self):
        self.stop_sshd()
        self.watch.close()
        relay = getattr(self, 'relay', None)
        if relay and relay.poll() is None:
            relay.kill()
            relay.wait(timeout=10)
        self.relay = None
        self.proc = None
        self.running.pop(id(self), None)
        if getattr(self, '_log', None):
            self._log.close()
            self._log = None
        for user in self.password_users:
            subprocess.run(['userdel', user], capture_output=True, timeout=30)
        self.password_users = []

    @property
    def endpoint(self):
        return f'sftp://127.0.0.1:{self.relay_port}{self.dir}/'

    def job_overrides(self):
        # (an SSH connection costs more round trips than a TLS one: more
        # room for them on a loaded machine and behind the relay's latency)
        return {'format': 'visits-csv', 'endpoint': self.endpoint,
                'http': {'connect_timeout': '4s'},
                'sftp': {'user': 'root', 'private_key_file': self.user_key, 'known_hosts_file': self.known_hosts}}

    # --- what the partner received ------------------------------------------
    def files(self):
        """The files the partner sees (not the hidden .part ones), by name."""
        return sorted(n for n in os.listdir(self.dir) if n.endswith('.csv') and not n.startswith('.'))

    def parts(self):
        return sorted(n for n in os.listdir(self.dir) if n.startswith('.'))

    def read(self, name):
        with open(os.path.join(self.dir, name), 'rb') as f:
            return parse_csv(f.read())

    def recorded(self):
        """Every guest of every file, as the simulator records them: dicts
        with the contract's columns and idempotencyKey (the file's batch id)."""
        out = []
        for name in self.files():
            m = FILE_NAME.match(name)
            assert m, f'file name {name!r} is not <YYYYMMDD>_<hotel id>_<batch id>.csv'
            for row in self.read(name):
                assert row['hotelId'] == m.group(2), f'{name}: hotel id {row["hotelId"]!r} is not the name\'s'
                row['idempotencyKey'] = m.group(3)
                row['file'] = name
                out.append(row)
        return out


class Watch:
    """The files written (and closed) and renamed into a directory, in
    order, as inotify(7) reports them: how the tests count uploads, whoever
    makes them."""
    IN_CLOSE_WRITE = 0x08
    IN_MOVED_TO = 0x80

    def __init__(self, path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or self.libc.inotify_add_watch(self.fd, path.encode(), self.IN_CLOSE_WRITE | self.IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), 'inotify')
        self.names = []
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.closed:
            r, _, _ = select.select([self.fd], [], [], 0.2)
            if not r or self.closed:
                continue
            try:
                data = os.read(self.fd, 65536)
            except (BlockingIOError, OSError):
                continue
            i = 0
            while i + 16 <= len(data):
                _, mask, _, n = struct.unpack_from('iIII', data, i)
                name = data[i + 16:i + 16 + n].rstrip(b'\0').decode('utf-8', 'replace')
                with self.lock:
                    self.names.append(('placed' if mask & self.IN_MOVED_TO else 'written', name))
                i += 16 + n

    def events(self):
        """('written' or 'placed', name) so far, in order."""
        time.sleep(0.3)  # (what the kernel reported is read)
        with self.lock:
            return list(self.names)

    def close(self):
        if not self.closed:
            self.closed = True
            self.thread.join(5)
            os.close(self.fd)


def parse_csv(data):
    """The contract's CSV, strictly: UTF-8 without BOM, ';'-separated, CRLF
    after every line (none without), no header, ten fields a line; a field
    is quoted exactly when it holds ';', '"', CR or LF, with '"' doubled
    inside. Raises ValueError naming the line and what is wrong."""
    if data.startswith(b'\xef\xbb\xbf'):
        raise ValueError('the file starts with a BOM')
    text = data.decode('utf-8')  # raises on anything but UTF-8
    rows, fields, i, line = [], [], 0, 1
    if text and not text.endswith('\r\n'):
        raise ValueError('the last line does not end with CRLF')
    while i < len(text):
        if text[i] == '"':
            j, value = i + 1, []
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise ValueError(f'line {line}: a quoted field is not closed')
                value.append(text[j:k])
                if text.startswith('""', k):
                    value.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            value = ''.join(value)
            if not any(c in value for c in ';"\r\n'):
                raise ValueError(f'line {line}: field {value!r} is quoted but holds nothing that needs it')
        else:
            m = re.compile(r'[^;"\r\n]*').match(text, i)
            value, i = m.group(0), m.end()
        fields.append(value)
        if text.startswith(';', i):
            i += 1
        elif text.startswith('\r\n', i):
            i += 2
            if len(fields) != len(COLUMNS):
                raise ValueError(f'line {line}: {len(fields)} fields, not {len(COLUMNS)}')
            rows.append(dict(zip(COLUMNS, fields)))
            fields, line = [], line + 1
        else:
            raise ValueError(f'line {line}: {text[i:i + 1]!r} after a field (a bare CR or LF, or a quote'
                             ' inside an unquoted field)')
    return rows
