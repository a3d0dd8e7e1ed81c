import pytest

from .peer import HOST_PEER, RISCV_PEER, Peer, PeerUnavailable


def _peer(program) -> Peer:
    try:
        return Peer(program)
    except PeerUnavailable as err:
        pytest.fail(f"FPU test peer {program.source.name} is unavailable: {err}", pytrace=False)


@pytest.fixture(scope="session")
def riscv_peer() -> Peer:
    """Real RISC-V instructions under qemu-riscv64."""
    return _peer(RISCV_PEER)


@pytest.fixture(scope="session")
def host_peer() -> Peer:
    """The host's x86-64 FPU (no RMM; NaN payloads differ from RISC-V)."""
    return _peer(HOST_PEER)
