"""pyqemu-img check: exit 0 clean, 1 check not completed, 2 corruptions, 3 leaks only."""
from __future__ import annotations

import sys

from ...block import BlockError
from ...block.qcow2 import Qcow2Node
from ...block.qcow2.check import check_image
from .common import die, open_for, parse_args, print_json


def cmd_check(argv) -> int:
    opts, args = parse_args(argv, "hf:r:T:qU", ["output=", "repair=", "force-share", "image-opts", "object="])
    fmt, output, repair, quiet, force = None, "human", None, False, False
    for opt, val in opts:
        if opt == "-f":
            fmt = val
        elif opt == "--output":
            output = val
        elif opt in ("-r", "--repair"):
            if val not in ("leaks", "all"):
                die(f"Unknown option value for -r (expecting 'leaks' or 'all'): {val}")
            repair = val
        elif opt == "-q":
            quiet = True
        elif opt in ("-U", "--force-share"):
            force = True
    if output not in ("human", "json"):
        die("--output must be used with human or json as argument.")
    if len(args) != 1:
        die("Expecting one image file name")
    if repair and force:
        die("--force-share/-U is not allowed when repairing")
    filename = args[0]
    blk = open_for(filename, fmt, read_only=not repair, force_share=force, backing=False)
    try:
        node = blk.root
        if not isinstance(node, Qcow2Node):
            print("pyqemu-img: This image format does not support checks", file=sys.stderr)
            return 63
        try:
            result = check_image(node, repair=repair, quiet=False)
            fixed = None
            if repair and (result.leaks_fixed or result.corruptions_fixed):
                fixed = result
                result = check_image(node, repair=None, quiet=True)
        except BlockError as exc:
            print(f"pyqemu-img: Check failed: {exc}", file=sys.stderr)
            return 1
    finally:
        blk.close()
    if output == "json":
        out = {"image-end-offset": result.image_end_offset}
        if result.compressed_clusters:
            out["compressed-clusters"] = result.compressed_clusters
        out["total-clusters"] = result.total_clusters
        if result.corruptions:
            out["corruptions"] = result.corruptions
        out["check-errors"] = result.check_errors
        if result.leaks:
            out["leaks"] = result.leaks
        if fixed and fixed.leaks_fixed:
            out["leaks-fixed"] = fixed.leaks_fixed
        if fixed and fixed.corruptions_fixed:
            out["corruptions-fixed"] = fixed.corruptions_fixed
        if result.allocated_clusters:
            out["allocated-clusters"] = result.allocated_clusters
        out["filename"] = filename
        out["format"] = "qcow2"
        if result.fragmented_clusters:
            out["fragmented-clusters"] = result.fragmented_clusters
        print_json(out)
    elif not quiet:
        if fixed:
            print("The following inconsistencies were found and repaired:\n")
            print(f"    {fixed.leaks_fixed} leaked clusters")
            print(f"    {fixed.corruptions_fixed} corruptions\n")
            print("Double checking the fixed image now...")
        if not result.corruptions and not result.leaks and not result.check_errors:
            print("No errors were found on the image.")
        else:
            if result.corruptions:
                print(f"\n{result.corruptions} errors were found on the image.\n"
                      "Data may be corrupted, or further writes to the image may corrupt it.")
            if result.leaks:
                print(f"\n{result.leaks} leaked clusters were found on the image.\n"
                      "This means waste of disk space, but no harm to data.")
            if result.check_errors:
                print(f"\n{result.check_errors} internal errors have occurred during the check.")
        if result.total_clusters and result.allocated_clusters:
            total = result.total_clusters
            print(f"{result.allocated_clusters}/{total} = {100.0 * result.allocated_clusters / total:.2f}% allocated, "
                  f"{100.0 * result.fragmented_clusters / max(result.allocated_clusters, 1):.2f}% fragmented, "
                  f"{100.0 * result.compressed_clusters / max(result.allocated_clusters, 1):.2f}% compressed clusters")
        print(f"Image end offset: {result.image_end_offset}")
    if result.check_errors:
        return 1
    if result.corruptions:
        return 2
    if result.leaks:
        return 3
    return 0
