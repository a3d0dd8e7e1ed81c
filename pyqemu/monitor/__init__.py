"""The monitor: QMP (machine protocol, `qmp.py`, schema in `qapi.py`,
commands in `commands.py`) and HMP (`hmp.py`), served on chardevs by
`server.py` from the main thread's asyncio loop."""
