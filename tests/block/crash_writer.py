"""Writer for the crash-safety test: random writes, zero writes, discards
and compressed writes on a qcow2 image until it is killed."""
import random
import sys

from pyqemu.block import open_image


def main(path: str, seed: int) -> None:
    rng = random.Random(seed)
    blk = open_image(path)
    node = blk.root
    cs = node.cluster_size
    size = blk.length
    print("ready", flush=True)
    while True:
        op = rng.random()
        offset = rng.randrange(0, size - 1)
        length = min(size - offset, rng.choice([1, 511, 4096, cs, 3 * cs + 17, 200000]))
        if op < 0.7:
            blk.pwrite(offset, rng.randbytes(length))
        elif op < 0.8:
            blk.write_zeroes(offset, length)
        elif op < 0.9:
            blk.discard(offset, length)
        else:
            start = offset // cs * cs
            if start + cs <= size:
                node.write_compressed(start, bytes([rng.randrange(256)]) * cs)
        if rng.random() < 0.05:
            blk.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
