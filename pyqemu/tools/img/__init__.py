"""pyqemu-img: qemu-img's sub-commands, options, output formats and exit statuses."""
from __future__ import annotations

import sys

from ...block import BlockError
from .common import PROG, die

USAGE = f"""{PROG} version 7.2.0 (pyqemu)
usage: {PROG} [standard options] command [command options]
Command syntax:
  amend [-f fmt] -o options filename
  bench [-c count] [-d depth] [-f fmt] [-n] [-o offset] [-q] [-s buffer_size] [-S step_size] [-t cache] [-w] [-U] filename
  check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-U] filename
  commit [-q] [-f fmt] [-t cache] [-b base] [-d] [-p] filename
  compare [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2
  convert [-c] [-p] [-q] [-n] [-f fmt] [-t cache] [-T src_cache] [-O output_fmt] [-B backing_file [-F backing_fmt]] [-o options] [-S sparse_size] [-U] filename [filename2 [...]] output_filename
  create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]
  dd [-f fmt] [-O output_fmt] [bs=block_size] [count=blocks] [skip=blocks] if=input of=output
  info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename
  map [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] filename
  measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | filename]
  snapshot [-q] [-l | -a snapshot | -c snapshot | -d snapshot] [-U] filename
  rebase [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] [-U] -b backing_file [-F backing_fmt] filename
  resize [-f fmt] [--preallocation=prealloc] [-q] [--shrink] filename [+ | -]size
"""


# Sub-command -> (module, function); imported on demand to keep start-up short.
COMMANDS = {
    "create": ("create", "cmd_create"), "info": ("info", "cmd_info"), "check": ("check", "cmd_check"),
    "convert": ("convert", "cmd_convert"), "compare": ("convert", "cmd_compare"), "map": ("info", "cmd_map"),
    "resize": ("commands", "cmd_resize"), "snapshot": ("commands", "cmd_snapshot"),
    "commit": ("commands", "cmd_commit"), "rebase": ("commands", "cmd_rebase"), "amend": ("commands", "cmd_amend"),
    "measure": ("info", "cmd_measure"), "dd": ("convert", "cmd_dd"), "bench": ("commands", "cmd_bench"),
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        die("Not enough arguments\nTry 'pyqemu-img --help' for more information")
    if argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"{PROG} version 7.2.0 (pyqemu)")
        return 0
    if argv[0] not in COMMANDS:
        die(f"Command not found: {argv[0]}")
    import importlib
    module_name, function = COMMANDS[argv[0]]
    command = getattr(importlib.import_module(f"{__name__}.{module_name}"), function)
    try:
        status = command(argv[1:])
    except BlockError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:
        status = 1
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
