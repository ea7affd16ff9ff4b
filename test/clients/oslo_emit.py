#!/usr/bin/python3
"""Emit a fixed script of log records through real oslo.log, set up the way Tacker does it.

Run with the system interpreter (Debian's python3-oslo.log lives there, not in pyenv):

    /usr/bin/python3 test/clients/oslo_emit.py --config-file tacker.conf --sidecar out.json [--big N]

Logging is configured exactly like tacker/common/config.py:

    logging.register_options(CONF)
    CONF(args=['--config-file', tacker.conf], project='tacker')
    logging.setup(CONF, 'tacker')

so whatever tacker.conf says (typically `log_config_append = logging.conf` with a
`handlers.SysLogHandler`) decides where the records go. This script never formats or sends
anything itself.

The sidecar (JSON) lets the test compute the exact bytes oslo.log should have put on the wire
without re-running oslo's formatter: for each record it holds the facts a LogRecord carries
(level, logger, rendered message, created/msecs, pid, funcName/pathname/lineno) and, for the
exception record, the standard library's own `traceback.format_exception()` lines. They are
taken by a plain recording handler added to the root logger after setup.

The script (ids are used by the tests):

  R01 INFO     tacker.common.config              no context: "Logging enabled!"
  R02 DEBUG    tacker.common.config              no context; DEBUG gets the debug suffix
  R03 WARNING  tacker.nfvo.nfvo_plugin           no context; dict-style args
  R04 ERROR    tacker.vnfm.plugin                LOG.exception() with a chained traceback
  R05 INFO     tacker.api.vnfpkgm.v1.controller  UTF-8: CJK, Latin-1, U+2713, U+1F680 (4 bytes)
  R06 INFO     tacker.nfvo.nfvo_plugin           embedded LF and TAB
  R07 INFO     tacker.wsgi                       request context in the thread-local store
  R08 INFO     tacker.vnfm.plugin                (only with --big N) N-char single line, context
"""
import argparse
import json
import logging as pylogging
import os
import sys
import traceback

from oslo_config import cfg
from oslo_context import context as oslo_context
from oslo_log import log as logging

CONF = cfg.CONF

REQ_ID = 'req-3f5c6b1e-8a8e-4c0e-9d7a-2b1f0c9e7a11'
GLOBAL_REQ_ID = 'req-0d1c2b3a-4f5e-6a7b-8c9d-0e1f2a3b4c5d'
USER_ID = '9a0b4d6e1f2c4e5a8b7c6d5e4f3a2b1c'
PROJECT_ID = '2c7e9f1a3b5d4c6e8f0a1b2c3d4e5f60'
VNF_ID = '6b0c5a2e-1d3f-4a9b-8c7d-5e4f3a2b1c0d'
VIM_ID = 'a1b2c3d4-e5f6-4711-8899-aabbccddeeff'


class VnfInstantiationFailed(Exception):
    """Stand-in for tacker.common.exceptions.VnfInstantiationFailed."""


def _driver_call(vnf_id):
    raise VnfInstantiationFailed('Heat stack %s failed: CREATE_FAILED' % vnf_id)


def _instantiate(vnf_id):
    try:
        _driver_call(vnf_id)
    except VnfInstantiationFailed as e:
        raise RuntimeError('VNF %s instantiation aborted' % vnf_id) from e


class Recorder(pylogging.Handler):
    """Keeps the LogRecord facts of every record that reaches the root logger."""

    def __init__(self):
        super().__init__(level=pylogging.DEBUG)
        self.records = []
        self.next_id = None

    def emit(self, record):
        exc_lines = None
        exc_summary = None
        if record.exc_info:
            exc_lines = traceback.format_exception(*record.exc_info)
            exc_summary = traceback.format_exception_only(
                record.exc_info[0], record.exc_info[1])[0].rstrip()
        ctx = oslo_context.get_current()
        self.records.append({
            'id': self.next_id,
            'levelname': record.levelname,
            'levelno': record.levelno,
            'name': record.name,
            'message': record.getMessage(),
            'funcName': record.funcName,
            'pathname': record.pathname,
            'lineno': record.lineno,
            'created': record.created,
            'msecs': int(record.msecs),
            'process': record.process,
            'exc_lines': exc_lines,
            'exc_summary': exc_summary,
            'context': None if ctx is None else {
                'request_id': ctx.request_id,
                'global_request_id': ctx.global_request_id,
                'user_id': ctx.user_id,
                'project_id': ctx.project_id,
            },
        })


def emit_all(rec, big):
    log_cfg = logging.getLogger('tacker.common.config')
    log_wsgi = logging.getLogger('tacker.wsgi')
    log_vnfm = logging.getLogger('tacker.vnfm.plugin')
    log_nfvo = logging.getLogger('tacker.nfvo.nfvo_plugin')
    log_pkg = logging.getLogger('tacker.api.vnfpkgm.v1.controller')

    assert oslo_context.get_current() is None
    rec.next_id = 'R01'
    log_cfg.info('Logging enabled!')
    rec.next_id = 'R02'
    log_cfg.debug('Loaded %d service plugins: %s', 2, 'nfvo, vnfm')
    rec.next_id = 'R03'
    log_nfvo.warning('VIM %(vim)s is unreachable, marking it %(st)s',
                     {'vim': VIM_ID, 'st': 'UNREACHABLE'})
    rec.next_id = 'R04'
    try:
        _instantiate(VNF_ID)
    except RuntimeError:
        log_vnfm.exception('Failed to instantiate VNF %s', VNF_ID)
    rec.next_id = 'R05'
    log_pkg.info("Onboarded VNF package '%s' (vendor=%s) \u2713 \U0001F680",
                 '\u30d1\u30c3\u30b1\u30fc\u30b8-\u65e5\u672c\u8a9e',
                 'B\u00fcro M\u00fcnch\u00e9n')
    rec.next_id = 'R06'
    log_nfvo.info('VIM registration result:\n  vim_id: %s\n\tstatus: REACHABLE\nend of report',
                  VIM_ID)

    # What Tacker's auth middleware does: a RequestContext built with overwrite=True puts
    # itself in oslo.context's thread-local store, where the ContextFormatter finds it.
    ctx = oslo_context.RequestContext(
        user_id=USER_ID, project_id=PROJECT_ID, request_id=REQ_ID,
        global_request_id=GLOBAL_REQ_ID, overwrite=True)
    assert oslo_context.get_current() is ctx
    rec.next_id = 'R07'
    log_wsgi.info('127.0.0.1 - - [26/Nov/2026 12:00:00] '
                  '"GET /vnflcm/v1/vnf_instances HTTP/1.1" 200 1234 0.052100')
    if big:
        chunk = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
        payload = (chunk * (big // len(chunk) + 1))[:big]
        rec.next_id = 'R08'
        log_vnfm.info('vnfd template (%d chars) BEGIN %s END', big, payload)
    oslo_context._request_store.context = None
    rec.next_id = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--config-file', required=True)
    ap.add_argument('--sidecar', required=True)
    ap.add_argument('--big', type=int, default=0)
    ns = ap.parse_args()

    logging.register_options(CONF)
    CONF(args=['--config-file', ns.config_file], project='tacker')
    logging.setup(CONF, 'tacker')

    rec = Recorder()
    pylogging.getLogger().addHandler(rec)
    emit_all(rec, ns.big)
    pylogging.shutdown()  # closes the SysLogHandler (and with it the TCP connection)

    import oslo_log.version
    with open(ns.sidecar, 'w', encoding='utf-8') as f:
        json.dump({
            'pid': os.getpid(),
            'python': sys.version.split()[0],
            'oslo_log': oslo_log.version.version_info.version_string(),
            'records': rec.records,
        }, f, ensure_ascii=False)
    return 0


if __name__ == '__main__':
    sys.exit(main())
