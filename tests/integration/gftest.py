"""Integration-test fixture: PostgreSQL (tools/pgctl.sh), the partner
simulator and a guestflow configuration.

A test file (one process) starts one PostgreSQL cluster, on first use, and
prepares in it once a template database: the reference PMS schema and
guestflow's schema (`guestflow db migrate`); and from that, once for each set
of properties a test class uses, one with those properties and a live
connection to each, their access keys encrypted with a key file of its own.
Every test gets its own database cloned from it (CREATE DATABASE ... TEMPLATE),
a copy of that key file in its own config directory, and its own simulator;
when the test ends its database takes no more connections (it is not dropped:
that costs a checkpoint; the cluster goes when the file is done). A test that
stops or restarts PostgreSQL asks for a cluster of its own (`@private_cluster`
on the test, `private_cluster = True` on the class, `make_env(private=True)`,
`Env(private=True)`): initdb, schema, migration and connections as before.

Every server started here is stopped by its PID, also when a test fails (test
cleanups; the file's cluster by a module cleanup; what is still running when
the process ends, after SIGTERM too, at exit); every wait is bounded."""
import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

SRC = os.environ.get('GF_SOURCE_ROOT', os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

# The go-live gate (consent, contacts, a recent connection test) is tested
# in test_golive.py; elsewhere a connection is made live past it, with the
# reason recorded as an operator would.
FORCE = ('--force', '--reason', 'test setup')

GUESTFLOW = os.environ.get('GF_GUESTFLOW', os.path.join(SRC, 'build', 'src', 'guestflow'))
PARTNER_SIM = os.environ.get('GF_PARTNER_SIM', os.path.join(SRC, 'build', 'tests', 'partner-sim', 'partner-sim'))
XSD = os.path.join(SRC, 'schemas', 'xsd', 'review-xml-1.xsd')
PGCTL = os.path.join(SRC, 'tools', 'pgctl.sh')

DEFAULT_JOB = {
    'name': 'review-nightly',
    'partner': 'reviewhub',
    'format': 'review-xml',
    # The simulator listens on plain http:// at 127.0.0.1.
    'allow_insecure_http': True,
    'selection': {'window': '14d', 'default_language': 'en'},
    'batch': {'max_records': 50, 'in_flight': 4, 'compress': 'gzip', 'gzip_level': 1},
    'http': {'connect_timeout': '2s', 'timeout': '5s', 'low_speed_time': '5s'},
    'retry': {'max_attempts': 4, 'backoff_initial': '100ms', 'backoff_max': '400ms',
              'retry_after_max': '2s', 'linger': '10s'},
    'lease': '10m',
    'history': {'message': 'Sent to {partner} by {job} (batch {batch}, booking {booking_no})'},
}


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f'timed out after {timeout}s waiting for {what}')


def yaml_scalar(v):
    if isinstance(v, list):
        return '[' + ', '.join(yaml_scalar(x) for x in v) + ']'
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(d, indent=0):
    lines = []
    for k, v in d.items():
        if isinstance(v, dict):
            lines.append(' ' * indent + f'{k}:')
            lines.append(to_yaml(v, indent + 2))
        else:
            lines.append(' ' * indent + f'{k}: {yaml_scalar(v)}')
    return '\n'.join(lines)


# What is still running, each with the function that stops it by its PID: run
# at exit, so that nothing outlives the test process (also after SIGTERM,
# which meson sends on a timeout).
_running = {}


def _stop_everything():
    for stop in list(_running.values()):
        try:
            stop()
        except Exception:  # noqa: BLE001 - stop the rest anyway
            pass


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt('SIGTERM')  # unittest lets it through; _stop_everything runs at exit


atexit.register(_stop_everything)
signal.signal(signal.SIGTERM, _on_sigterm)


def run_psql(conninfo, sql):
    """Run SQL; returns rows as lists of strings (None for NULL)."""
    args = ['psql', conninfo, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-A', '-t', '-F', '\x1f',
            '-P', 'null=\x1e']
    out = subprocess.run(args, input=sql, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f'psql failed: {out.stderr}\nSQL: {sql[:500]}')
    rows = []
    for line in out.stdout.split('\n'):
        if line == '':
            continue
        rows.append([None if c == '\x1e' else c for c in line.split('\x1f')])
    return rows


class Cluster:
    """One PostgreSQL server in DIR (tools/pgctl.sh: initdb on first start,
    a Unix socket in DIR, fsync off), stopped by its PID."""

    def __init__(self, pgdir):
        self.pgdir = pgdir
        self.started = False
        self.conninfo = None

    def start(self):
        """Start (initdb the first time); the conninfo of its database 'guestflow'."""
        env = dict(os.environ, PGCTL_FAST='1')
        _running[id(self)] = self.stop
        out = subprocess.run(['bash', PGCTL, 'start', self.pgdir], env=env, capture_output=True,
                             text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f'PostgreSQL did not start: {out.stderr}')
        self.started = True
        self.conninfo = out.stdout.strip()
        return self.conninfo

    def stop(self):
        if os.path.exists(os.path.join(self.pgdir, 'data', 'postmaster.pid')):
            # (also after a start that failed half-way)
            subprocess.run(['bash', PGCTL, 'stop', self.pgdir], capture_output=True, timeout=60)
        self.started = False
        _running.pop(id(self), None)

    def db_conninfo(self, dbname):
        assert self.conninfo.endswith(' dbname=guestflow'), self.conninfo
        return self.conninfo[:-len('guestflow')] + dbname


class SharedCluster(Cluster):
    """The cluster of a test file: started on first use, stopped when the
    file's tests are done; a template database prepared once; a database per
    test cloned from it."""

    TEMPLATE = 'gf_template'
    _the = None

    @classmethod
    def get(cls):
        if cls._the is None:
            d = tempfile.mkdtemp(prefix='gf-itc-', dir='/tmp')
            os.chmod(d, 0o755)
            c = cls(d)
            try:
                c.start()
            except BaseException:
                c.remove()
                raise
            cls._the = c
            _running[id(c)] = c.remove  # at exit, if the file's tests did not get to it
            unittest.addModuleCleanup(c.remove)
        return cls._the

    def __init__(self, d):
        super().__init__(os.path.join(d, 'pg'))
        self.dir = d
        self.count = 0
        self.template_ready = False
        self.templates = {}

    def remove(self):
        if SharedCluster._the is self:
            SharedCluster._the = None
        self.stop()
        if os.environ.get('GF_KEEP_TMP') != '1':
            shutil.rmtree(self.dir, ignore_errors=True)

    def guestflow(self, dbname, *args, input=None, key_file=None):
        """guestflow with a configuration of the cluster's own for dbname."""
        config = os.path.join(self.dir, f'{dbname}.yaml')
        os.makedirs(os.path.join(self.dir, 'jobs.d'), exist_ok=True)
        main = {'database': {'conninfo': self.db_conninfo(dbname)}, 'jobs_dir': 'jobs.d'}
        if key_file:
            main['secrets'] = {'key_file': key_file}
        with open(config, 'w') as f:
            f.write(to_yaml(main) + '\n')
        r = subprocess.run([GUESTFLOW, '-c', config, *args], input=input, capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f'guestflow {" ".join(args)} on the template {dbname} failed: {r.stderr}')

    def seal(self, dbname):
        # No one connects to a template again: CREATE DATABASE ... TEMPLATE
        # needs it unused (and waits a few seconds for the last sessions to go).
        run_psql(self.conninfo, f'ALTER DATABASE {dbname} WITH ALLOW_CONNECTIONS false')

    def template(self, properties=None, accounts=None):
        """A template database and the secrets key file that goes with it (None
        if none): the reference PMS schema and guestflow's schema migrated;
        with properties, also those properties and a live connection to each
        (its hotel's access key from accounts), encrypted with that key file.
        Made once per file for each set of properties and accounts."""
        if not self.template_ready:
            run_psql(self.conninfo, f'CREATE DATABASE {self.TEMPLATE}')
            with open(os.path.join(SRC, 'schemas', 'sql', 'reference', 'pms.sql'), encoding='utf-8') as f:
                run_psql(self.db_conninfo(self.TEMPLATE), f.read())
            self.guestflow(self.TEMPLATE, 'db', 'migrate')
            self.seal(self.TEMPLATE)
            self.template_ready = True
        if not properties:
            return self.TEMPLATE, None
        what = tuple((p, h, accounts[h]) for p, h in properties.items())
        if what not in self.templates:
            name = f'{self.TEMPLATE}_{len(self.templates) + 1}'
            key_file = os.path.join(self.dir, f'{name}.key')
            run_psql(self.conninfo, f'CREATE DATABASE {name} TEMPLATE {self.TEMPLATE}')
            # As GFTestCase.make_env did in every test.
            run_psql(self.db_conninfo(name), ''.join(f"INSERT INTO pms.properties VALUES ('{p}', 'Hotel {p}');"
                                                     for p in properties))
            for p, h, key in what:
                self.guestflow(name, 'connection', 'add', p, 'reviewhub', '--hotel-id', h, input=key + '\n',
                               key_file=key_file)
                self.guestflow(name, 'connection', 'activate', p, 'reviewhub', *FORCE, key_file=key_file)
            self.seal(name)
            self.templates[what] = (name, key_file)
        return self.templates[what]

    def new_database(self, template=None):
        """A new database (a copy of template, else an empty one as createdb
        makes); its name."""
        self.count += 1
        name = f't_{self.count}'
        run_psql(self.conninfo, f'CREATE DATABASE {name}' + (f' TEMPLATE {template}' if template else ''))
        return name

    def retire_database(self, name):
        """A test's database once the test is done: nothing connects to it
        again, and a session the test left (a run it killed, a child still
        running) is ended, waiting for it a bounded time. Not dropped: that
        costs a checkpoint; the cluster goes at the end of the file."""
        run_psql(self.conninfo, f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false;"
                                f" SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
                                f" WHERE datname = '{name}'")


def private_cluster(test):
    """Decorates a test that stops or restarts PostgreSQL (or changes the
    server): it gets a cluster of its own, as Env(private=True)."""
    test.private_cluster = True
    return test


class Env:
    """A database (in the file's shared cluster, or in a private cluster of
    its own) + one simulator + a config dir."""

    def __init__(self, private=False):
        self.dir = tempfile.mkdtemp(prefix='gf-it-', dir='/tmp')
        os.chmod(self.dir, 0o755)
        self.private = private
        self.pgdir = os.path.join(self.dir, 'pg') if private else None
        self.cluster = Cluster(self.pgdir) if private else None
        self.dbname = None
        self.conninfo = None
        self.sim = None
        self.sim_port = None
        self.accounts = {}
        self.record = os.path.join(self.dir, 'record.jsonl')
        self.config = os.path.join(self.dir, 'guestflow.yaml')
        self.key_file = os.path.join(self.dir, 'secrets.key')
        self.jobs_dir = os.path.join(self.dir, 'jobs.d')
        os.makedirs(self.jobs_dir)
        self.pg_started = False
        self.sftp = None       # the SFTP partner (sshaux.SftpServer), for visits-csv
        self.base_job = {}     # job keys every write_config starts from (the SFTP partner's)

    # --- PostgreSQL -------------------------------------------------------
    def start_pg(self, template=None):
        """The first call gives this Env its database: 'guestflow' in a
        private cluster (initdb and start), or a new one in the shared cluster
        (a copy of template, else empty). In a private cluster a later call
        starts PostgreSQL again after stop_pg()."""
        if self.private:
            self.conninfo = self.cluster.start()
            self.dbname = 'guestflow'
        elif self.dbname is None:
            self.cluster = SharedCluster.get()
            self.dbname = self.cluster.new_database(template)
            self.conninfo = self.cluster.db_conninfo(self.dbname)
        else:
            raise AssertionError('PostgreSQL of the shared cluster cannot be started again: a test that stops '
                                 'it needs its own (@private_cluster, or Env(private=True))')
        self.pg_started = True
        return self.conninfo

    def stop_pg(self):
        if not self.private:
            raise AssertionError('a test must not stop the shared PostgreSQL cluster: give it its own '
                                 '(@private_cluster, or Env(private=True))')
        if self.pg_started:
            self.cluster.stop()
            self.pg_started = False

    def psql(self, sql):
        """Run SQL; returns rows as lists of strings (None for NULL)."""
        return run_psql(self.conninfo, sql)

    def scalar(self, sql):
        rows = self.psql(sql)
        return rows[0][0] if rows else None

    def load_reference_schema(self):
        with open(os.path.join(SRC, 'schemas', 'sql', 'reference', 'pms.sql'), encoding='utf-8') as f:
            self.psql(f.read())

    # --- partner simulator -----------------------------------------------
    def start_sim(self, accounts, latency_ms=0, xsd=None, max_body=None):
        """xsd: the partner's schema (default the review-xml one); a stricter
        copy makes the simulator refuse a record for its content. max_body:
        the largest body it takes (bytes, after gunzip; 413 above)."""
        self.accounts = dict(accounts)
        acc = os.path.join(self.dir, 'accounts')
        with open(acc, 'w') as f:
            for h, k in accounts.items():
                f.write(f'{h} {k}\n')
        port_file = os.path.join(self.dir, 'sim.port')
        if os.path.exists(port_file):
            os.unlink(port_file)  # a simulator started again writes it anew
        self.sim_log = open(os.path.join(self.dir, 'sim.log'), 'w')
        self.sim = subprocess.Popen([PARTNER_SIM, '--port', '0', '--port-file', port_file, '--xsd', xsd or XSD,
                                     '--record', self.record, '--accounts-file', acc,
                                     '--latency-ms', str(latency_ms)]
                                    + (['--max-body', str(max_body)] if max_body else []),
                                    stdout=self.sim_log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(port_file) or self.sim.poll() is not None, 20, 'simulator port file')
        _running[id(self)] = self.stop_sim
        if self.sim.poll() is not None:
            raise RuntimeError('partner simulator exited at start')
        with open(port_file, encoding='utf-8') as f:
            self.sim_port = int(f.read().strip())
        self.endpoint = f'http://127.0.0.1:{self.sim_port}/v1/guests'

    def stop_sim(self):
        if self.sim and self.sim.poll() is None:
            self.sim.send_signal(signal.SIGTERM)
            try:
                self.sim.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sim.kill()
                self.sim.wait(timeout=10)
        self.sim = None
        _running.pop(id(self), None)
        if getattr(self, 'sim_log', None):
            self.sim_log.close()
            self.sim_log = None

    # --- SFTP partner (visits-csv) ----------------------------------------
    def start_sftp(self):
        """An sshd on loopback (sshaux.py) as the partner; jobs written from
        now on send visits-csv to it."""
        import sshaux
        self.sftp = sshaux.SftpServer(self.dir, running=_running).start()
        self.base_job = self.sftp.job_overrides()
        self.endpoint = self.sftp.endpoint

    def partner_latency(self, ms):
        """The partner answers each request ms late (the SFTP partner: about,
        netaux.py delay-forward)."""
        if self.sftp:
            self.sftp.latency(ms)
        else:
            self.sim_control(f'latency?ms={ms}')

    def partner_stall(self, seconds):
        """The next requests hang for seconds (the SFTP partner: every one,
        until partner_latency(0))."""
        if self.sftp:
            self.sftp.latency(seconds * 1000)
        else:
            self.sim_control(f'script?action=stall&seconds={seconds}&count=2')

    def partner_down(self):
        """The partner gone (the simulator answering 503, the SFTP server
        stopped); returns what a delivery's reason says of it."""
        if self.sftp:
            self.sftp.stop_sshd()
            return 'Failure establishing ssh session'
        self.sim_control('script?status=503&count=1000')
        return 'HTTP 503'

    def partner_up(self):
        if self.sftp:
            self.sftp.start_sshd()
        else:
            self.sim_control('reset')

    def partner_stats(self):
        """requests, replays (a batch sent again whole: for the SFTP partner
        an upload of a file it has, which the resend's look prevents) and
        key_conflicts, whoever the partner is."""
        return self.sftp.stats() if self.sftp else self.sim_stats()

    def sim_control(self, path):
        url = f'http://127.0.0.1:{self.sim_port}/_sim/{path}'
        req = urllib.request.Request(url, data=b'', method='POST')
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read().decode()

    def sim_stats(self):
        with urllib.request.urlopen(f'http://127.0.0.1:{self.sim_port}/_sim/stats', timeout=10) as r:
            return json.loads(r.read().decode())

    def recorded(self):
        if self.sftp:
            return self.sftp.recorded()
        if not os.path.exists(self.record):
            return []
        with open(self.record, encoding='utf-8') as f:
            lines = f.read().split('\n')
        # (the last piece, not ended by a newline, the simulator may be writing still)
        return [json.loads(line) for line in lines[:-1] if line.strip()]

    # --- guestflow ----------------------------------------------------------
    def write_config(self, job_overrides=None, log_level='info', job_name='review-nightly'):
        with open(self.config, 'w') as f:
            # The key for the stored access keys: in the test's own directory
            # (created there, mode 0600, on first use).
            f.write(to_yaml({'database': {'conninfo': self.conninfo}, 'jobs_dir': 'jobs.d',
                             'logging': {'level': log_level},
                             'secrets': {'key_file': self.key_file}}) + '\n')
        job = json.loads(json.dumps(DEFAULT_JOB))
        job['name'] = job_name
        job['endpoint'] = self.endpoint
        for k, v in list(self.base_job.items()) + list((job_overrides or {}).items()):
            if isinstance(v, dict):
                job.setdefault(k, {}).update(v)
            else:
                job[k] = v
        self.format = job['format']
        with open(os.path.join(self.jobs_dir, f'{job_name}.yaml'), 'w') as f:
            f.write(to_yaml(job) + '\n')

    def gf(self, *args, input=None, timeout=120, env=None):
        e = dict(os.environ)
        e.pop('SUDO_USER', None)  # the activity log's actor: the Unix user alone, as tests expect it
        e.update(env or {})
        return subprocess.run([GUESTFLOW, '-c', self.config, *args], input=input, capture_output=True,
                              text=True, timeout=timeout, env=e)

    def add_connection(self, prop, hotel_id, key, live=True, partner='reviewhub'):
        # the id option of the job's format (its partner's connections take that one)
        fmt = getattr(self, 'format', 'review-xml')
        opt = '--property-id' if fmt == 'guest-json' else '--hotel-id'
        r = self.gf('connection', 'add', prop, partner, opt, hotel_id,
                    input=None if fmt == 'visits-csv' else key + '\n')
        assert r.returncode == 0, r.stderr
        if live:
            r = self.gf('connection', 'activate', prop, partner, *FORCE)
            assert r.returncode == 0, r.stderr

    def cleanup(self):
        try:
            self.stop_sim()
            if self.sftp:
                self.sftp.stop()
        finally:
            if self.private:
                self.stop_pg()
            elif self.pg_started:
                self.pg_started = False
                if self.cluster.started:
                    self.cluster.retire_database(self.dbname)
        if os.environ.get('GF_KEEP_TMP') != '1':
            shutil.rmtree(self.dir, ignore_errors=True)


def proc_identity(pid, boot=None, ns=None, ticks=None):
    """A process's identity as guestflow records it in guestflow.runs.process
    (src/base/proc.c: boot id, PID namespace, start in clock ticks after
    boot), each part replaceable."""
    with open('/proc/sys/kernel/random/boot_id', encoding='ascii') as f:
        real_boot = f.read().strip()
    with open(f'/proc/{pid}/stat', encoding='utf-8', errors='replace') as f:
        real_ticks = f.read().rsplit(')', 1)[1].split()[19]
    real_ns = os.readlink(f'/proc/{pid}/ns/pid')
    return f'{boot or real_boot} {ns or real_ns} {ticks or real_ticks}'


def hold_in_session(test, env, sql):
    """sql run in a psql session of its own, which then sleeps in the same
    transaction (its locks held) until the returned function, or the test's
    cleanup, terminates its server process. Returns once it sleeps."""
    holder = subprocess.Popen(['psql', env.conninfo, '-X', '-q', '-v', 'ON_ERROR_STOP=1'], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(600)%'"

    def release():
        if holder.poll() is None:
            env.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                     " AND query LIKE 'SELECT pg_sleep(600)%'")
            try:
                holder.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                holder.kill()
                holder.communicate(timeout=10)
    test.addCleanup(release)
    holder.stdin.write(f"BEGIN; {sql}; SELECT pg_sleep(600);\n")
    holder.stdin.flush()
    wait_for(lambda: env.scalar(sleeping) == '1', 10, 'the session holding its locks')
    release.held = lambda: env.scalar(sleeping) == '1'
    return release


def main_setting(env, section, key, value):
    """key: value in the section of the main file (which write_config
    writes: call it after that)."""
    with open(env.config) as f:
        text = f.read()
    if f'{section}:\n' not in text:
        raise AssertionError(f'no {section}: section in {env.config}')
    with open(env.config, 'w') as f:
        f.write(text.replace(f'{section}:\n', f'{section}:\n  {key}: {value}\n', 1))


def add_booking(env, n, prop='P001', status='checked_out', email=None, last='Muster', first='Max',
                gender='m', lang='de', notify=True, checked_out="now() - interval '1 day'",
                arrival="current_date - 3", departure="current_date - 1"):
    """Insert guest + booking number n (booking_no B-n) with literal SQL expressions."""
    def lit(v):
        if v is None:
            return 'NULL'
        return "'" + str(v).replace("'", "''") + "'"
    email = f'guest{n}@example.org' if email is None else email
    co = 'NULL' if checked_out is None else checked_out
    env.psql(f"""
        INSERT INTO pms.guests (id, first_name, last_name, email, gender, language)
        VALUES ({n}, {lit(first)}, {lit(last)}, {lit(email)}, {lit(gender)}, {lit(lang)});
        INSERT INTO pms.bookings (id, property_id, booking_no, guest_id, status, arrival, departure,
                                  checked_out_at, notify_on_occupancy)
        VALUES ({n}, {lit(prop)}, 'B-{n}', {n}, {lit(status)}, {arrival}, {departure}, {co}, {'true' if notify else 'false'});
    """)


class GFTestCase(unittest.TestCase):
    """A test case with a fresh Env per test: a database with the reference
    schema and guestflow's schema, the properties and a live connection to
    each (cloned from the file's template), a simulator with the given
    accounts. private_cluster = True (or @private_cluster on one test): a
    PostgreSQL cluster of its own, for tests that stop or restart it."""

    accounts = {'H-1001': 'k3y+/=one', 'H-1002': 'k3y+/=two'}
    properties = {'P001': 'H-1001', 'P002': 'H-1002'}
    job_overrides = None
    private_cluster = False
    sftp = False  # True: the partner is an sshd (visits-csv), not the simulator

    def setUp(self):
        self.env = self.make_env()

    def wants_private_cluster(self):
        test = getattr(self, self._testMethodName, None)
        return getattr(test, 'private_cluster', False) or self.private_cluster

    def make_env(self, job_overrides=None, private=None):
        """A new Env, set up as setUp does; cleaned up with the test. private:
        a cluster of its own (default: as the test asks)."""
        if private is None:
            private = self.wants_private_cluster()
        env = Env(private=private)
        self.addCleanup(env.cleanup)
        if not private:
            # The database with properties and connections from the file's
            # template, and a copy of the key file their access keys are
            # encrypted with (as guestflow made it: 0600, 32 bytes).
            template, key_file = SharedCluster.get().template(self.properties, self.accounts)
            env.start_pg(template=template)
            if key_file:
                shutil.copy2(key_file, env.key_file)
        else:
            env.start_pg()
            env.load_reference_schema()
            env.psql(''.join(f"INSERT INTO pms.properties VALUES ('{p}', 'Hotel {p}');"
                             for p in self.properties))
        env.start_sim(self.accounts)
        if self.sftp:
            import sshaux
            why = sshaux.usable()
            if why:
                if os.environ.get('CI') == 'true':
                    self.fail(f'CI cannot run the SFTP tests: {why}')
                self.skipTest(why)
            env.start_sftp()
        env.write_config(job_overrides if job_overrides is not None else self.job_overrides)
        if private:
            r = env.gf('db', 'migrate')
            self.assertEqual(r.returncode, 0, r.stderr)
            for p, h in self.properties.items():
                env.add_connection(p, h, self.accounts[h])
        return env

    def run_job(self, *extra, expect=None, job='review-nightly', timeout=120):
        r = self.env.gf('run', job, *extra, timeout=timeout)
        if expect is not None:
            self.assertEqual(r.returncode, expect, f'exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr[-4000:]}')
        return r

    def start_run(self, env=None, job='review-nightly'):
        """guestflow run in the background; killed at cleanup if still running."""
        env = env or self.env
        p = subprocess.Popen([GUESTFLOW, '-c', env.config, 'run', job],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def reap():
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=10)
        self.addCleanup(reap)
        return p

    def states(self):
        return dict((row[0], int(row[1])) for row in
                    self.env.psql('SELECT state, count(*) FROM guestflow.deliveries GROUP BY 1'))

    def history_count(self, booking_no=None):
        where = f"WHERE b.booking_no = '{booking_no}'" if booking_no else ''
        return int(self.env.scalar(f'SELECT count(*) FROM pms.booking_history h JOIN pms.bookings b ON b.id = h.booking_id {where}'))


def main():
    unittest.main(verbosity=2)


def strict_xsd(env, last_name_max):
    """A copy of the review-xml XSD whose lastName has a maxLength: a partner
    that refuses (400) a batch holding a longer name, for its content."""
    with open(XSD, encoding='utf-8') as f:
        text = f.read()
    old = '<xs:element name="lastName" type="nonEmpty"/>'
    assert old in text
    text = text.replace(old, '<xs:element name="lastName"><xs:simpleType><xs:restriction base="nonEmpty">'
                             f'<xs:maxLength value="{last_name_max}"/></xs:restriction></xs:simpleType>'
                             '</xs:element>')
    path = os.path.join(env.dir, 'strict.xsd')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    return path


def add_many(env, n, props, start=1):
    """n eligible bookings B-start.. spread round-robin over props, in one statement."""
    arr = 'ARRAY[' + ','.join(f"'{p}'" for p in props) + ']'
    env.psql(f"""
        INSERT INTO pms.guests (id, first_name, last_name, email, gender, language)
        SELECT i, 'First' || i, 'Last' || i, 'guest' || i || '@example.org', 'f', 'de'
          FROM generate_series({start}, {start + n - 1}) i;
        INSERT INTO pms.bookings (id, property_id, booking_no, guest_id, status, arrival, departure,
                                  checked_out_at, notify_on_occupancy)
        SELECT i, ({arr})[1 + i % {len(props)}], 'B-' || i, i, 'checked_out', current_date - 3,
               current_date - 1, now() - interval '1 day', true
          FROM generate_series({start}, {start + n - 1}) i;""")
