import pytest

from .peer import Peer, PeerUnavailable, build_peer


@pytest.fixture(scope="session")
def riscv_peer() -> Peer:
    try:
        return Peer(build_peer())
    except PeerUnavailable as err:
        pytest.fail(f"the RISC-V FPU peer is unavailable: {err}", pytrace=False)
