"""Snapshots and live migration (see docs/migration.md).

    vmstate.py   declarative, versioned field lists (devices and CPUs use them)
    stream.py    the stream format: header, RAM and device records, end marker
    ram.py       RAM pre-copy passes and their dirty detection
    state.py     which sections a machine has; whole-machine save and load
    channels.py  tcp:, unix:, exec:, fd:, file: URIs
    migration.py the source's pre-copy and block hand-over, the destination
    savevm.py    savevm/loadvm/delvm in qcow2 internal snapshots
"""
