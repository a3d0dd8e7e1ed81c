"""Acceptance with Debian trixie riscv64 programs from the sysroot built by
scripts/sysroot/build.sh: busybox, lua5.4 and python3.13."""

from __future__ import annotations

import hashlib
import os

import pytest

from userhelpers import run_pyqemu, run_qemu

ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}


def guest(sysroot, *args, **kw):
    kw.setdefault("env", ENV)
    return run_pyqemu(["-L", sysroot, *args], **kw)


def test_busybox_shell_loop_and_pipe(sysroot):
    r = guest(sysroot, sysroot / "usr/bin/busybox", "sh", "-c",
              "echo hi; for i in 1 2 3; do echo $i; done | busybox wc -l")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"hi", b"3"]


def test_busybox_sha256sum_matches_host(sysroot, tmp_path):
    data = os.urandom(200_000)
    f = tmp_path / "data.bin"
    f.write_bytes(data)
    r = guest(sysroot, sysroot / "usr/bin/busybox", "sha256sum", f)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split()[0] == hashlib.sha256(data).hexdigest()


def test_busybox_ls_and_find_walk_the_sysroot(sysroot):
    r = guest(sysroot, sysroot / "usr/bin/busybox", "ls", "-l", "/")
    assert r.returncode == 0, r.stderr
    names = {line.split()[-1] if "->" not in line else line.split()[-3]
             for line in r.stdout.decode().splitlines()[1:]}
    assert {"usr", "lib", "bin", "etc"} <= names
    r = guest(sysroot, sysroot / "usr/bin/busybox", "find", "/usr/lib", "-name", "liblua5.4.so.0*")
    assert r.returncode == 0, r.stderr
    assert any(line.startswith("/usr/lib/") for line in r.stdout.decode().splitlines())


def test_lua(sysroot, tmp_path):
    r = guest(sysroot, sysroot / "usr/bin/lua5.4", "-e", "print(1+1)")
    assert (r.returncode, r.stdout) == (0, b"2\n"), r.stderr
    script = tmp_path / "fib.lua"
    script.write_text("local function fib(n) if n < 2 then return n end "
                      "return fib(n-1) + fib(n-2) end\nprint(fib(20))\n")
    r = guest(sysroot, "-tcg-backend", "pycodegen", sysroot / "usr/bin/lua5.4", script)
    assert (r.returncode, r.stdout) == (0, b"6765\n"), r.stderr


def test_pipeline_forks_and_execs_riscv64_programs(sysroot):
    r = guest(sysroot, sysroot / "usr/bin/busybox", "sh", "-c",
              'lua5.4 -e "print(6*7)" | busybox tr 4 x | busybox cat; '
              'busybox echo status $?; exit 3')
    assert r.returncode == 3, r.stderr
    assert r.stdout.decode().split() == ["x2", "status", "0"]


@pytest.mark.slow
def test_python_hashlib(sysroot):
    # ~45 s here with the precompiled standard library (build.sh).
    r = guest(sysroot, sysroot / "usr/bin/python3.13", "-c",
              'import json,hashlib; print(json.dumps([1]), hashlib.sha256(b"x").hexdigest())',
              timeout=900)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["[1]", hashlib.sha256(b"x").hexdigest()]


def test_guest_environment_is_exactly_the_callers(sysroot):
    args = ["-U", "DROPPED", "-E", "ADDED=1", "-L", sysroot, sysroot / "usr/bin/busybox", "env"]
    env = {"PATH": "/usr/bin", "DROPPED": "x"}
    ours, real = run_pyqemu(args, env=env), run_qemu(args, env=env)
    assert ours.returncode == real.returncode == 0
    assert sorted(ours.stdout.splitlines()) == sorted(real.stdout.splitlines())
    assert sorted(ours.stdout.splitlines()) == [b"ADDED=1", b"PATH=/usr/bin"]


def test_execve_of_a_script_follows_its_interpreter(sysroot, tmp_path):
    script = tmp_path / "greet.sh"
    script.write_text('#!/bin/sh\necho "script: $0 $*"; busybox uname -m\n')
    script.chmod(0o755)
    # /bin/sh resolves in the sysroot (busybox), so the interpreter runs emulated too.
    r = guest(sysroot, sysroot / "usr/bin/busybox", "sh", "-c", f"{script} a b; echo rc=$?")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == [f"script: {script} a b", "riscv64", "rc=0"]
