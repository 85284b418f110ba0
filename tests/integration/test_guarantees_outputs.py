#!/usr/bin/env python3
"""The delivery guarantees of test_guarantees.py (kill -9 at every point, four
workers, retries, dead and rerun, signals, PostgreSQL restarted...) for the
other outputs (PARTNERS.md): every test of GuaranteeTest runs again against
guest-json (the simulator's JSON side) and visits-csv (files over SFTP to an
OpenSSH sshd on loopback, read back with a strict CSV reader). A file of its
own, so that it runs beside test_guarantees.py."""
import os

import sshaux
import test_guarantees as guarantees
from gftest import add_many, main


class GuaranteeGuestJsonTest(guarantees.GuaranteeTest):
    """Every test of GuaranteeTest again, for the guest-json output (PARTNERS.md): the
    same engine, another format, the simulator's guest-json side."""
    job_overrides = dict(guarantees.FAST, format='guest-json')



class GuaranteeVisitsCsvTest(guarantees.GuaranteeTest):
    """Every test of GuaranteeTest again, for the visits-csv output (PARTNERS.md): the
    same engine, files over SFTP to an OpenSSH sshd on loopback (sshaux.py),
    each file read back with a strict CSV reader."""
    sftp = True
    job_overrides = guarantees.FAST

    def test_auth_failure_raises_one_alert_until_fixed(self):
        # The job's own account, not a connection's key: a wrong private key.
        env = self.env
        add_many(env, 4, ['P1', 'P2'])
        good = env.sftp.user_key
        other = os.path.join(env.dir, 'other_key')
        sshaux.keygen(other)
        env.base_job['sftp'] = dict(env.base_job['sftp'], private_key_file=other)
        env.write_config(guarantees.FAST)
        for _ in range(2):
            r = self.run_job(expect=1)
        self.assertEqual(r.stderr.count('event=alert_raised'), 0, 'the second run raises nothing new: '
                         + '\n'.join(x for x in r.stderr.split('\n') if 'alert' in x or 'account' in x))
        self.assertEqual(env.psql("SELECT kind, count(*) FROM guestflow.alert_events GROUP BY 1"), [['auth_failed', '1']])
        self.assertEqual(env.partner_stats()['requests'], 0)
        env.base_job['sftp'] = dict(env.base_job['sftp'], private_key_file=good)
        env.write_config(guarantees.FAST)
        r = self.run_job(expect=0)
        self.assertIn('event=alert_cleared', r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE cleared_at IS NULL"), '0')
        self.assert_exactly_once(env, 4)


if __name__ == '__main__':
    main()
