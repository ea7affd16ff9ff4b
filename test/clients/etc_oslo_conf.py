#!/usr/bin/python3
"""Parse tacker.conf files with oslo.config the way Tacker (and oslo_emit.py) does, and print
what oslo.config made of them, as JSON on stdout:

    /usr/bin/python3 test/clients/etc_oslo_conf.py --config-file FILE [--config-file FILE ...]

Only the options oslo.log registers are known (logging.register_options(CONF)), exactly as in
oslo_emit.py; oslo.config ignores options nobody registered, so "unknown" lists every
[section] option in the files that no registered option matched (a typo would show up there).

Output: {"config_file": [...], "values": {opt: value}, "non_default": {opt: value},
         "unknown": ["[DEFAULT] name", ...]}
A file oslo.config cannot parse makes it raise (exit status 1, the error on stderr).
"""
import argparse
import json
import sys

from oslo_config import cfg
from oslo_log import log as logging

CONF = cfg.CONF


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--config-file', action='append', required=True)
    ns = ap.parse_args()

    logging.register_options(CONF)
    args = []
    for f in ns.config_file:
        args += ['--config-file', f]
    CONF(args=args, project='tacker', default_config_files=[], default_config_dirs=[])

    values = {}
    non_default = {}
    for name, info in sorted(CONF._opts.items()):
        opt = info['opt']
        v = CONF[name]
        values[name] = v
        if v != opt.default:
            non_default[name] = v

    # Every option the files set, read by oslo.config's own parser (the one CONF uses).
    unknown = []
    for f in ns.config_file:
        sections = {}
        cfg.ConfigParser(f, sections).parse()
        for section, opts in sections.items():
            for key in opts:
                if section != 'DEFAULT' or key not in CONF._opts:
                    unknown.append('[%s] %s' % (section, key))

    json.dump({
        'config_file': list(CONF.config_file),
        'values': values,
        'non_default': non_default,
        'unknown': sorted(set(unknown)),
    }, sys.stdout, default=str, sort_keys=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
